//! Creating workflows: one or many rows, deduplicated by idempotency key.
use std::collections::HashSet;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, Statement,
};
use serde_json::Value as Json;
use uuid::Uuid;

use crate::store::entity::workflow;
use crate::store::events::{self, NewEvent};

use super::{Status, WAKE_CHANNEL};

/// A workflow to create.
#[derive(Clone, Debug)]
pub struct NewWorkflow {
    pub id: Uuid,
    pub kind: String,
    pub state: String,
    pub data: Json,
    pub schema_version: i32,
    pub priority: i16,
    /// When it is first due; `None` means now.
    pub run_at_ms: Option<i64>,
    /// Created parked (`waiting`) instead of due, e.g. a child that its parent starts later.
    pub waiting: bool,
    pub idempotency_key: Option<String>,
    /// SHA-256 (hex) of the request body that carried the idempotency key.
    pub request_hash: Option<String>,
    pub parent_id: Option<Uuid>,
    pub payer: Option<String>,
    pub token: Option<String>,
    pub tx_hash: Option<String>,
}

/// What `insert_workflow` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    Created(Uuid),
    /// The idempotency key was taken; `same_request` tells whether the stored request hash matches.
    Existing {
        id: Uuid,
        same_request: bool,
    },
}

/// Inserts a workflow with its `created` history event and wakes the workers. An idempotency
/// key already used for this kind returns the existing workflow instead.
///
/// On PostgreSQL this is one atomic statement (insert, history, NOTIFY), so it needs no
/// surrounding transaction; on SQLite it is several, to be run inside one.
pub async fn insert_workflow<C: ConnectionTrait>(
    conn: &C,
    wf: &NewWorkflow,
    now: i64,
) -> Result<Inserted, DbErr> {
    let mut out = insert_workflows(conn, std::slice::from_ref(wf), now).await?;
    Ok(out.remove(0))
}

/// `insert_workflow` for many workflows at once, answering in order. On PostgreSQL the whole
/// group is one statement: one round trip and one commit carry every new workflow.
pub async fn insert_workflows<C: ConnectionTrait>(
    conn: &C,
    wfs: &[NewWorkflow],
    now: i64,
) -> Result<Vec<Inserted>, DbErr> {
    let created: HashSet<Uuid> = if conn.get_database_backend() == DbBackend::Postgres {
        insert_group_pg(conn, wfs, now).await?
    } else {
        let mut created = HashSet::new();
        for wf in wfs {
            if insert_one_sqlite(conn, wf, now).await? {
                created.insert(wf.id);
            }
        }
        created
    };
    let mut out = Vec::with_capacity(wfs.len());
    for wf in wfs {
        if created.contains(&wf.id) {
            out.push(Inserted::Created(wf.id));
            continue;
        }
        // The key was taken (before, or by an earlier row of this group).
        let existing = workflow::Entity::find()
            .filter(workflow::Column::Kind.eq(wf.kind.clone()))
            .filter(workflow::Column::IdempotencyKey.eq(wf.idempotency_key.clone()))
            .one(conn)
            .await?
            .ok_or_else(|| {
                DbErr::RecordNotFound(format!(
                    "the {} holding idempotency key {:?} (deleted meanwhile)",
                    wf.kind, wf.idempotency_key
                ))
            })?;
        out.push(Inserted::Existing {
            id: existing.id,
            same_request: existing.request_hash == wf.request_hash,
        });
    }
    Ok(out)
}

/// The status and first due time of a new workflow.
fn initial(wf: &NewWorkflow, now: i64) -> (Status, Option<i64>) {
    if wf.waiting {
        (Status::Waiting, None)
    } else {
        (Status::Running, Some(wf.run_at_ms.unwrap_or(now)))
    }
}

/// One statement: insert the group, their history, and a wake-up when any is due. Returns the
/// ids inserted (the others hit a taken idempotency key).
async fn insert_group_pg<C: ConnectionTrait>(
    conn: &C,
    wfs: &[NewWorkflow],
    now: i64,
) -> Result<HashSet<Uuid>, DbErr> {
    let rows: Vec<Json> = wfs
        .iter()
        .map(|wf| {
            let (status, run_at) = initial(wf, now);
            serde_json::json!({
                "id": wf.id, "kind": wf.kind, "status": status.as_str(), "state": wf.state,
                "data": wf.data, "schema_version": wf.schema_version, "priority": wf.priority,
                "run_at_ms": run_at, "idempotency_key": wf.idempotency_key,
                "request_hash": wf.request_hash, "parent_id": wf.parent_id, "payer": wf.payer,
                "token": wf.token, "tx_hash": wf.tx_hash,
            })
        })
        .collect();
    // A group of parked workflows has nothing due, so it wakes nobody (NOTIFY serializes
    // committers).
    let wake = if wfs.iter().all(|wf| wf.waiting) {
        String::new()
    } else {
        format!(", LATERAL (SELECT pg_notify('{WAKE_CHANNEL}', '')) AS woken")
    };
    let text = format!(
        r#"WITH input AS (
            SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(
                id uuid, kind text, status text, state text, data jsonb, schema_version int,
                priority smallint, run_at_ms bigint, idempotency_key text, request_hash text,
                parent_id uuid, payer text, token text, tx_hash text)
        ), ins AS (
            INSERT INTO workflows (id, kind, status, state, data, schema_version, priority,
                run_at_ms, attempt, version, idempotency_key, request_hash, parent_id, payer,
                token, tx_hash, created_at_ms, updated_at_ms)
            SELECT id, kind, status, state, data, schema_version, priority, run_at_ms, 0, 0,
                   idempotency_key, request_hash, parent_id, payer, token, tx_hash, $2, $2
            FROM input
            ON CONFLICT (kind, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            RETURNING id, state, status
        ), ev AS (
            INSERT INTO workflow_events (workflow_id, event, to_state, status, attempt, at_ms)
            SELECT id, 'created', state, status, 0, $2 FROM ins
        )
        SELECT ins.id FROM ins{wake}"#
    );
    let batch = serde_json::to_string(&rows).expect("workflows serialize");
    conn.query_all_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        text,
        [batch.into(), now.into()],
    ))
    .await?
    .iter()
    .map(|r| r.try_get::<Uuid>("", "id"))
    .collect()
}

/// Inserts one workflow and its history on SQLite (inside the caller's transaction); false
/// when its idempotency key is taken.
async fn insert_one_sqlite<C: ConnectionTrait>(
    conn: &C,
    wf: &NewWorkflow,
    now: i64,
) -> Result<bool, DbErr> {
    let (status, run_at) = initial(wf, now);
    let stmt = Statement::from_sql_and_values(
        DbBackend::Sqlite,
        r#"INSERT INTO workflows (id, kind, status, state, data, schema_version,
                priority, run_at_ms, attempt, version, idempotency_key, request_hash, parent_id,
                payer, token, tx_hash, created_at_ms, updated_at_ms)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, 0, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15)
            ON CONFLICT (kind, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            RETURNING id"#,
        [
            wf.id.into(),
            wf.kind.clone().into(),
            status.as_str().into(),
            wf.state.clone().into(),
            wf.data.clone().into(),
            wf.schema_version.into(),
            wf.priority.into(),
            run_at.into(),
            wf.idempotency_key.clone().into(),
            wf.request_hash.clone().into(),
            wf.parent_id.into(),
            wf.payer.clone().into(),
            wf.token.clone().into(),
            wf.tx_hash.clone().into(),
            now.into(),
        ],
    );
    if conn.query_one_raw(stmt).await?.is_none() {
        return Ok(false);
    }
    events::insert(
        conn,
        &[NewEvent {
            workflow_id: wf.id,
            event: "created".into(),
            from_state: None,
            to_state: wf.state.clone(),
            status: status.as_str().into(),
            attempt: 0,
            worker: None,
            detail: None,
            at_ms: now,
        }],
    )
    .await?;
    Ok(true)
}
