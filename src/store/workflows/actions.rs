//! Operator actions (retry, cancel) and wake-ups.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, Statement};
use serde::Serialize;
use uuid::Uuid;

use crate::store::entity::workflow;
use crate::store::events::{self, NewEvent};
use crate::store::sql;
use crate::store::{self, held};

use super::Status;

/// What an operator action found.
#[derive(Clone, Debug, PartialEq)]
pub enum ActionOutcome {
    Done(Box<workflow::Model>),
    NotFound,
    /// The workflow is not in a status the action applies to.
    WrongStatus(Status),
}

/// An operator action: who asked, through what, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Actor {
    pub actor: String,
    pub via: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Actor {
    /// "alice via api: duplicate order", for the history of what the action moved.
    pub fn describe(&self) -> String {
        match &self.reason {
            Some(reason) => format!("{} via {}: {reason}", self.actor, self.via),
            None => format!("{} via {}", self.actor, self.via),
        }
    }
}

/// Puts a failed, cancelled (or parked) workflow back to running at the state it stopped in,
/// with a fresh attempt budget, and the children its end cancelled back where they waited.
/// Bumping `version` fences any straggler from before.
pub async fn retry(db: &DatabaseConnection, id: Uuid, who: &Actor) -> Result<ActionOutcome, DbErr> {
    operator_action(
        db,
        id,
        who,
        ("retried", "workflow.retry"),
        &[Status::Failed, Status::Cancelled, Status::NeedsMigration],
        r#"UPDATE workflows SET status = 'running', run_at_ms = $1, attempt = 0, last_error = NULL,
              finished_at_ms = NULL, version = version + 1, lease_owner = NULL,
              lease_until_ms = NULL, updated_at_ms = $1
           WHERE id = $2 AND status IN ('failed', 'cancelled', 'needs_migration')"#,
    )
    .await
}

/// Cancels a workflow that has not finished, or one parked in `needs_migration` that an
/// operator gives up on, with the children it holds. An in-flight step loses its fence and is
/// discarded.
pub async fn cancel(
    db: &DatabaseConnection,
    id: Uuid,
    who: &Actor,
) -> Result<ActionOutcome, DbErr> {
    operator_action(
        db,
        id,
        who,
        ("cancelled", "workflow.cancel"),
        &[Status::Running, Status::Waiting, Status::NeedsMigration],
        r#"UPDATE workflows SET status = 'cancelled', run_at_ms = NULL, finished_at_ms = $1,
              version = version + 1, lease_owner = NULL, lease_until_ms = NULL, updated_at_ms = $1
           WHERE id = $2 AND status IN ('running', 'waiting', 'needs_migration')"#,
    )
    .await
}

async fn operator_action(
    db: &DatabaseConnection,
    id: Uuid,
    who: &Actor,
    (event, audit_action): (&str, &str),
    allowed: &[Status],
    update_sql: &str,
) -> Result<ActionOutcome, DbErr> {
    let now = crate::store::now_ms();
    let txn = crate::store::begin_write(db).await?;
    let Some(current) = workflow::Entity::find_by_id(id).one(&txn).await? else {
        return Ok(ActionOutcome::NotFound);
    };
    let status = Status::parse(&current.status).unwrap_or(Status::Failed);
    if !allowed.contains(&status) {
        return Ok(ActionOutcome::WrongStatus(status));
    }
    let backend = txn.get_database_backend();
    let res = txn
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql(backend, update_sql),
            [now.into(), id.into()],
        ))
        .await?;
    if res.rows_affected() != 1 {
        // The status changed between our read and the update (a worker finished it).
        return Ok(ActionOutcome::WrongStatus(status));
    }
    let updated = workflow::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(id.to_string()))?;
    events::insert(
        &txn,
        &[NewEvent {
            workflow_id: id,
            event: event.into(),
            from_state: Some(current.state.clone()),
            to_state: updated.state.clone(),
            status: updated.status.clone(),
            attempt: updated.attempt,
            worker: None,
            detail: Some(serde_json::to_value(who).expect("actor serializes")),
            at_ms: now,
        }],
    )
    .await?;
    // The children it holds follow it in this transaction (see `held`).
    if updated.status == Status::Cancelled.as_str() {
        let reason = format!("{} {id} cancelled by {}", current.kind, who.describe());
        held::cancel_children(&txn, id, &reason, None, now).await?;
    } else {
        held::restore_children(&txn, id, now).await?;
    }
    crate::store::audit::record(
        &txn,
        &who.actor,
        audit_action,
        &id.to_string(),
        Some(serde_json::to_value(who).expect("actor serializes")),
    )
    .await?;
    notify_wake(&txn).await?;
    txn.commit().await?;
    Ok(ActionOutcome::Done(Box::new(updated)))
}

/// Makes a workflow due now: a `waiting` one runs; a `running` one whose step is under way
/// keeps the wake-up (`wake_pending`) so that the step's checkpoint cannot park it, and one
/// sleeping on a timer is due at once. Returns false when it is finished. Run it inside a
/// transaction: the update and its `woken` history event must become visible together.
pub async fn wake<C: ConnectionTrait>(conn: &C, id: Uuid, reason: &str) -> Result<bool, DbErr> {
    let now = crate::store::now_ms();
    let woken = r#"UPDATE workflows SET
                       wake_pending = (lease_owner IS NOT NULL),
                       run_at_ms = CASE WHEN status = 'waiting' OR run_at_ms > $1 THEN $1
                                        ELSE run_at_ms END,
                       status = 'running', updated_at_ms = $1
                   WHERE id = $2 AND status IN ('waiting', 'running')
                   RETURNING state, attempt"#;
    let Some(row) = store::row(conn, woken, vec![now.into(), id.into()]).await? else {
        return Ok(false);
    };
    let state: String = row.try_get("", "state")?;
    events::insert(
        conn,
        &[NewEvent {
            workflow_id: id,
            event: "woken".into(),
            from_state: Some(state.clone()),
            to_state: state,
            status: Status::Running.as_str().into(),
            attempt: row.try_get("", "attempt")?,
            worker: None,
            detail: Some(serde_json::json!({ "reason": reason })),
            at_ms: now,
        }],
    )
    .await?;
    notify_wake(conn).await?;
    Ok(true)
}

/// The PostgreSQL channel workers LISTEN on to hear about new or woken workflows.
pub const WAKE_CHANNEL: &str = "mintflow_wake";

/// Tells workers in other processes that work is due. On PostgreSQL the notification is
/// delivered when the surrounding transaction commits; SQLite has one process, which the
/// engine wakes in memory.
pub async fn notify_wake<C: ConnectionTrait>(conn: &C) -> Result<(), DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_unprepared(&format!("NOTIFY {WAKE_CHANNEL}"))
            .await?;
    }
    Ok(())
}
