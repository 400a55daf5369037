//! Checkpoints: a step's outcome written in one transaction, fenced by version and lease.
use std::collections::HashSet;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use serde::Serialize;
use serde_json::Value as Json;
use uuid::Uuid;

use crate::store::events::{self, NewEvent};

use super::Status;

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
/// On PostgreSQL the whole group is one statement, so one round trip carries every transition.
pub async fn apply_checkpoints<C: ConnectionTrait>(
    conn: &C,
    owner: &str,
    now: i64,
    checkpoints: &[Checkpoint],
) -> Result<HashSet<Uuid>, DbErr> {
    if checkpoints.is_empty() {
        return Ok(HashSet::new());
    }
    match conn.get_database_backend() {
        DbBackend::Postgres => {
            let rows: Vec<_> = checkpoints
                .iter()
                .map(|cp| {
                    let mut row = serde_json::to_value(cp).expect("checkpoints serialize");
                    row["owner"] = owner.into();
                    row
                })
                .collect();
            let batch = serde_json::to_string(&rows).expect("checkpoints serialize");
            let stmt = Statement::from_sql_and_values(
                DbBackend::Postgres,
                r#"WITH c AS (
                    SELECT * FROM jsonb_to_recordset($1::jsonb) AS c(
                        id uuid, version bigint, status text, state text, data jsonb,
                        schema_version int, run_at_ms bigint, attempt int, keep_lease bool,
                        last_error text, event text, from_state text, detail jsonb, owner text)
                ), won AS (
                    UPDATE workflows w SET
                        -- A wake-up during the step turns a wait into a run now.
                        status = CASE WHEN w.wake_pending AND c.status = 'waiting' THEN 'running'
                                      ELSE c.status END,
                        state = c.state, data = c.data,
                        schema_version = c.schema_version,
                        run_at_ms = CASE WHEN c.keep_lease THEN w.run_at_ms
                                         WHEN w.wake_pending AND c.status IN ('waiting', 'running')
                                         THEN $3 ELSE c.run_at_ms END,
                        wake_pending = FALSE,
                        attempt = c.attempt, last_error = c.last_error, updated_at_ms = $3,
                        lease_owner = CASE WHEN c.keep_lease THEN w.lease_owner END,
                        lease_until_ms = CASE WHEN c.keep_lease THEN w.lease_until_ms END,
                        finished_at_ms = CASE WHEN c.status IN ('completed', 'failed', 'cancelled')
                                              THEN $3 END
                    FROM c
                    -- The owner comes from each row (not the $2 constant) so the planner looks
                    -- rows up by primary key instead of scanning every row this owner leases.
                    WHERE w.id = c.id AND w.version = c.version AND w.lease_owner = c.owner
                    RETURNING w.id
                )
                INSERT INTO workflow_events
                    (workflow_id, event, from_state, to_state, status, attempt, worker, detail, at_ms)
                SELECT c.id, c.event, c.from_state, c.state, c.status, c.attempt, $2, c.detail, $3
                FROM c JOIN won ON won.id = c.id
                RETURNING workflow_id"#,
                [batch.into(), owner.into(), now.into()],
            );
            conn.query_all_raw(stmt)
                .await?
                .iter()
                .map(|row| row.try_get::<Uuid>("", "workflow_id"))
                .collect()
        }
        _ => {
            // SQLite: the statements run in-process, so one per row costs little; the caller's
            // transaction makes the group atomic.
            let mut won = HashSet::new();
            for cp in checkpoints {
                let finished = matches!(
                    cp.status,
                    Status::Completed | Status::Failed | Status::Cancelled
                )
                .then_some(now);
                let res = conn
                    .execute_raw(Statement::from_sql_and_values(
                        DbBackend::Sqlite,
                        r#"UPDATE workflows SET
                              status = CASE WHEN wake_pending AND ?1 = 'waiting' THEN 'running' ELSE ?1 END,
                              state = ?2, data = ?3,
                              schema_version = ?4,
                              run_at_ms = CASE WHEN ?10 THEN run_at_ms
                                               WHEN wake_pending AND ?1 IN ('waiting', 'running') THEN ?8
                                               ELSE ?5 END,
                              wake_pending = FALSE,
                              attempt = ?6, last_error = ?7,
                              updated_at_ms = ?8, finished_at_ms = ?9,
                              lease_owner = CASE WHEN ?10 THEN lease_owner END,
                              lease_until_ms = CASE WHEN ?10 THEN lease_until_ms END
                           WHERE id = ?11 AND version = ?12 AND lease_owner = ?13"#,
                        [
                            cp.status.as_str().into(),
                            cp.state.clone().into(),
                            cp.data.clone().into(),
                            cp.schema_version.into(),
                            cp.run_at_ms.into(),
                            cp.attempt.into(),
                            cp.last_error.clone().into(),
                            now.into(),
                            finished.into(),
                            cp.keep_lease.into(),
                            cp.id.into(),
                            cp.version.into(),
                            owner.into(),
                        ],
                    ))
                    .await?;
                if res.rows_affected() == 1 {
                    events::insert(
                        conn,
                        &[NewEvent {
                            workflow_id: cp.id,
                            event: cp.event.clone(),
                            from_state: Some(cp.from_state.clone()),
                            to_state: cp.state.clone(),
                            status: cp.status.as_str().into(),
                            attempt: cp.attempt,
                            worker: Some(owner.into()),
                            detail: cp.detail.clone(),
                            at_ms: now,
                        }],
                    )
                    .await?;
                    won.insert(cp.id);
                }
            }
            Ok(won)
        }
    }
}
