//! What one payer has under way, read in the transaction that creates their next payment:
//! their payments still open (or finished since a moment), and their settlements that reverted
//! on chain. `lock` makes the read and the insert that follows it one step per payer.
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::chain::TxStatus;
use super::{exec, query};

/// The `payment` kind (`workflows::payment::PAYMENT`), and its `PaymentState::Confirmed`.
/// `store` cannot name the workflows' types, so they are spelled here (a test in `workflows`
/// ties them); the SQL writes them out rather than binding them, because the partial indexes
/// these queries use are only chosen for a text that implies their predicate.
pub const PAYMENT: &str = "payment";
pub const CONFIRMED: &str = "confirmed";

/// Serializes the payment intakes of `payer` until the caller's transaction ends, so that two
/// concurrent intakes cannot both see the same open payments and both pass. PostgreSQL: a
/// transaction-scoped advisory lock on a hash of the payer (two payers sharing a hash only wait
/// for each other). SQLite: the caller's `BEGIN IMMEDIATE` already holds the database's write
/// lock.
pub async fn lock<C: ConnectionTrait>(conn: &C, payer: &str) -> Result<(), DbErr> {
    if conn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    exec(
        conn,
        "SELECT pg_advisory_xact_lock($1)",
        vec![lock_key(payer).into()],
    )
    .await?;
    Ok(())
}

/// The advisory lock key of `payer`'s intakes.
fn lock_key(payer: &str) -> i64 {
    let digest = Sha256::digest(format!("mintflow/payer-intake/{payer}"));
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// A payment of the payer, with its checkpoint data.
#[derive(Clone, Debug, PartialEq, FromQueryResult)]
pub struct PaymentRow {
    pub id: Uuid,
    pub data: Json,
    /// `None` while it is under way.
    pub finished_at_ms: Option<i64>,
}

/// `payer`'s payments still under way, and those finished at or after `since_ms`.
pub async fn payments_since<C: ConnectionTrait>(
    conn: &C,
    payer: &str,
    since_ms: i64,
) -> Result<Vec<PaymentRow>, DbErr> {
    // Two selects, each answered by an index: the open ones by `idx_workflows_open_payments`,
    // the recently finished ones by `idx_workflows_finished`.
    query(
        conn,
        &format!(
            r#"SELECT id, data, finished_at_ms FROM workflows
               WHERE kind = '{PAYMENT}' AND payer = $1 AND finished_at_ms IS NULL
               UNION ALL
               SELECT id, data, finished_at_ms FROM workflows
               WHERE kind = '{PAYMENT}' AND payer = $1 AND finished_at_ms >= $2"#
        ),
        vec![payer.into(), since_ms.into()],
    )
    .await
}

#[derive(FromQueryResult)]
struct RevertedAt {
    at_ms: i64,
}

/// When each settlement (a transaction a payment of `payer` sent) that reverted on chain at or
/// after `since_ms` reverted, oldest first. A payment that confirmed all the same (its
/// authorization paid us through another transaction: front-run) does not count; the payer
/// did not make it fail.
pub async fn settlement_reverts_since<C: ConnectionTrait>(
    conn: &C,
    payer: &str,
    since_ms: i64,
) -> Result<Vec<i64>, DbErr> {
    let rows: Vec<RevertedAt> = query(
        conn,
        &format!(
            r#"SELECT t.confirmed_at_ms AS at_ms FROM chain_txs t
               JOIN workflows w ON w.id = t.owner_workflow_id
               WHERE t.status = '{reverted}' AND t.confirmed_at_ms >= $2
                 AND w.kind = '{PAYMENT}' AND w.payer = $1 AND w.state <> '{CONFIRMED}'
               ORDER BY t.confirmed_at_ms"#,
            // Written out, not bound: the text must imply `idx_chain_txs_reverted`'s predicate.
            reverted = TxStatus::Reverted,
        ),
        vec![payer.into(), since_ms.into()],
    )
    .await?;
    Ok(rows.into_iter().map(|r| r.at_ms).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payer_has_one_lock_key() {
        let a = "0x00000000000000000000000000000000000000aa";
        let b = "0x00000000000000000000000000000000000000bb";
        assert_eq!(lock_key(a), lock_key(a));
        assert_ne!(lock_key(a), lock_key(b));
    }
}
