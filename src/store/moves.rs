//! Moving parked workflows from outside their own step: a batch moves its mints along in its
//! own checkpoint transaction. Each move is guarded by the states (and statuses) the caller
//! expects, bumps `version` so a stale step of the moved row can never overwrite it, and
//! appends one history event per moved row.
use std::borrow::Cow;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult};
use serde_json::Value as Json;
use uuid::Uuid;

use super::json_list;
use super::workflows::Status;
use super::workflows::transition::{self, RowTransition};

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
    move_parked_each(conn, m, now, |_| m.detail.clone()).await
}

/// `move_parked` with each row's history detail from `detail_of` (given the row's id) instead
/// of `m.detail`: one move of many parents' children still tells each child its parent.
pub async fn move_parked_each<C: ConnectionTrait>(
    conn: &C,
    m: &Move<'_>,
    now: i64,
    detail_of: impl Fn(Uuid) -> Option<Json>,
) -> Result<Vec<Uuid>, DbErr> {
    if m.ids.is_empty() {
        return Ok(Vec::new());
    }
    let parked = lock_parked(conn, m).await?;
    let details: Vec<Option<Json>> = parked
        .iter()
        .map(|row| event_detail(detail_of(row.id), m.error))
        .collect();
    let rows: Vec<RowTransition<'_>> = parked
        .iter()
        .zip(&details)
        .map(|(row, detail)| RowTransition {
            id: row.id,
            version: row.version,
            owner: row.lease_owner.as_deref(),
            new_version: row.version + 1,
            status: m.to_status,
            state: m.to_state,
            data: Cow::Owned(merged(&row.data, &m.patch)),
            schema_version: row.schema_version,
            run_at_ms: m.run_now.then_some(now),
            attempt: row.attempt,
            keep_lease: false,
            last_error: m.error,
            tx_hash: m.tx_hash,
            event: m.event,
            from_state: &row.state,
            detail: detail.as_ref(),
            worker: m.worker,
        })
        .collect();
    transition::apply(conn, now, &rows).await
}

/// A parked row as the mover locked it: its fence and what the move keeps.
#[derive(FromQueryResult)]
struct Parked {
    id: Uuid,
    state: String,
    version: i64,
    lease_owner: Option<String>,
    attempt: i32,
    schema_version: i32,
    data: Json,
}

/// The rows of `m` still where the caller expects them, locked until the transaction ends (on
/// SQLite the caller's transaction already holds the write lock).
async fn lock_parked<C: ConnectionTrait>(conn: &C, m: &Move<'_>) -> Result<Vec<Parked>, DbErr> {
    // The list parameters are JSON arrays; each backend unpacks them its own way.
    let (ids, states, statuses, lock) = match conn.get_database_backend() {
        DbBackend::Postgres => (
            "SELECT value::uuid FROM jsonb_array_elements_text($1::jsonb)",
            "SELECT jsonb_array_elements_text($2::jsonb)",
            "SELECT jsonb_array_elements_text($3::jsonb)",
            "FOR UPDATE",
        ),
        _ => (
            "SELECT unhex(replace(value, '-', '')) FROM json_each($1)",
            "SELECT value FROM json_each($2)",
            "SELECT value FROM json_each($3)",
            "",
        ),
    };
    let pg_sql = format!(
        r#"SELECT id, state, version, lease_owner, attempt, schema_version, data FROM workflows
           WHERE id IN ({ids}) AND state IN ({states}) AND status IN ({statuses}) {lock}"#
    );
    crate::store::query(
        conn,
        &pg_sql,
        vec![
            json_list(m.ids.iter().map(Uuid::to_string)).into(),
            json_list(m.from_states.iter().map(|s| s.to_string())).into(),
            json_list(m.from_statuses.iter().map(|s| s.as_str().to_owned())).into(),
        ],
    )
    .await
}

/// `data` with the keys of the object `patch` set (a shallow merge, like PostgreSQL's `||`).
fn merged(data: &Json, patch: &Json) -> Json {
    match (data, patch) {
        (Json::Object(data), Json::Object(patch)) => {
            let mut out = data.clone();
            out.extend(patch.iter().map(|(k, v)| (k.clone(), v.clone())));
            Json::Object(out)
        }
        _ => data.clone(),
    }
}

/// The history event's detail: the move's own, with its error (if any) under `error`, so a
/// timeline shows why without reading the row.
fn event_detail(detail: Option<Json>, error: Option<&str>) -> Option<Json> {
    let Some(error) = error else {
        return detail;
    };
    let mut detail = match detail {
        Some(Json::Object(map)) => map,
        Some(other) => [("detail".to_owned(), other)].into_iter().collect(),
        None => Default::default(),
    };
    detail.insert("error".into(), Json::String(error.to_owned()));
    Some(Json::Object(detail))
}
