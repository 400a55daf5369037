//! What the API document declares of values, below every layer that sends or takes them: the
//! engine's events, the webhooks and the HTTP API. It imports nothing of the crate.
pub mod declared;
pub mod names;
pub mod nullable;
