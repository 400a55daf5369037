//! The outbox: every history event, in one delivery order shared by all instances.
//!
//! A trigger writes an outbox row in the transaction that records the transition (see
//! migration 4). `sequence` then gives committed rows their `position`, one sequencer at a time
//! (a row lock on `outbox_head`), so that a reader who has seen position `p` has seen every
//! position below it: positions become visible in order, unlike ids, which concurrent
//! transactions commit out of order. Server-sent events and webhooks read by position.
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult, Statement};
use serde_json::Value as Json;
use uuid::Uuid;

use super::{begin_write, exec, row};

/// Rows ordered per sequencer transaction at most: bounds its lock time.
pub const SEQUENCE_BATCH: i64 = 5_000;

/// One delivered transition: an outbox position and the history event it carries.
#[derive(Clone, Debug, PartialEq, FromQueryResult)]
pub struct OutboxEvent {
    pub position: i64,
    pub kind: String,
    pub event_id: i64,
    pub workflow_id: Uuid,
    pub event: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub status: String,
    pub attempt: i32,
    pub worker: Option<String>,
    pub detail: Option<Json>,
    pub at_ms: i64,
}

/// Gives positions to committed rows that have none, oldest first. Returns how many it ordered;
/// 0 also when another process holds the sequencer (it will order them).
pub async fn sequence(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    // Cheap check first: most calls find nothing and should not take the write lock.
    let waiting = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT id FROM outbox WHERE position IS NULL LIMIT 1",
        ))
        .await?;
    if waiting.is_none() {
        return Ok(0);
    }
    let txn = begin_write(db).await?;
    let lock = match backend {
        // SKIP LOCKED: a process that finds the sequencer busy leaves the rows to it.
        DbBackend::Postgres => "SELECT head FROM outbox_head WHERE id = 1 FOR UPDATE SKIP LOCKED",
        // SQLite's BEGIN IMMEDIATE already made this the only writer.
        _ => "SELECT head FROM outbox_head WHERE id = 1",
    };
    let Some(row) = txn
        .query_one_raw(Statement::from_string(backend, lock))
        .await?
    else {
        return Ok(0);
    };
    let head: i64 = row.try_get("", "head")?;
    let ordered = exec(
        &txn,
        r#"UPDATE outbox SET position = $1 + t.rn
           FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn
                 FROM (SELECT id FROM outbox WHERE position IS NULL
                       ORDER BY id LIMIT $2) s) t
           WHERE outbox.id = t.id"#,
        vec![head.into(), SEQUENCE_BATCH.into()],
    )
    .await?;
    exec(
        &txn,
        "UPDATE outbox_head SET head = head + $1 WHERE id = 1",
        vec![(ordered as i64).into()],
    )
    .await?;
    txn.commit().await?;
    Ok(ordered)
}

/// The last position given: every position up to it is visible.
pub async fn head<C: ConnectionTrait>(conn: &C) -> Result<i64, DbErr> {
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT head FROM outbox_head WHERE id = 1",
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get("", "head")?,
        None => 0,
    })
}

/// Which events a reader wants.
#[derive(Clone, Debug, Default)]
pub struct OutboxFilter {
    /// Only these kinds; empty for all.
    pub kinds: Vec<String>,
    /// Only this workflow.
    pub workflow_id: Option<Uuid>,
    /// Only transitions into these states; empty for all.
    pub to_states: Vec<String>,
}

/// Events after position `after`, in position order, `limit` at most.
pub async fn read<C: ConnectionTrait>(
    conn: &C,
    after: i64,
    filter: &OutboxFilter,
    limit: u64,
) -> Result<Vec<OutboxEvent>, DbErr> {
    let mut values: Vec<sea_orm::Value> = vec![after.into()];
    let mut query = String::from(
        r#"SELECT o.position, o.kind, e.id AS event_id, e.workflow_id, e.event, e.from_state,
                  e.to_state, e.status, e.attempt, e.worker, e.detail, e.at_ms
           FROM outbox o JOIN workflow_events e ON e.id = o.event_id
           WHERE o.position > $1"#,
    );
    if let Some(id) = filter.workflow_id {
        values.push(id.into());
        query.push_str(&format!(" AND o.workflow_id = ${}", values.len()));
    }
    push_in(&mut query, &mut values, "o.kind", &filter.kinds);
    push_in(&mut query, &mut values, "e.to_state", &filter.to_states);
    values.push((limit as i64).into());
    query.push_str(&format!(" ORDER BY o.position LIMIT ${}", values.len()));
    super::query(conn, &query, values).await
}

/// Whether workflow `id` may still have events after position `after`: it is not finished, or
/// an outbox row of it is not ordered yet or lies beyond `after`. False for a finished
/// workflow whose events were all read, or forgotten by retention.
pub async fn more_for<C: ConnectionTrait>(conn: &C, id: Uuid, after: i64) -> Result<bool, DbErr> {
    let more = r#"SELECT 1 AS more FROM workflows w
                  WHERE w.id = $1 AND (w.status NOT IN ('completed', 'failed', 'cancelled')
                    OR EXISTS (SELECT 1 FROM outbox o WHERE o.workflow_id = $1
                               AND (o.position IS NULL OR o.position > $2)))"#;
    Ok(row(conn, more, vec![id.into(), after.into()])
        .await?
        .is_some())
}

/// Narrows `query` to rows whose `column` is one of `list` (nothing when it is empty).
pub(super) fn push_in<T: Clone + Into<sea_orm::Value>>(
    query: &mut String,
    values: &mut Vec<sea_orm::Value>,
    column: &str,
    list: &[T],
) {
    if list.is_empty() {
        return;
    }
    let marks: Vec<String> = list
        .iter()
        .map(|item| {
            values.push(item.clone().into());
            format!("${}", values.len())
        })
        .collect();
    query.push_str(&format!(" AND {column} IN ({})", marks.join(", ")));
}

/// Forgets the ordered outbox rows up to the newest one written before `before_ms` (the history
/// itself stays with its workflow). Always a prefix of the positions, so what is kept runs
/// without holes from the oldest kept to the head and `forgotten_after` can tell exactly what
/// a reader missed. Returns how many went.
pub async fn delete_before(db: &DatabaseConnection, before_ms: i64) -> Result<u64, DbErr> {
    exec(
        db,
        r#"DELETE FROM outbox WHERE position <= (SELECT max(position) FROM outbox
                                                  WHERE position IS NOT NULL AND at_ms < $1)"#,
        vec![before_ms.into()],
    )
    .await
}

/// The last position retention deleted right after position `after`, when it did: a reader
/// resuming after `after` would miss the events up to it. `None` when it misses nothing.
pub async fn forgotten_after<C: ConnectionTrait>(
    conn: &C,
    after: i64,
) -> Result<Option<i64>, DbErr> {
    #[derive(FromQueryResult)]
    struct Span {
        head: Option<i64>,
        oldest: Option<i64>,
    }
    let span = super::query::<_, Span>(
        conn,
        r#"SELECT (SELECT head FROM outbox_head WHERE id = 1) AS head,
                  (SELECT min(position) FROM outbox WHERE position IS NOT NULL) AS oldest"#,
        vec![],
    )
    .await?;
    let Some(Span { head, oldest }) = span.into_iter().next() else {
        return Ok(None);
    };
    let head = head.unwrap_or(0);
    // Kept positions run from the oldest kept to the head; none kept: all up to the head went.
    let first_kept = oldest.unwrap_or(head + 1);
    Ok((after < head && first_kept > after + 1).then_some(first_kept - 1))
}
