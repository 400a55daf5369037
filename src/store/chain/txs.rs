//! Logical transactions and their signed attempts: stored, found, counted.
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

use crate::store::{exec, query};

use super::{AttemptRow, AttemptStatus, OPEN, TxRow, UNMINED};

pub async fn find_by_key<C: ConnectionTrait>(
    conn: &C,
    chain_id: i64,
    key: &str,
) -> Result<Option<TxRow>, DbErr> {
    let rows: Vec<TxRow> = query(
        conn,
        "SELECT * FROM chain_txs WHERE chain_id = $1 AND idempotency_key = $2",
        vec![chain_id.into(), key.into()],
    )
    .await?;
    Ok(rows.into_iter().next())
}

pub async fn find<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<TxRow>, DbErr> {
    let rows: Vec<TxRow> = query(
        conn,
        "SELECT * FROM chain_txs WHERE id = $1",
        vec![id.into()],
    )
    .await?;
    Ok(rows.into_iter().next())
}

pub async fn insert_tx<C: ConnectionTrait>(conn: &C, tx: &TxRow) -> Result<(), DbErr> {
    exec(
        conn,
        r#"INSERT INTO chain_txs (id, chain_id, signer, nonce, idempotency_key, owner_workflow_id,
               purpose, to_address, value, input, gas_limit, status, created_at_ms, updated_at_ms)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)"#,
        vec![
            tx.id.into(),
            tx.chain_id.into(),
            tx.signer.clone().into(),
            tx.nonce.into(),
            tx.idempotency_key.clone().into(),
            tx.owner_workflow_id.into(),
            tx.purpose.clone().into(),
            tx.to_address.clone().into(),
            tx.value.clone().into(),
            tx.input.clone().into(),
            tx.gas_limit.into(),
            tx.status.clone().into(),
            tx.created_at_ms.into(),
        ],
    )
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_attempt<C: ConnectionTrait>(
    conn: &C,
    tx_id: Uuid,
    kind: &str,
    hash: &str,
    raw: &[u8],
    max_fee_per_gas: u128,
    max_priority_fee_per_gas: u128,
    now: i64,
) -> Result<(), DbErr> {
    exec(
        conn,
        r#"INSERT INTO chain_tx_attempts (tx_id, hash, raw, max_fee_per_gas, max_priority_fee_per_gas,
               status, created_at_ms, kind)
           VALUES ($1, $2, $3, $4, $5, $8, $6, $7)"#,
        vec![
            tx_id.into(),
            hash.into(),
            raw.to_vec().into(),
            max_fee_per_gas.to_string().into(),
            max_priority_fee_per_gas.to_string().into(),
            now.into(),
            kind.into(),
            AttemptStatus::Signed.as_str().into(),
        ],
    )
    .await?;
    Ok(())
}

/// Records why the node refused a transaction's bytes (kept until it lands or is freed).
pub async fn set_error<C: ConnectionTrait>(
    conn: &C,
    tx_id: Uuid,
    error: &str,
    now: i64,
) -> Result<(), DbErr> {
    exec(
        conn,
        "UPDATE chain_txs SET error = $1, updated_at_ms = $2 WHERE id = $3",
        vec![error.into(), now.into(), tx_id.into()],
    )
    .await?;
    Ok(())
}

/// How many transactions of a signer are not final yet (the in-flight window).
pub async fn count_open<C: ConnectionTrait>(
    conn: &C,
    chain_id: i64,
    signer: &str,
) -> Result<i64, DbErr> {
    #[derive(FromQueryResult)]
    struct Count {
        n: i64,
    }
    let rows: Vec<Count> = query(
        conn,
        &format!(
            "SELECT count(*) AS n FROM chain_txs WHERE chain_id = $1 AND signer = $2 AND status IN {OPEN}"
        ),
        vec![chain_id.into(), signer.into()],
    )
    .await?;
    Ok(rows.first().map_or(0, |r| r.n))
}

/// One signer's open transactions: how many, and since when its oldest unmined one waits.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct SignerOpen {
    pub signer: String,
    pub open: i64,
    pub oldest_unmined_ms: Option<i64>,
}

/// The open transactions of every signer on `chain_id` that has any (the signer pool's lane
/// choice; one query through the open-transactions index).
pub async fn open_by_signer<C: ConnectionTrait>(
    conn: &C,
    chain_id: i64,
) -> Result<Vec<SignerOpen>, DbErr> {
    query(
        conn,
        &format!(
            "SELECT signer, count(*) AS open, \
                    min(CASE WHEN status IN {UNMINED} THEN created_at_ms END) AS oldest_unmined_ms \
             FROM chain_txs WHERE chain_id = $1 AND status IN {OPEN} GROUP BY signer"
        ),
        vec![chain_id.into()],
    )
    .await
}

/// Every transaction of a signer that is not final yet, lowest nonce first.
pub async fn open_txs<C: ConnectionTrait>(
    conn: &C,
    chain_id: i64,
    signer: &str,
) -> Result<Vec<TxRow>, DbErr> {
    query(
        conn,
        &format!(
            "SELECT * FROM chain_txs WHERE chain_id = $1 AND signer = $2 AND status IN {OPEN} ORDER BY nonce"
        ),
        vec![chain_id.into(), signer.into()],
    )
    .await
}

/// The attempts of a transaction, oldest first.
pub async fn attempts<C: ConnectionTrait>(conn: &C, tx_id: Uuid) -> Result<Vec<AttemptRow>, DbErr> {
    query(
        conn,
        "SELECT * FROM chain_tx_attempts WHERE tx_id = $1 ORDER BY id",
        vec![tx_id.into()],
    )
    .await
}

/// The transactions a workflow sent, oldest first.
pub async fn txs_of_owner<C: ConnectionTrait>(conn: &C, owner: Uuid) -> Result<Vec<TxRow>, DbErr> {
    query(
        conn,
        "SELECT * FROM chain_txs WHERE owner_workflow_id = $1 ORDER BY created_at_ms, nonce",
        vec![owner.into()],
    )
    .await
}

/// The transaction one of whose attempts has hash `hash`.
pub async fn tx_by_hash<C: ConnectionTrait>(conn: &C, hash: &str) -> Result<Option<TxRow>, DbErr> {
    let rows: Vec<TxRow> = query(
        conn,
        "SELECT t.* FROM chain_txs t JOIN chain_tx_attempts a ON a.tx_id = t.id WHERE a.hash = $1",
        vec![hash.into()],
    )
    .await?;
    Ok(rows.into_iter().next())
}
