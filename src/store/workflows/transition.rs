//! The one write path of workflow rows: a step's checkpoint and a move of parked workflows both
//! end here, so the fence, the version, the end time and the history event are written by the
//! same statement whoever moves a row.
use std::borrow::Cow;
use std::collections::HashSet;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use serde::Serialize;
use serde_json::Value as Json;
use uuid::Uuid;

use crate::store::events::{self, NewEvent};
use crate::store::sql;

use super::Status;

/// One row's transition, written only if the row still holds the fence the caller read.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct RowTransition<'a> {
    pub id: Uuid,
    /// The fence: the row's version and lease owner as the caller holds them (a step's claim,
    /// or a parked row locked by the mover).
    pub version: i64,
    pub owner: Option<&'a str>,
    /// The version the row gets: a step keeps its claim's, a move bumps it so a stale step of
    /// the moved row can never overwrite it.
    pub new_version: i64,
    pub status: Status,
    pub state: &'a str,
    pub data: Cow<'a, Json>,
    pub schema_version: i32,
    pub run_at_ms: Option<i64>,
    pub attempt: i32,
    /// Keep the lease (and `run_at_ms`): the same worker runs the next step at once.
    pub keep_lease: bool,
    pub last_error: Option<&'a str>,
    /// Sets the indexed `tx_hash` column when given; otherwise it is left as it is.
    pub tx_hash: Option<&'a str>,
    /// The history event this transition appends.
    pub event: &'a str,
    pub from_state: &'a str,
    pub detail: Option<&'a Json>,
    /// The worker that writes it, for the history; `None` for API and operator writes.
    pub worker: Option<&'a str>,
}

/// Applies `rows` in the caller's transaction, each with its history event. Returns the ids
/// whose fence held; the others changed nothing.
///
/// A wake-up that arrived while the row was leased (`wake_pending`) turns a wait into a run now,
/// so no transition can park a workflow that was woken meanwhile.
pub(crate) async fn apply<C: ConnectionTrait>(
    conn: &C,
    now: i64,
    rows: &[RowTransition<'_>],
) -> Result<Vec<Uuid>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    match conn.get_database_backend() {
        DbBackend::Postgres => apply_postgres(conn, now, rows).await,
        _ => apply_sqlite(conn, now, rows).await,
    }
}

/// What a transition writes, on both backends: the row is `w`, its transition `c` (whose
/// columns share the row's names, so every column is qualified), `$2` the time. A wake-up that
/// came while the row was leased turns a wait into a run now.
const SET_TRANSITION: &str = r#"
    status = CASE WHEN w.wake_pending AND c.status = 'waiting' THEN 'running' ELSE c.status END,
    state = c.state, data = c.data,
    schema_version = c.schema_version,
    run_at_ms = CASE WHEN c.keep_lease THEN w.run_at_ms
                     WHEN w.wake_pending AND c.status IN ('waiting', 'running') THEN $2
                     ELSE c.run_at_ms END,
    wake_pending = FALSE,
    version = c.new_version,
    tx_hash = COALESCE(c.tx_hash, w.tx_hash),
    attempt = c.attempt, last_error = c.last_error, updated_at_ms = $2,
    lease_owner = CASE WHEN c.keep_lease THEN w.lease_owner END,
    lease_until_ms = CASE WHEN c.keep_lease THEN w.lease_until_ms END,
    finished_at_ms = CASE WHEN c.status IN ('completed', 'failed', 'cancelled') THEN $2 END"#;

/// The whole group is one statement, so one round trip carries every transition.
async fn apply_postgres<C: ConnectionTrait>(
    conn: &C,
    now: i64,
    rows: &[RowTransition<'_>],
) -> Result<Vec<Uuid>, DbErr> {
    let batch = serde_json::to_string(rows).expect("transitions serialize");
    let stmt = Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!(
            r#"WITH c AS (
            SELECT * FROM jsonb_to_recordset($1::jsonb) AS c(
                id uuid, version bigint, owner text, new_version bigint, status text, state text,
                data jsonb, schema_version int, run_at_ms bigint, attempt int, keep_lease bool,
                last_error text, tx_hash text, event text, from_state text, detail jsonb,
                worker text)
        ), won AS (
            UPDATE workflows w SET {SET_TRANSITION}
            FROM c
            -- The fence comes from each row so the planner looks rows up by primary key.
            WHERE w.id = c.id AND w.version = c.version
              AND w.lease_owner IS NOT DISTINCT FROM c.owner
            RETURNING w.id
        )
        INSERT INTO workflow_events
            (workflow_id, event, from_state, to_state, status, attempt, worker, detail, at_ms)
        SELECT c.id, c.event, c.from_state, c.state, c.status, c.attempt, c.worker, c.detail, $2
        FROM c JOIN won ON won.id = c.id
        RETURNING workflow_id"#
        ),
        [batch.into(), now.into()],
    );
    conn.query_all_raw(stmt)
        .await?
        .iter()
        .map(|row| row.try_get::<Uuid>("", "workflow_id"))
        .collect()
}

/// The whole group is one statement here too: the caller's transaction holds SQLite's only
/// write lock, and a statement per row (a round trip to the connection's thread each) held it
/// long enough to slow intake by a sixth. History rows are inserted for the rows whose fence
/// held, in groups under SQLite's bound-parameter limit.
async fn apply_sqlite<C: ConnectionTrait>(
    conn: &C,
    now: i64,
    rows: &[RowTransition<'_>],
) -> Result<Vec<Uuid>, DbErr> {
    let batch = serde_json::to_string(rows).expect("transitions serialize");
    let stmt = Statement::from_sql_and_values(
        DbBackend::Sqlite,
        sql(
            DbBackend::Sqlite,
            &format!(
                r#"UPDATE workflows AS w SET {SET_TRANSITION}
                   FROM (SELECT unhex(replace(value ->> 'id', '-', '')) AS id,
                                value ->> 'version' AS version, value ->> 'owner' AS owner,
                                value ->> 'new_version' AS new_version,
                                value ->> 'status' AS status, value ->> 'state' AS state,
                                value -> 'data' AS data,
                                value ->> 'schema_version' AS schema_version,
                                value ->> 'run_at_ms' AS run_at_ms,
                                value ->> 'attempt' AS attempt,
                                value ->> 'keep_lease' AS keep_lease,
                                value ->> 'last_error' AS last_error,
                                value ->> 'tx_hash' AS tx_hash
                         FROM json_each($1)) AS c
                   WHERE w.id = c.id AND w.version = c.version AND w.lease_owner IS c.owner
                   -- SQLite's RETURNING sees the updated table by its name only.
                   RETURNING id"#
            ),
        ),
        [batch.into(), now.into()],
    );
    let won: HashSet<Uuid> = conn
        .query_all_raw(stmt)
        .await?
        .iter()
        .map(|row| row.try_get::<Uuid>("", "id"))
        .collect::<Result<_, _>>()?;
    let history: Vec<NewEvent> = rows
        .iter()
        .filter(|row| won.contains(&row.id))
        .map(|row| NewEvent {
            workflow_id: row.id,
            event: row.event.to_owned(),
            from_state: Some(row.from_state.to_owned()),
            to_state: row.state.to_owned(),
            status: row.status.as_str().into(),
            attempt: row.attempt,
            worker: row.worker.map(str::to_owned),
            detail: row.detail.cloned(),
            at_ms: now,
        })
        .collect();
    // Large moves: keep each insert under SQLite's bound-parameter limit.
    for chunk in history.chunks(1000) {
        events::insert(conn, chunk).await?;
    }
    Ok(history.iter().map(|event| event.workflow_id).collect())
}
