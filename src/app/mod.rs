//! Use cases shared by the HTTP API, the CLI and the dashboard: they take domain inputs, return
//! domain results and errors, and know nothing of HTTP.
pub mod keys;
pub mod tokens;
