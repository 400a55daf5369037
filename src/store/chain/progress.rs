//! A transaction on its way: broadcast, mined (or unmined by a reorg), its nonce read as taken,
//! its share of the spend budget, and its final outcome.
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

use super::{AttemptStatus, OPEN, TxStatus, UNMINED};
use crate::store::{exec, query};

/// Records a broadcast of `attempt_id` and moves a `signed` transaction to `sent`. The attempt
/// keeps the time and head of its first broadcast (re-broadcasts change neither): confirmation
/// times and `bump_after_blocks` count from there.
pub async fn mark_broadcast<C: ConnectionTrait>(
    conn: &C,
    tx_id: Uuid,
    attempt_id: i64,
    head: i64,
    now: i64,
) -> Result<(), DbErr> {
    exec(
        conn,
        r#"UPDATE chain_tx_attempts SET status = CASE WHEN status = $4 THEN $5 ELSE status END,
               broadcast_at_ms = COALESCE(broadcast_at_ms, $1), broadcast_block = COALESCE(broadcast_block, $2) WHERE id = $3"#,
        vec![
            now.into(),
            head.into(),
            attempt_id.into(),
            AttemptStatus::Signed.as_str().into(),
            AttemptStatus::Broadcast.as_str().into(),
        ],
    )
    .await?;
    exec(
        conn,
        "UPDATE chain_txs SET status = $3, updated_at_ms = $1 WHERE id = $2 AND status = $4",
        vec![
            now.into(),
            tx_id.into(),
            TxStatus::Sent.as_str().into(),
            TxStatus::Signed.as_str().into(),
        ],
    )
    .await?;
    Ok(())
}

/// What a receipt said about a transaction.
#[derive(Clone, Debug)]
pub struct Mined {
    pub block: i64,
    pub block_hash: String,
    pub winner_hash: String,
    pub gas_used: i64,
    /// What it paid per gas (the receipt's effective gas price), in wei.
    pub effective_gas_price: u128,
    pub contract_address: Option<String>,
}

/// Marks the transaction mined by `winner_hash` (at `now`, which the spend budget counts
/// from); every other attempt is `replaced`.
pub async fn mark_mined<C: ConnectionTrait>(
    conn: &C,
    tx_id: Uuid,
    mined: &Mined,
    now: i64,
) -> Result<(), DbErr> {
    exec(
        conn,
        &format!(
            r#"UPDATE chain_txs SET status = $9, mined_block = $1, mined_block_hash = $2,
                   winner_hash = $3, gas_used = $4, contract_address = $5, updated_at_ms = $6,
                   mined_at_ms = $6, effective_gas_price = $7, nonce_taken_at_ms = NULL,
                   nonce_taken_reads = 0
               WHERE id = $8 AND status IN {OPEN}"#
        ),
        vec![
            mined.block.into(),
            mined.block_hash.clone().into(),
            mined.winner_hash.clone().into(),
            mined.gas_used.into(),
            mined.contract_address.clone().into(),
            now.into(),
            mined.effective_gas_price.to_string().into(),
            tx_id.into(),
            TxStatus::Mined.as_str().into(),
        ],
    )
    .await?;
    exec(
        conn,
        "UPDATE chain_tx_attempts SET status = CASE WHEN hash = $1 THEN $3 ELSE $4 END WHERE tx_id = $2",
        vec![
            mined.winner_hash.clone().into(),
            tx_id.into(),
            AttemptStatus::Mined.as_str().into(),
            AttemptStatus::Replaced.as_str().into(),
        ],
    )
    .await?;
    Ok(())
}

/// A reorg removed the mined transaction: it is `sent` again and its attempts are live.
pub async fn unmine<C: ConnectionTrait>(conn: &C, tx_id: Uuid, now: i64) -> Result<(), DbErr> {
    exec(
        conn,
        r#"UPDATE chain_txs SET status = $3, mined_block = NULL, mined_block_hash = NULL,
               winner_hash = NULL, gas_used = NULL, contract_address = NULL, updated_at_ms = $1,
               mined_at_ms = NULL, effective_gas_price = NULL
           WHERE id = $2 AND status = $4"#,
        vec![
            now.into(),
            tx_id.into(),
            TxStatus::Sent.as_str().into(),
            TxStatus::Mined.as_str().into(),
        ],
    )
    .await?;
    exec(
        conn,
        "UPDATE chain_tx_attempts SET status = $2 WHERE tx_id = $1 AND status IN ($3, $4)",
        vec![
            tx_id.into(),
            AttemptStatus::Broadcast.as_str().into(),
            AttemptStatus::Mined.as_str().into(),
            AttemptStatus::Replaced.as_str().into(),
        ],
    )
    .await?;
    Ok(())
}

/// One more pass read the transaction's nonce as used while none of its attempts had a receipt.
/// Returns when that was first read and how many consecutive passes did.
pub async fn note_nonce_taken<C: ConnectionTrait>(
    conn: &C,
    tx_id: Uuid,
    now: i64,
) -> Result<(i64, i64), DbErr> {
    #[derive(FromQueryResult)]
    struct Taken {
        nonce_taken_at_ms: i64,
        nonce_taken_reads: i64,
    }
    let rows: Vec<Taken> = query(
        conn,
        r#"UPDATE chain_txs SET nonce_taken_at_ms = COALESCE(nonce_taken_at_ms, $1),
               nonce_taken_reads = nonce_taken_reads + 1
           WHERE id = $2
           RETURNING nonce_taken_at_ms, nonce_taken_reads"#,
        vec![now.into(), tx_id.into()],
    )
    .await?;
    rows.first()
        .map(|r| (r.nonce_taken_at_ms, r.nonce_taken_reads))
        .ok_or_else(|| DbErr::RecordNotFound(format!("transaction {tx_id}")))
}

/// The nonce no longer reads as used (the node that said so was ahead): the count starts over.
pub async fn forget_nonce_taken<C: ConnectionTrait>(conn: &C, tx_id: Uuid) -> Result<(), DbErr> {
    exec(
        conn,
        "UPDATE chain_txs SET nonce_taken_at_ms = NULL, nonce_taken_reads = 0 WHERE id = $1",
        vec![tx_id.into()],
    )
    .await?;
    Ok(())
}

/// A transaction's share of its signer's gas spend, as stored.
#[derive(Clone, Debug, FromQueryResult)]
pub struct SpendRow {
    pub gas_used: Option<i64>,
    pub effective_gas_price: Option<String>,
    pub mined_at_ms: Option<i64>,
    pub gas_limit: i64,
    /// The newest attempt's.
    pub max_fee_per_gas: Option<String>,
}

/// The signer's transactions that count against its spend budget: every unmined one, and those
/// mined at or after `since` (mined and still open, or final since).
pub async fn spend_since<C: ConnectionTrait>(
    conn: &C,
    chain_id: i64,
    signer: &str,
    since: i64,
) -> Result<Vec<SpendRow>, DbErr> {
    query(
        conn,
        &format!(
            r#"SELECT t.gas_used, t.effective_gas_price, t.mined_at_ms, t.gas_limit,
                   (SELECT a.max_fee_per_gas FROM chain_tx_attempts a WHERE a.tx_id = t.id
                    ORDER BY a.id DESC LIMIT 1) AS max_fee_per_gas
               FROM chain_txs t
               WHERE t.chain_id = $1 AND t.signer = $2 AND t.status IN {UNMINED}
               UNION ALL
               SELECT t.gas_used, t.effective_gas_price, t.mined_at_ms, t.gas_limit, NULL
               FROM chain_txs t
               WHERE t.chain_id = $1 AND t.signer = $2 AND t.mined_at_ms >= $3"#
        ),
        vec![chain_id.into(), signer.into(), since.into()],
    )
    .await
}

/// Final outcome: `Confirmed`, `Reverted` or `Failed`, with the reason for the last two.
pub async fn finish<C: ConnectionTrait>(
    conn: &C,
    tx_id: Uuid,
    status: TxStatus,
    error: Option<&str>,
    now: i64,
) -> Result<bool, DbErr> {
    debug_assert!(!status.is_open(), "{status} is not a final status");
    let n = exec(
        conn,
        &format!(
            r#"UPDATE chain_txs SET status = $1, error = $2, confirmed_at_ms = $3, updated_at_ms = $3
               WHERE id = $4 AND status IN {OPEN}"#
        ),
        vec![
            status.as_str().into(),
            error.map(str::to_owned).into(),
            now.into(),
            tx_id.into(),
        ],
    )
    .await?;
    Ok(n == 1)
}
