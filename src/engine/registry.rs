//! The kinds of workflow a process runs.
use std::collections::BTreeMap;
use std::sync::Arc;

use super::workflow::{DynWorkflow, Workflow};

#[derive(Clone, Default)]
pub struct Registry {
    kinds: BTreeMap<&'static str, Arc<dyn DynWorkflow>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a kind; a worker only claims workflows of registered kinds.
    pub fn register<W: Workflow>(mut self, workflow: W) -> Self {
        self.kinds.insert(W::KIND, Arc::new(workflow));
        self
    }

    pub fn kinds(&self) -> Vec<&'static str> {
        self.kinds.keys().copied().collect()
    }

    pub(crate) fn get(&self, kind: &str) -> Option<Arc<dyn DynWorkflow>> {
        self.kinds.get(kind).cloned()
    }
}
