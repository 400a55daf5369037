//! Use cases shared by the HTTP API, the CLI and the dashboard: they take domain inputs, return
//! domain results and errors, and know nothing of HTTP.
pub mod address;
pub mod context;
pub mod deployments;
pub mod keys;
pub mod mints;
pub mod payments;
pub mod tokens;
pub mod x402;

pub use context::Context;
