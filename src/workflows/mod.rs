//! The domain state machines. Each kind is one file implementing `engine::Workflow`.
pub mod probe;

use crate::engine::Registry;

/// Every production kind this build runs.
pub fn registry() -> Registry {
    Registry::new()
}
