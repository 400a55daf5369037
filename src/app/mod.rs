//! Use cases shared by the HTTP API, the CLI and the dashboard: they take domain inputs, return
//! domain results and errors, and know nothing of HTTP.
pub mod address;
pub mod audit;
pub mod context;
pub mod credentials;
pub mod deployments;
pub mod events;
pub mod facilitator;
pub mod keys;
pub mod mint_queue;
pub mod mints;
pub mod paging;
pub mod payments;
pub mod settings;
pub mod tokens;
pub mod units;
pub mod webhooks;
pub mod workflows;
pub mod x402;

pub use context::Context;
