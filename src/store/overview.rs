//! The queries behind the operator overview (`GET /v1/stats`, `/metrics`, the queue views):
//! workflow counts, and the backlog of the mint queue and of one signer's transactions. Each
//! reads a partial index or a recent range of one, so a snapshot stays cheap however many
//! finished workflows the table keeps; only `done_counts_through` reads the history.
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult, Statement,
    TransactionTrait,
};

use super::chain::OPEN;
use super::mints::QUEUED;
use super::sql;

/// How many workflows of one kind are in one state and status.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct WorkflowCount {
    pub kind: String,
    pub state: String,
    pub status: String,
    pub count: i64,
}

/// The workflows that have not finished (running, waiting, parked), by kind, state and
/// status: an index-only scan of `idx_workflows_live`, as large as the queue, not the history.
pub async fn live_counts<C: ConnectionTrait>(conn: &C) -> Result<Vec<WorkflowCount>, DbErr> {
    WorkflowCount::find_by_statement(Statement::from_string(
        conn.get_database_backend(),
        r#"SELECT kind, state, status, count(*) AS count FROM workflows
           WHERE finished_at_ms IS NULL GROUP BY kind, state, status"#,
    ))
    .all(conn)
    .await
}

/// The failed workflows by kind and state, through their partial index
/// (`idx_workflows_dead_letter`): dead letters stay until an operator retries them (retention
/// keeps them), so they are few, or someone is being paged.
pub async fn failed_counts<C: ConnectionTrait>(conn: &C) -> Result<Vec<WorkflowCount>, DbErr> {
    WorkflowCount::find_by_statement(Statement::from_string(
        conn.get_database_backend(),
        r#"SELECT kind, state, status, count(*) AS count FROM workflows
           WHERE status = 'failed' GROUP BY kind, state, status"#,
    ))
    .all(conn)
    .await
}

/// Completed and cancelled workflows of one kind, state and status that finished in a range,
/// split at a settling point.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct DoneCount {
    pub kind: String,
    pub state: String,
    pub status: String,
    /// Finished at or before the settling point.
    pub settled: bool,
    pub count: i64,
}

/// Completed and cancelled workflows that finished after `after` (unix ms), split at `settle`:
/// a range of `idx_workflows_finished`, as large as the work of the last moments.
pub async fn done_counts_after<C: ConnectionTrait>(
    conn: &C,
    after: i64,
    settle: i64,
) -> Result<Vec<DoneCount>, DbErr> {
    let backend = conn.get_database_backend();
    DoneCount::find_by_statement(Statement::from_sql_and_values(
        backend,
        sql(
            backend,
            r#"SELECT kind, state, status, finished_at_ms <= $2 AS settled, count(*) AS count
               FROM workflows
               WHERE finished_at_ms > $1 AND status IN ('completed', 'cancelled')
               GROUP BY 1, 2, 3, 4"#,
        ),
        [after.into(), settle.into()],
    ))
    .all(conn)
    .await
}

/// Every completed and cancelled workflow that finished at or before `settle`: a scan of the
/// whole history, for the overview's tally to start from (once per process, then rarely).
/// It may take longer than the read pool's statement timeout, which is for requests: on
/// PostgreSQL it runs in a transaction that raises its own, but waits for locks no longer than
/// the connection's statement timeout (a table locked for a migration fails it as fast as any
/// read, and the next snapshot tries again).
pub async fn done_counts_through(
    db: &DatabaseConnection,
    settle: i64,
) -> Result<Vec<DoneCount>, DbErr> {
    let backend = db.get_database_backend();
    let txn = db.begin().await?;
    if backend == DbBackend::Postgres {
        txn.execute_unprepared(
            "SELECT set_config('lock_timeout', current_setting('statement_timeout'), true)",
        )
        .await?;
        txn.execute_unprepared("SET LOCAL statement_timeout = '10min'")
            .await?;
    }
    let rows = DoneCount::find_by_statement(Statement::from_sql_and_values(
        backend,
        sql(
            backend,
            r#"SELECT kind, state, status, TRUE AS settled, count(*) AS count FROM workflows
               WHERE finished_at_ms <= $1 AND status IN ('completed', 'cancelled')
               GROUP BY kind, state, status"#,
        ),
        [settle.into()],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    Ok(rows)
}

/// What waits: the oldest pending mint, for a signer its open transactions, and the events
/// on their way out (the outbox, webhook deliveries).
#[derive(Clone, Debug, Default, PartialEq, Eq, FromQueryResult)]
pub struct Backlog {
    /// When the oldest mint still waiting for a batch was requested (unix ms).
    pub oldest_pending_mint_ms: Option<i64>,
    /// The signer's next nonce as stored (`None` for an unknown signer or no signer).
    pub next_nonce: Option<i64>,
    /// The signer's transactions not final yet (`signed`, `sent`, `mined`).
    pub open_txs: i64,
    /// When the oldest of them was signed (unix ms).
    pub oldest_open_tx_ms: Option<i64>,
    /// Outbox rows not given a position yet: events not yet visible to streams and webhooks.
    pub outbox_unordered: i64,
    /// Webhook deliveries not delivered or given up yet.
    pub webhook_pending: i64,
    /// Webhook deliveries given up, waiting for an operator's redelivery (or retention).
    pub webhook_failed: i64,
    /// When the oldest of them was created (unix ms).
    pub oldest_webhook_ms: Option<i64>,
}

/// The backlog, in one statement; `signer` is `(chain_id, address key)`, `None` without a chain.
/// Every subquery reads a partial index (the mint queue's, the open transactions', the
/// unordered outbox rows', the pending deliveries').
pub async fn backlog<C: ConnectionTrait>(
    conn: &C,
    signer: Option<(i64, &str)>,
) -> Result<Backlog, DbErr> {
    let backend = conn.get_database_backend();
    let (chain_id, address) = signer.unzip();
    Ok(Backlog::find_by_statement(Statement::from_sql_and_values(
        backend,
        sql(
            backend,
            &format!(
                r#"SELECT
                 (SELECT min(created_at_ms) FROM workflows WHERE {QUEUED})
                   AS oldest_pending_mint_ms,
                 (SELECT next_nonce FROM chain_signers WHERE chain_id = $1 AND address = $2)
                   AS next_nonce,
                 (SELECT count(*) FROM chain_txs WHERE chain_id = $1 AND signer = $2
                    AND status IN {OPEN}) AS open_txs,
                 (SELECT min(created_at_ms) FROM chain_txs WHERE chain_id = $1 AND signer = $2
                    AND status IN {OPEN}) AS oldest_open_tx_ms,
                 (SELECT count(*) FROM outbox WHERE position IS NULL) AS outbox_unordered,
                 (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending')
                   AS webhook_pending,
                 (SELECT count(*) FROM webhooks h JOIN webhook_deliveries d
                    ON d.webhook_id = h.id AND d.status = 'failed') AS webhook_failed,
                 (SELECT min(created_at_ms) FROM webhook_deliveries WHERE status = 'pending')
                   AS oldest_webhook_ms"#
            ),
        ),
        [chain_id.into(), address.map(str::to_owned).into()],
    ))
    .one(conn)
    .await?
    .unwrap_or_default())
}
