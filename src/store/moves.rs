//! Moving parked workflows from outside their own step: a batch moves its mints along in its
//! own checkpoint transaction. Each move is guarded by the states (and statuses) the caller
//! expects, bumps `version` so a stale step of the moved row can never overwrite it, and
//! appends one history event per moved row.
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};
use serde_json::Value as Json;
use uuid::Uuid;

use super::events::{self, NewEvent};
use super::workflows::Status;

/// What to do to a set of parked workflows.
#[derive(Clone, Debug)]
pub struct Move<'a> {
    pub ids: &'a [Uuid],
    /// Only rows in one of these states move.
    pub from_states: &'a [&'a str],
    /// ...and in one of these statuses.
    pub from_statuses: &'a [Status],
    pub to_state: &'a str,
    pub to_status: Status,
    /// The history event (`batched`, `sent`, `confirmed`, `failed`, ...).
    pub event: &'a str,
    /// A JSON object merged into each row's checkpoint data.
    pub patch: Json,
    /// Sets the indexed `tx_hash` column when given.
    pub tx_hash: Option<&'a str>,
    /// The new `last_error` (cleared when `None`).
    pub error: Option<&'a str>,
    pub detail: Option<Json>,
    /// The worker whose step moves them, for the history.
    pub worker: Option<&'a str>,
    /// Make them due now (with `to_status` running) instead of parked.
    pub run_now: bool,
}

/// Applies `m` inside the caller's transaction; returns the ids that moved.
pub async fn move_parked<C: ConnectionTrait>(
    conn: &C,
    m: &Move<'_>,
    now: i64,
) -> Result<Vec<Uuid>, DbErr> {
    if m.ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = json_list(m.ids.iter().map(Uuid::to_string));
    let states = json_list(m.from_states.iter().map(|s| s.to_string()));
    let statuses = json_list(m.from_statuses.iter().map(|s| s.as_str().to_owned()));
    let finished = m.to_status.is_terminal().then_some(now);
    let detail = event_detail(m);
    // $1..$11, shared by both backends' statements.
    let values: Vec<Value> = vec![
        ids.clone().into(),
        states.clone().into(),
        statuses.clone().into(),
        m.to_state.into(),
        m.to_status.as_str().into(),
        m.patch.to_string().into(),
        m.tx_hash.map(str::to_owned).into(),
        m.error.map(str::to_owned).into(),
        now.into(),
        finished.into(),
        m.run_now.then_some(now).into(),
    ];
    match conn.get_database_backend() {
        DbBackend::Postgres => {
            // One statement: lock the rows still where the caller expects them, move them,
            // and append their history from the old states the lock saw.
            let rows = conn
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    r#"WITH old AS (
                        SELECT id, state FROM workflows
                        WHERE id IN (SELECT value::uuid FROM jsonb_array_elements_text($1::jsonb))
                          AND state IN (SELECT jsonb_array_elements_text($2::jsonb))
                          AND status IN (SELECT jsonb_array_elements_text($3::jsonb))
                        FOR UPDATE
                    ), moved AS (
                        UPDATE workflows w SET state = $4, status = $5,
                            data = w.data || $6::jsonb, tx_hash = COALESCE($7, w.tx_hash),
                            last_error = $8, version = w.version + 1, run_at_ms = $11,
                            lease_owner = NULL, lease_until_ms = NULL, wake_pending = FALSE,
                            updated_at_ms = $9, finished_at_ms = $10
                        FROM old WHERE w.id = old.id
                        RETURNING w.id, old.state AS from_state, w.attempt
                    ), ev AS (
                        INSERT INTO workflow_events
                            (workflow_id, event, from_state, to_state, status, attempt, worker,
                             detail, at_ms)
                        SELECT id, $12, from_state, $4, $5, attempt, $13, $14::jsonb, $9 FROM moved
                    )
                    SELECT id FROM moved"#,
                    values
                        .into_iter()
                        .chain([
                            m.event.into(),
                            m.worker.map(str::to_owned).into(),
                            detail.as_ref().map(Json::to_string).into(),
                        ])
                        .collect::<Vec<_>>(),
                ))
                .await?;
            rows.iter().map(|r| r.try_get::<Uuid>("", "id")).collect()
        }
        _ => {
            // SQLite: the caller's transaction holds the write lock, so reading the old states
            // first and then updating the same rows is race-free.
            const WHERE: &str = r#"id IN (SELECT unhex(replace(value, '-', '')) FROM json_each(?1))
                  AND state IN (SELECT value FROM json_each(?2))
                  AND status IN (SELECT value FROM json_each(?3))"#;
            let old = conn
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    format!("SELECT id, state, attempt FROM workflows WHERE {WHERE}"),
                    [
                        ids.clone().into(),
                        states.clone().into(),
                        statuses.clone().into(),
                    ],
                ))
                .await?;
            if old.is_empty() {
                return Ok(Vec::new());
            }
            conn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                format!(
                    r#"UPDATE workflows SET state = ?4, status = ?5, data = json_patch(data, ?6),
                          tx_hash = COALESCE(?7, tx_hash), last_error = ?8, version = version + 1,
                          run_at_ms = ?11, lease_owner = NULL, lease_until_ms = NULL,
                          wake_pending = FALSE, updated_at_ms = ?9, finished_at_ms = ?10
                       WHERE {WHERE}"#
                ),
                values,
            ))
            .await?;
            let mut moved = Vec::with_capacity(old.len());
            let mut history = Vec::with_capacity(old.len());
            for row in &old {
                let id: Uuid = row.try_get("", "id")?;
                moved.push(id);
                history.push(NewEvent {
                    workflow_id: id,
                    event: m.event.to_owned(),
                    from_state: Some(row.try_get("", "state")?),
                    to_state: m.to_state.to_owned(),
                    status: m.to_status.as_str().to_owned(),
                    attempt: row.try_get("", "attempt")?,
                    worker: m.worker.map(str::to_owned),
                    detail: detail.clone(),
                    at_ms: now,
                });
            }
            // Large batches: keep each insert under SQLite's bound-parameter limit.
            for chunk in history.chunks(1000) {
                events::insert(conn, chunk).await?;
            }
            Ok(moved)
        }
    }
}

/// A JSON array of strings, the one list parameter both backends can unpack.
pub(crate) fn json_list(items: impl Iterator<Item = String>) -> String {
    serde_json::to_string(&items.collect::<Vec<_>>()).expect("strings serialize")
}

/// The history event's detail: the move's own, with its error (if any) under `error`, so a
/// timeline shows why without reading the row.
fn event_detail(m: &Move<'_>) -> Option<Json> {
    let Some(error) = m.error else {
        return m.detail.clone();
    };
    let mut detail = match m.detail.clone() {
        Some(Json::Object(map)) => map,
        Some(other) => [("detail".to_owned(), other)].into_iter().collect(),
        None => Default::default(),
    };
    detail.insert("error".into(), Json::String(error.to_owned()));
    Some(Json::Object(detail))
}
