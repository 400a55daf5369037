//! Workflow rows: creation with idempotency, the claim/lease/checkpoint hot path, operator
//! actions and the read queries behind the API.
//!
//! Fencing: every claim bumps `version`; every checkpoint is `... WHERE id = $id AND
//! version = $claimed AND lease_owner = $me`. A worker that lost its lease can therefore never
//! overwrite what a newer owner wrote.
mod actions;
mod checkpoints;
mod claims;
mod insert;
mod queries;
mod retention;
pub(crate) mod transition;

use serde::{Deserialize, Serialize};

pub use actions::*;
pub use checkpoints::*;
pub use claims::*;
pub use insert::*;
pub use queries::*;
pub use retention::*;

/// Where a workflow is in the engine's life cycle. The kind's own `state` says where it is in
/// its domain (`pending`, `sent`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Due now or at `run_at_ms`, or being stepped by the lease holder.
    Running,
    /// Parked until something wakes it (a child, a transaction, an operator).
    Waiting,
    Completed,
    Failed,
    Cancelled,
    /// Its checkpoint has a schema version no running code understands.
    NeedsMigration,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Running,
        Status::Waiting,
        Status::Completed,
        Status::Failed,
        Status::Cancelled,
        Status::NeedsMigration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Waiting => "waiting",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
            Status::NeedsMigration => "needs_migration",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Finished rows carry the time they ended (`finished_at_ms`), which retention reads.
    pub fn is_finished(self) -> bool {
        matches!(self, Status::Completed | Status::Failed | Status::Cancelled)
    }

    /// Terminal rows are never claimed again unless an operator retries them.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Completed | Status::Failed | Status::Cancelled | Status::NeedsMigration
        )
    }
}
