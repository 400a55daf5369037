//! Children held by their parent: a workflow started `waiting` with a `parent_id` stays parked
//! until its parent moves it on (a payment's mints and deployment wait for the payment).
//!
//! The engine keeps the rule, not the kinds, because every way a parent can end without
//! completing must apply it in the transaction that ends the parent: its own step failing it,
//! the engine giving up after its retries, an operator's cancel from the API or the CLI. The
//! CLI has no chain and so no instance of the kinds that need one: a hook on the kind could not
//! run there, while this rule needs nothing but the rows.
//!
//! - When a parent fails or is cancelled, every child still parked (`waiting`) is cancelled:
//!   state and status `cancelled`, the reason in `last_error` and a `parent_ended` event.
//!   (A parent that completed has moved its children on already; only then are they free.)
//! - When an operator retries the parent, every child whose last event is that `parent_ended`
//!   goes back, parked, to the state it was cancelled from (`parent_retried`).
//!
//! Kinds started under a parent therefore have a `cancelled` state.
use sea_orm::{ConnectionTrait, DbErr, Statement, Value};
use serde_json::json;
use uuid::Uuid;

use super::moves::{Move, move_parked};
use super::sql;
use super::workflows::Status;

/// The history event of a child cancelled because its parent ended.
pub const PARENT_ENDED: &str = "parent_ended";
/// The history event of a child put back because its parent was retried.
pub const PARENT_RETRIED: &str = "parent_retried";
/// The state a cancelled child is moved to: every child kind's `Cancelled` state
/// (`MintState`, `DeploymentState`). `store` cannot name the workflows' enums, so it is spelled
/// here; a test in `workflows` ties it to them.
pub const CANCELLED: &str = "cancelled";

/// Cancels the parked children of `parent`, which ended without completing for `reason`, inside
/// the caller's transaction (the one that ends the parent). Returns the ids that moved.
pub async fn cancel_children<C: ConnectionTrait>(
    conn: &C,
    parent: Uuid,
    reason: &str,
    worker: Option<&str>,
    now: i64,
) -> Result<Vec<Uuid>, DbErr> {
    let parked = select(
        conn,
        "SELECT id, state FROM workflows WHERE parent_id = $1 AND status = $2",
        vec![parent.into(), Status::Waiting.as_str().into()],
    )
    .await?;
    let ids: Vec<Uuid> = parked.iter().map(|(id, _)| *id).collect();
    let states: Vec<&str> = parked.iter().map(|(_, s)| s.as_str()).collect();
    let m = Move {
        ids: &ids,
        from_states: &states,
        from_statuses: &[Status::Waiting],
        to_state: CANCELLED,
        to_status: Status::Cancelled,
        event: PARENT_ENDED,
        patch: json!({}),
        tx_hash: None,
        error: Some(reason),
        detail: Some(json!({ "parent": parent })),
        worker,
        run_now: false,
    };
    move_parked(conn, &m, now).await
}

/// Puts back the children that `parent`'s end cancelled (and nothing touched since), parked in
/// the state each was cancelled from, inside the caller's transaction (the operator's retry).
pub async fn restore_children<C: ConnectionTrait>(
    conn: &C,
    parent: Uuid,
    now: i64,
) -> Result<Vec<Uuid>, DbErr> {
    let cancelled = select(
        conn,
        r#"SELECT w.id AS id, e.from_state AS state FROM workflows w
           JOIN workflow_events e ON e.workflow_id = w.id
           WHERE w.parent_id = $1 AND w.status = $2 AND e.event = $3
             AND e.id = (SELECT max(l.id) FROM workflow_events l WHERE l.workflow_id = w.id)"#,
        vec![
            parent.into(),
            Status::Cancelled.as_str().into(),
            PARENT_ENDED.into(),
        ],
    )
    .await?;
    let mut restored = Vec::with_capacity(cancelled.len());
    // One move per state they came from (a payment's children all share one).
    let mut states: Vec<&str> = cancelled.iter().map(|(_, s)| s.as_str()).collect();
    states.sort_unstable();
    states.dedup();
    for state in states {
        let ids: Vec<Uuid> = cancelled
            .iter()
            .filter(|(_, s)| s == state)
            .map(|(id, _)| *id)
            .collect();
        let m = Move {
            ids: &ids,
            from_states: &[CANCELLED],
            from_statuses: &[Status::Cancelled],
            to_state: state,
            to_status: Status::Waiting,
            event: PARENT_RETRIED,
            patch: json!({}),
            tx_hash: None,
            error: None,
            detail: Some(json!({ "parent": parent })),
            worker: None,
            run_now: false,
        };
        restored.extend(move_parked(conn, &m, now).await?);
    }
    Ok(restored)
}

/// `(id, state)` rows of a query on a parent's children.
async fn select<C: ConnectionTrait>(
    conn: &C,
    pg_sql: &str,
    values: Vec<Value>,
) -> Result<Vec<(Uuid, String)>, DbErr> {
    let backend = conn.get_database_backend();
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql(backend, pg_sql),
            values,
        ))
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("", "id")?, r.try_get("", "state")?)))
        .collect()
}
