//! The queries of `mintflow doctor` (`ops::doctor`). Each one is bounded: it walks a partial
//! index and stops at `limit` rows, so a check costs the same on a thousand workflows as on a
//! million.
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use serde_json::Value as Json;
use uuid::Uuid;

use super::chain::UNMINED;
use super::mints::MintState;
use super::query;

/// A finished workflow of the sample.
#[derive(Clone, Debug, FromQueryResult)]
pub struct Sampled {
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    pub data: Json,
}

/// The `limit` workflows of `kind` in `state` that finished last (newest first), through the
/// index of finished workflows.
pub async fn newest_finished<C: ConnectionTrait>(
    conn: &C,
    kind: &str,
    state: &str,
    limit: u64,
) -> Result<Vec<Sampled>, DbErr> {
    query(
        conn,
        r#"SELECT id, parent_id, data FROM workflows
           WHERE finished_at_ms IS NOT NULL AND kind = $1 AND state = $2
           ORDER BY finished_at_ms DESC LIMIT $3"#,
        vec![kind.into(), state.into(), (limit as i64).into()],
    )
    .await
}

/// A mint still waiting for a payment that has ended.
#[derive(Clone, Debug, FromQueryResult)]
pub struct Stranded {
    pub id: Uuid,
    pub payment_id: Uuid,
    /// The payment's status: `completed`, `failed` or `cancelled`.
    pub payment_status: String,
}

/// Mints in `awaiting_payment` whose payment is final (through the index of live workflows).
pub async fn stranded_mints<C: ConnectionTrait>(
    conn: &C,
    limit: u64,
) -> Result<Vec<Stranded>, DbErr> {
    query(
        conn,
        r#"SELECT m.id AS id, p.id AS payment_id, p.status AS payment_status
           FROM workflows m JOIN workflows p ON p.id = m.parent_id
           WHERE m.kind = 'mint' AND m.state = $2 AND m.status = 'waiting'
             AND m.finished_at_ms IS NULL
             AND p.status IN ('completed', 'failed', 'cancelled')
           ORDER BY m.id LIMIT $1"#,
        vec![
            (limit as i64).into(),
            MintState::AwaitingPayment.as_str().into(),
        ],
    )
    .await
}

/// A running workflow whose lease ran out.
#[derive(Clone, Debug, FromQueryResult)]
pub struct Leased {
    pub id: Uuid,
    pub kind: String,
    pub state: String,
    pub lease_owner: String,
    pub lease_until_ms: i64,
}

/// Running workflows whose lease expired before `before_ms`, oldest expiry first (through the
/// index of leased workflows).
pub async fn expired_leases<C: ConnectionTrait>(
    conn: &C,
    before_ms: i64,
    limit: u64,
) -> Result<Vec<Leased>, DbErr> {
    query(
        conn,
        r#"SELECT id, kind, state, lease_owner, lease_until_ms FROM workflows
           WHERE lease_owner IS NOT NULL AND status = 'running' AND lease_until_ms < $1
           ORDER BY lease_until_ms LIMIT $2"#,
        vec![before_ms.into(), (limit as i64).into()],
    )
    .await
}

/// A transaction signed or sent and not mined.
#[derive(Clone, Debug, FromQueryResult)]
pub struct Unmined {
    pub id: Uuid,
    pub signer: String,
    pub nonce: i64,
    pub status: String,
    pub owner_workflow_id: Option<Uuid>,
    pub created_at_ms: i64,
}

/// Transactions of `chain_id` still `signed` or `sent` that were created before `before_ms`,
/// oldest first (through the index of open transactions).
pub async fn unmined_since<C: ConnectionTrait>(
    conn: &C,
    chain_id: i64,
    before_ms: i64,
    limit: u64,
) -> Result<Vec<Unmined>, DbErr> {
    query(
        conn,
        &format!(
            r#"SELECT id, signer, nonce, status, owner_workflow_id, created_at_ms FROM chain_txs
               WHERE chain_id = $1 AND status IN {UNMINED} AND created_at_ms < $2
               ORDER BY created_at_ms LIMIT $3"#
        ),
        vec![chain_id.into(), before_ms.into(), (limit as i64).into()],
    )
    .await
}

/// A signer as stored: the nonce its next transaction gets.
#[derive(Clone, Debug, FromQueryResult)]
pub struct StoredSigner {
    pub address: String,
    pub next_nonce: i64,
}

/// Every signer registered on `chain_id` (a handful: one per key ever used).
pub async fn signers<C: ConnectionTrait>(
    conn: &C,
    chain_id: i64,
) -> Result<Vec<StoredSigner>, DbErr> {
    query(
        conn,
        "SELECT address, next_nonce FROM chain_signers WHERE chain_id = $1 ORDER BY address",
        vec![chain_id.into()],
    )
    .await
}

#[derive(FromQueryResult)]
struct Count {
    n: i64,
}

/// The mints of `token` in one of `states`, counted up to `cap` (through the token index).
pub async fn count_mints<C: ConnectionTrait>(
    conn: &C,
    token: &str,
    states: &[&str],
    cap: u64,
) -> Result<i64, DbErr> {
    let states = super::json_list(states.iter().map(|s| s.to_string()));
    let in_states = match conn.get_database_backend() {
        sea_orm::DbBackend::Postgres => "SELECT jsonb_array_elements_text($2::jsonb)",
        _ => "SELECT value FROM json_each($2)",
    };
    let rows: Vec<Count> = query(
        conn,
        &format!(
            r#"SELECT count(*) AS n FROM (SELECT 1 FROM workflows
                 WHERE token = $1 AND kind = 'mint' AND state IN ({in_states}) LIMIT $3) capped"#
        ),
        vec![token.into(), states.into(), (cap as i64).into()],
    )
    .await?;
    Ok(rows.first().map_or(0, |r| r.n))
}

/// The receipts (`payment_receipts`) of `payments`, as `(payment, settlement hash)`.
pub async fn receipts_of<C: ConnectionTrait>(
    conn: &C,
    payments: &[Uuid],
) -> Result<Vec<(Uuid, Option<String>)>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        payment_id: Uuid,
        tx_hash: Option<String>,
    }
    let ids = super::json_list(payments.iter().map(Uuid::to_string));
    let sql = match conn.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            "SELECT payment_id, tx_hash FROM payment_receipts \
             WHERE payment_id IN (SELECT jsonb_array_elements_text($1::jsonb)::uuid)"
        }
        _ => {
            "SELECT payment_id, tx_hash FROM payment_receipts \
             WHERE payment_id IN (SELECT unhex(replace(value, '-', '')) FROM json_each($1))"
        }
    };
    let rows: Vec<Row> = query(conn, sql, vec![ids.into()]).await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.payment_id, r.tx_hash))
        .collect())
}
