//! The queries behind the dashboard's last hour (`GET /v1/stats/activity`): mints requested
//! and finished per minute, and the signer balance samples. Each reads a range of an index
//! bounded by time, so it costs an hour of rows however long the history is.
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use uuid::Uuid;

use super::mints::MintState;
use super::{exec, query};

/// Milliseconds in a minute: the width of every bucket.
pub const MINUTE_MS: i64 = 60_000;

/// Mints created in one minute.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct MinuteCount {
    /// Unix ms divided by `MINUTE_MS`.
    pub minute: i64,
    pub count: i64,
}

/// Mints created since `from_ms`, per minute. Workflow ids are UUIDv7, whose first 48 bits
/// are their creation time: the smallest id of `from_ms` bounds a range of the primary key.
pub async fn requested_per_minute<C: ConnectionTrait>(
    conn: &C,
    from_ms: i64,
) -> Result<Vec<MinuteCount>, DbErr> {
    let first_id = Uuid::from_u128((from_ms.max(0) as u128) << 80);
    query(
        conn,
        "SELECT created_at_ms / 60000 AS minute, count(*) AS count FROM workflows \
         WHERE id >= $1 AND created_at_ms >= $2 AND kind = 'mint' \
         GROUP BY created_at_ms / 60000",
        vec![first_id.into(), from_ms.into()],
    )
    .await
}

/// A mint that was confirmed or failed.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct FinishedMint {
    pub created_at_ms: i64,
    pub finished_at_ms: i64,
    /// Confirmed; otherwise failed.
    pub confirmed: bool,
}

/// Mints confirmed or failed since `from_ms` (cancelled ones are left out): a range of
/// `idx_workflows_finished`. Rows, not counts: the median wait is taken from them.
pub async fn finished_since<C: ConnectionTrait>(
    conn: &C,
    from_ms: i64,
) -> Result<Vec<FinishedMint>, DbErr> {
    query(
        conn,
        "SELECT created_at_ms, finished_at_ms, state = $2 AS confirmed FROM workflows \
         WHERE finished_at_ms >= $1 AND kind = 'mint' \
           AND (state = $2 OR status = 'failed')",
        vec![from_ms.into(), MintState::Confirmed.as_str().into()],
    )
    .await
}

/// One signer's balance in one minute.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct BalanceSample {
    pub chain_id: i64,
    pub signer: String,
    /// The start of the minute, unix ms.
    pub minute_ms: i64,
    /// Wei, as a decimal string.
    pub balance_wei: String,
}

/// Records a sample, replacing the minute's earlier one (another worker's, or this one's).
pub async fn record_balance<C: ConnectionTrait>(
    conn: &C,
    sample: &BalanceSample,
) -> Result<(), DbErr> {
    exec(
        conn,
        "INSERT INTO signer_balance_samples (chain_id, signer, minute_ms, balance_wei) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (chain_id, signer, minute_ms) \
         DO UPDATE SET balance_wei = excluded.balance_wei",
        vec![
            sample.chain_id.into(),
            sample.signer.clone().into(),
            sample.minute_ms.into(),
            sample.balance_wei.clone().into(),
        ],
    )
    .await?;
    Ok(())
}

/// Deletes the samples of minutes before `before_ms`; how many.
pub async fn delete_balances_before<C: ConnectionTrait>(
    conn: &C,
    before_ms: i64,
) -> Result<u64, DbErr> {
    exec(
        conn,
        "DELETE FROM signer_balance_samples WHERE minute_ms < $1",
        vec![before_ms.into()],
    )
    .await
}

/// Every signer's samples since `from_ms`, by chain, signer and time.
pub async fn balances_since<C: ConnectionTrait>(
    conn: &C,
    from_ms: i64,
) -> Result<Vec<BalanceSample>, DbErr> {
    query(
        conn,
        "SELECT chain_id, signer, minute_ms, balance_wei FROM signer_balance_samples \
         WHERE minute_ms >= $1 ORDER BY chain_id, signer, minute_ms",
        vec![from_ms.into()],
    )
    .await
}
