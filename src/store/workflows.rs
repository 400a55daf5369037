//! Workflow rows: creation with idempotency, the claim/lease/checkpoint hot path, operator
//! actions and the read queries behind the API.
//!
//! Fencing: every claim bumps `version`; every checkpoint is `... WHERE id = $id AND
//! version = $claimed AND lease_owner = $me`. A worker that lost its lease can therefore never
//! overwrite what a newer owner wrote.
use std::collections::HashSet;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    Order, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use uuid::Uuid;

use super::entity::workflow;
use super::events::{self, NewEvent};
use super::held;
use super::sql;

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

    /// Terminal rows are never claimed again unless an operator retries them.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Completed | Status::Failed | Status::Cancelled | Status::NeedsMigration
        )
    }
}

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
            .ok_or_else(|| DbErr::Custom("idempotency conflict without a row".into()))?;
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

/// A row leased by `claim_due`.
#[derive(Clone, Debug)]
pub struct ClaimedWorkflow {
    pub id: Uuid,
    pub kind: String,
    pub state: String,
    pub data: Json,
    pub schema_version: i32,
    pub attempt: i32,
    /// The fencing epoch this claim holds; every checkpoint must present it.
    pub version: i64,
    /// The holder of an expired lease this claim took over, if any.
    pub previous_owner: Option<String>,
}

/// Leases up to `limit` due workflows of `kinds` to `owner` until `now + lease_ms`, highest
/// priority first, then earliest due. Rows whose lease has expired are due again: that is how a
/// crashed worker's work is taken over.
pub async fn claim_due(
    db: &DatabaseConnection,
    owner: &str,
    kinds: &[&str],
    limit: u32,
    now: i64,
    lease_ms: i64,
) -> Result<Vec<ClaimedWorkflow>, DbErr> {
    if limit == 0 || kinds.is_empty() {
        return Ok(Vec::new());
    }
    let kinds_json = serde_json::to_string(kinds).expect("strings serialize");
    match db.get_database_backend() {
        DbBackend::Postgres => {
            // One round trip: SKIP LOCKED lets concurrent claimers (other processes) pass over
            // each other's rows instead of queueing on them.
            let stmt = Statement::from_sql_and_values(
                DbBackend::Postgres,
                r#"WITH due AS (
                    SELECT id, lease_owner AS previous_owner FROM workflows
                    WHERE run_at_ms IS NOT NULL AND run_at_ms <= $1
                      AND (lease_until_ms IS NULL OR lease_until_ms < $1)
                      AND kind IN (SELECT jsonb_array_elements_text($2::jsonb))
                    ORDER BY priority DESC, run_at_ms
                    LIMIT $3
                    FOR UPDATE SKIP LOCKED
                )
                UPDATE workflows w
                SET version = w.version + 1, lease_owner = $4, lease_until_ms = $5
                FROM due WHERE w.id = due.id
                RETURNING w.id, w.kind, w.state, w.data, w.schema_version, w.attempt, w.version,
                          due.previous_owner"#,
                [
                    now.into(),
                    kinds_json.into(),
                    i64::from(limit).into(),
                    owner.into(),
                    (now + lease_ms).into(),
                ],
            );
            db.query_all_raw(stmt)
                .await?
                .iter()
                .map(claimed_from_row)
                .collect()
        }
        _ => {
            // SQLite has no SKIP LOCKED and no row locks: BEGIN IMMEDIATE takes the single write
            // lock, so the select and the update below see the same rows. RETURNING would only
            // show the new lease owner, so the previous one is read first.
            let txn = super::begin_write(db).await?;
            let rows = txn
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    r#"SELECT id, kind, state, data, schema_version, attempt, version + 1 AS version,
                              lease_owner AS previous_owner
                       FROM workflows
                       WHERE run_at_ms IS NOT NULL AND run_at_ms <= ?1
                         AND (lease_until_ms IS NULL OR lease_until_ms < ?1)
                         AND kind IN (SELECT value FROM json_each(?2))
                       ORDER BY priority DESC, run_at_ms
                       LIMIT ?3"#,
                    [now.into(), kinds_json.into(), i64::from(limit).into()],
                ))
                .await?;
            let claimed: Vec<ClaimedWorkflow> = rows
                .iter()
                .map(claimed_from_row)
                .collect::<Result<_, _>>()?;
            if !claimed.is_empty() {
                let ids = super::moves::json_list(claimed.iter().map(|c| c.id.to_string()));
                txn.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    r#"UPDATE workflows SET version = version + 1, lease_owner = ?1, lease_until_ms = ?2
                       WHERE id IN (SELECT unhex(replace(value, '-', '')) FROM json_each(?3))"#,
                    [owner.into(), (now + lease_ms).into(), ids.into()],
                ))
                .await?;
            }
            txn.commit().await?;
            Ok(claimed)
        }
    }
}

fn claimed_from_row(row: &sea_orm::QueryResult) -> Result<ClaimedWorkflow, DbErr> {
    Ok(ClaimedWorkflow {
        id: row.try_get("", "id")?,
        kind: row.try_get("", "kind")?,
        state: row.try_get("", "state")?,
        data: row.try_get("", "data")?,
        schema_version: row.try_get("", "schema_version")?,
        attempt: row.try_get("", "attempt")?,
        version: row.try_get("", "version")?,
        previous_owner: row.try_get("", "previous_owner")?,
    })
}

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

/// Extends every lease `owner` holds: one statement per heartbeat, whatever the count.
pub async fn renew_leases(
    db: &DatabaseConnection,
    owner: &str,
    lease_until_ms: i64,
) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let res = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql(
                backend,
                "UPDATE workflows SET lease_until_ms = $1 WHERE lease_owner = $2",
            ),
            [lease_until_ms.into(), owner.into()],
        ))
        .await?;
    Ok(res.rows_affected())
}

/// Gives back every lease `owner` holds so other workers can claim those rows at once (graceful
/// shutdown). Versions were bumped at claim time, so a late checkpoint of `owner` still fails.
pub async fn release_leases(db: &DatabaseConnection, owner: &str) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let res = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql(
                backend,
                "UPDATE workflows SET lease_owner = NULL, lease_until_ms = NULL WHERE lease_owner = $1",
            ),
            [owner.into()],
        ))
        .await?;
    Ok(res.rows_affected())
}

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
    let now = super::now_ms();
    let txn = super::begin_write(db).await?;
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
    super::audit::record(
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
    let now = super::now_ms();
    let backend = conn.get_database_backend();
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql(
                backend,
                r#"UPDATE workflows SET
                       wake_pending = (lease_owner IS NOT NULL),
                       run_at_ms = CASE WHEN status = 'waiting' OR run_at_ms > $1 THEN $1
                                        ELSE run_at_ms END,
                       status = 'running', updated_at_ms = $1
                   WHERE id = $2 AND status IN ('waiting', 'running')
                   RETURNING state, attempt"#,
            ),
            [now.into(), id.into()],
        ))
        .await?;
    let Some(row) = row else { return Ok(false) };
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

/// Deletes completed and cancelled workflows (with their history) that finished before
/// `before_ms`, except those of the `kept` kinds. Failed ones stay for operators. Returns how
/// many rows went.
pub async fn delete_finished_before(
    db: &DatabaseConnection,
    before_ms: i64,
    kept: &[&str],
) -> Result<u64, DbErr> {
    let res = workflow::Entity::delete_many()
        .filter(
            workflow::Column::Status
                .is_in([Status::Completed.as_str(), Status::Cancelled.as_str()]),
        )
        .filter(workflow::Column::Kind.is_not_in(kept.iter().copied()))
        .filter(workflow::Column::FinishedAtMs.lt(before_ms))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

pub async fn find(db: &DatabaseConnection, id: Uuid) -> Result<Option<workflow::Model>, DbErr> {
    workflow::Entity::find_by_id(id).one(db).await
}

/// Filters for `list`; every field narrows the result.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub kind: Option<String>,
    pub status: Option<Status>,
    pub state: Option<String>,
    /// Lowercase 0x address.
    pub payer: Option<String>,
    /// Lowercase 0x address.
    pub token: Option<String>,
    /// A transaction hash: the workflow's own, or any attempt of a transaction it sent.
    pub tx_hash: Option<String>,
    pub idempotency_key: Option<String>,
    /// Only failed and parked (`needs_migration`) workflows: the dead letters.
    pub dead_letters: bool,
    /// Only workflows that have not finished (running, waiting or parked).
    pub unfinished: bool,
    pub created_after_ms: Option<i64>,
    pub created_before_ms: Option<i64>,
    /// Only rows older than this id (ids are UUIDv7, so ordered by creation): the page cursor.
    pub before_id: Option<Uuid>,
    pub limit: u64,
}

/// Newest first, `limit` rows at most.
pub async fn list(db: &DatabaseConnection, f: &ListFilter) -> Result<Vec<workflow::Model>, DbErr> {
    let mut q = workflow::Entity::find();
    if let Some(kind) = &f.kind {
        q = q.filter(workflow::Column::Kind.eq(kind.clone()));
    }
    if let Some(status) = f.status {
        q = q.filter(workflow::Column::Status.eq(status.as_str()));
    }
    if let Some(state) = &f.state {
        q = q.filter(workflow::Column::State.eq(state.clone()));
    }
    if let Some(payer) = &f.payer {
        q = q.filter(workflow::Column::Payer.eq(payer.clone()));
    }
    if let Some(token) = &f.token {
        q = q.filter(workflow::Column::Token.eq(token.clone()));
    }
    if let Some(hash) = &f.tx_hash {
        let senders = Query::select()
            .column(Alias::new("owner_workflow_id"))
            .from(Alias::new("chain_txs"))
            .inner_join(
                Alias::new("chain_tx_attempts"),
                Expr::col((Alias::new("chain_tx_attempts"), Alias::new("tx_id")))
                    .equals((Alias::new("chain_txs"), Alias::new("id"))),
            )
            .and_where(
                Expr::col((Alias::new("chain_tx_attempts"), Alias::new("hash"))).eq(hash.clone()),
            )
            .to_owned();
        q = q.filter(
            Condition::any()
                .add(workflow::Column::TxHash.eq(hash.clone()))
                .add(workflow::Column::Id.in_subquery(senders)),
        );
    }
    if let Some(key) = &f.idempotency_key {
        q = q.filter(workflow::Column::IdempotencyKey.eq(key.clone()));
    }
    if f.dead_letters {
        q = q.filter(
            workflow::Column::Status
                .is_in([Status::Failed.as_str(), Status::NeedsMigration.as_str()]),
        );
    }
    if f.unfinished {
        q = q.filter(workflow::Column::FinishedAtMs.is_null());
    }
    if let Some(after) = f.created_after_ms {
        q = q.filter(workflow::Column::CreatedAtMs.gte(after));
    }
    if let Some(before) = f.created_before_ms {
        q = q.filter(workflow::Column::CreatedAtMs.lt(before));
    }
    if let Some(cursor) = f.before_id {
        q = q.filter(workflow::Column::Id.lt(cursor));
    }
    q.order_by(workflow::Column::Id, Order::Desc)
        .limit(f.limit)
        .all(db)
        .await
}

/// The children of workflow `parent`, with their kinds.
pub async fn children<C: ConnectionTrait>(
    conn: &C,
    parent: Uuid,
) -> Result<Vec<(Uuid, String)>, DbErr> {
    workflow::Entity::find()
        .select_only()
        .column(workflow::Column::Id)
        .column(workflow::Column::Kind)
        .filter(workflow::Column::ParentId.eq(parent))
        .order_by(workflow::Column::Id, Order::Asc)
        .into_tuple()
        .all(conn)
        .await
}
