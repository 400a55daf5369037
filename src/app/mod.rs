//! Use cases shared by the HTTP API, the CLI and the dashboard: they take domain inputs, return
//! domain results and errors, and know nothing of HTTP.
pub mod audit;
pub mod credentials;
pub mod events;
pub mod keys;
pub mod mint_queue;
pub mod paging;
pub mod settings;
pub mod tokens;
pub mod webhooks;
pub mod workflows;
