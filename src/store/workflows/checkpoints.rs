//! Checkpoints: a step's outcome written in one transaction, fenced by version and lease.
use std::borrow::Cow;
use std::collections::HashSet;

use sea_orm::{ConnectionTrait, DbErr};
use serde::Serialize;
use serde_json::Value as Json;
use uuid::Uuid;

use super::Status;
use super::transition::{self, RowTransition};

/// The result of one step, to be written if the step's worker still holds the lease.
#[derive(Clone, Debug, Serialize)]
pub struct Checkpoint {
    pub id: Uuid,
    /// The version the claim returned (fencing token).
    pub version: i64,
    pub status: Status,
    pub state: String,
    pub data: Json,
    pub schema_version: i32,
    pub run_at_ms: Option<i64>,
    pub attempt: i32,
    /// Keep the lease: the same worker runs the next step at once, without a new claim.
    /// `run_at_ms` is then left as it is (the row stays due, should this worker die), so the
    /// update touches no indexed column and PostgreSQL can make it a HOT update.
    pub keep_lease: bool,
    pub last_error: Option<String>,
    /// The history event this transition appends.
    pub event: String,
    pub from_state: String,
    pub detail: Option<Json>,
}

/// Applies checkpoints of workflows leased by `owner`, each with its history event. Returns the
/// ids whose fence held; the others (lease lost, version moved on) changed nothing.
///
/// Run inside a transaction when other writes must commit with these (the steps' effects).
pub async fn apply_checkpoints<C: ConnectionTrait>(
    conn: &C,
    owner: &str,
    now: i64,
    checkpoints: &[Checkpoint],
) -> Result<HashSet<Uuid>, DbErr> {
    let rows: Vec<RowTransition<'_>> = checkpoints
        .iter()
        .map(|cp| RowTransition {
            id: cp.id,
            version: cp.version,
            owner: Some(owner),
            // The claim bumped it already: a step keeps the version it was claimed with.
            new_version: cp.version,
            status: cp.status,
            state: &cp.state,
            data: Cow::Borrowed(&cp.data),
            schema_version: cp.schema_version,
            run_at_ms: cp.run_at_ms,
            attempt: cp.attempt,
            keep_lease: cp.keep_lease,
            last_error: cp.last_error.as_deref(),
            tx_hash: None,
            event: &cp.event,
            from_state: &cp.from_state,
            detail: cp.detail.as_ref(),
            worker: Some(owner),
        })
        .collect();
    Ok(transition::apply(conn, now, &rows)
        .await?
        .into_iter()
        .collect())
}
