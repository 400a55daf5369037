//! Queries of the transaction pipeline: signers and their nonces, logical transactions (one per
//! nonce) and their signed attempts.
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult};
use uuid::Uuid;

use super::{exec, query};

/// A logical transaction: one nonce of one signer.
#[derive(Clone, Debug, PartialEq, FromQueryResult)]
pub struct TxRow {
    pub id: Uuid,
    pub chain_id: i64,
    pub signer: String,
    pub nonce: i64,
    pub idempotency_key: String,
    pub owner_workflow_id: Option<Uuid>,
    pub purpose: String,
    pub to_address: Option<String>,
    pub value: String,
    pub input: Vec<u8>,
    pub gas_limit: i64,
    /// `signed` -> `sent` -> `mined` -> `confirmed` | `reverted`; or `failed`.
    pub status: String,
    pub mined_block: Option<i64>,
    pub mined_block_hash: Option<String>,
    pub winner_hash: Option<String>,
    pub contract_address: Option<String>,
    pub gas_used: Option<i64>,
    pub error: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub confirmed_at_ms: Option<i64>,
    /// Consecutive sender passes that read the nonce as used with no receipt for any attempt.
    pub nonce_taken_reads: i64,
}

/// One signed variant of a transaction (the first, or a fee bump).
#[derive(Clone, Debug, PartialEq, FromQueryResult)]
pub struct AttemptRow {
    pub id: i64,
    pub tx_id: Uuid,
    pub hash: String,
    pub raw: Vec<u8>,
    pub max_fee_per_gas: String,
    pub max_priority_fee_per_gas: String,
    /// `tx`, or `filler` for a self-transfer that frees the nonce.
    pub kind: String,
    /// `signed`, `broadcast`, `mined` (the winner) or `replaced`.
    pub status: String,
    pub created_at_ms: i64,
    /// When this attempt was first broadcast.
    pub broadcast_at_ms: Option<i64>,
    /// The chain's head when this attempt was first broadcast (for `bump_after_blocks`).
    pub broadcast_block: Option<i64>,
}

/// Registers a signer whose first free nonce is `chain_nonce`, or raises a known signer's
/// counter to it when transactions were sent outside mintflow. The counter never goes down here.
pub async fn ensure_signer<C: ConnectionTrait>(
    conn: &C,
    chain_id: i64,
    address: &str,
    chain_nonce: i64,
    now: i64,
) -> Result<(), DbErr> {
    exec(
        conn,
        r#"INSERT INTO chain_signers (chain_id, address, next_nonce, sender_fence, updated_at_ms)
           VALUES ($1, $2, $3, 0, $4)
           ON CONFLICT (chain_id, address) DO UPDATE
           SET next_nonce = excluded.next_nonce, updated_at_ms = excluded.updated_at_ms
           WHERE chain_signers.next_nonce < excluded.next_nonce"#,
        vec![
            chain_id.into(),
            address.into(),
            chain_nonce.into(),
            now.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Reads the signer's next nonce and locks its row until the transaction ends, so nonces are
/// handed out one at a time across every process (on SQLite the caller's `BEGIN IMMEDIATE`
/// already holds the database's write lock).
pub async fn lock_next_nonce<C: ConnectionTrait>(
    conn: &C,
    chain_id: i64,
    address: &str,
) -> Result<i64, DbErr> {
    let lock = if conn.get_database_backend() == DbBackend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let rows: Vec<NextNonce> = query(
        conn,
        &format!("SELECT next_nonce FROM chain_signers WHERE chain_id = $1 AND address = $2{lock}"),
        vec![chain_id.into(), address.into()],
    )
    .await?;
    rows.first()
        .map(|r| r.next_nonce)
        .ok_or_else(|| DbErr::RecordNotFound(format!("signer {address} on chain {chain_id}")))
}

#[derive(FromQueryResult)]
struct NextNonce {
    next_nonce: i64,
}

/// Whether `address` signs for mintflow on `chain_id`: every signer any instance ever
/// connected with is registered here, so an old key counts too.
pub async fn is_signer<C: ConnectionTrait>(
    conn: &C,
    chain_id: i64,
    address: &str,
) -> Result<bool, DbErr> {
    let rows: Vec<NextNonce> = query(
        conn,
        "SELECT next_nonce FROM chain_signers WHERE chain_id = $1 AND address = $2",
        vec![chain_id.into(), address.into()],
    )
    .await?;
    Ok(!rows.is_empty())
}

pub async fn set_next_nonce<C: ConnectionTrait>(
    conn: &C,
    chain_id: i64,
    address: &str,
    next: i64,
    now: i64,
) -> Result<(), DbErr> {
    exec(
        conn,
        "UPDATE chain_signers SET next_nonce = $1, updated_at_ms = $2 WHERE chain_id = $3 AND address = $4",
        vec![next.into(), now.into(), chain_id.into(), address.into()],
    )
    .await?;
    Ok(())
}

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
           VALUES ($1, $2, $3, $4, $5, 'signed', $6, $7)"#,
        vec![
            tx_id.into(),
            hash.into(),
            raw.to_vec().into(),
            max_fee_per_gas.to_string().into(),
            max_priority_fee_per_gas.to_string().into(),
            now.into(),
            kind.into(),
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
        "SELECT count(*) AS n FROM chain_txs WHERE chain_id = $1 AND signer = $2 AND status IN ('signed', 'sent', 'mined')",
        vec![chain_id.into(), signer.into()],
    )
    .await?;
    Ok(rows.first().map_or(0, |r| r.n))
}

/// Every transaction of a signer that is not final yet, lowest nonce first.
pub async fn open_txs<C: ConnectionTrait>(
    conn: &C,
    chain_id: i64,
    signer: &str,
) -> Result<Vec<TxRow>, DbErr> {
    query(
        conn,
        r#"SELECT * FROM chain_txs
           WHERE chain_id = $1 AND signer = $2 AND status IN ('signed', 'sent', 'mined')
           ORDER BY nonce"#,
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
        r#"UPDATE chain_tx_attempts SET status = CASE WHEN status = 'signed' THEN 'broadcast' ELSE status END,
               broadcast_at_ms = COALESCE(broadcast_at_ms, $1), broadcast_block = COALESCE(broadcast_block, $2) WHERE id = $3"#,
        vec![now.into(), head.into(), attempt_id.into()],
    )
    .await?;
    exec(
        conn,
        "UPDATE chain_txs SET status = 'sent', updated_at_ms = $1 WHERE id = $2 AND status = 'signed'",
        vec![now.into(), tx_id.into()],
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
        r#"UPDATE chain_txs SET status = 'mined', mined_block = $1, mined_block_hash = $2,
               winner_hash = $3, gas_used = $4, contract_address = $5, updated_at_ms = $6,
               mined_at_ms = $6, effective_gas_price = $7, nonce_taken_at_ms = NULL,
               nonce_taken_reads = 0
           WHERE id = $8 AND status IN ('signed', 'sent', 'mined')"#,
        vec![
            mined.block.into(),
            mined.block_hash.clone().into(),
            mined.winner_hash.clone().into(),
            mined.gas_used.into(),
            mined.contract_address.clone().into(),
            now.into(),
            mined.effective_gas_price.to_string().into(),
            tx_id.into(),
        ],
    )
    .await?;
    exec(
        conn,
        r#"UPDATE chain_tx_attempts SET status = CASE WHEN hash = $1 THEN 'mined' ELSE 'replaced' END
           WHERE tx_id = $2"#,
        vec![mined.winner_hash.clone().into(), tx_id.into()],
    )
    .await?;
    Ok(())
}

/// A reorg removed the mined transaction: it is `sent` again and its attempts are live.
pub async fn unmine<C: ConnectionTrait>(conn: &C, tx_id: Uuid, now: i64) -> Result<(), DbErr> {
    exec(
        conn,
        r#"UPDATE chain_txs SET status = 'sent', mined_block = NULL, mined_block_hash = NULL,
               winner_hash = NULL, gas_used = NULL, contract_address = NULL, updated_at_ms = $1,
               mined_at_ms = NULL, effective_gas_price = NULL
           WHERE id = $2 AND status = 'mined'"#,
        vec![now.into(), tx_id.into()],
    )
    .await?;
    exec(
        conn,
        "UPDATE chain_tx_attempts SET status = 'broadcast' WHERE tx_id = $1 AND status IN ('mined', 'replaced')",
        vec![tx_id.into()],
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
        r#"SELECT t.gas_used, t.effective_gas_price, t.mined_at_ms, t.gas_limit,
               (SELECT a.max_fee_per_gas FROM chain_tx_attempts a WHERE a.tx_id = t.id
                ORDER BY a.id DESC LIMIT 1) AS max_fee_per_gas
           FROM chain_txs t
           WHERE t.chain_id = $1 AND t.signer = $2 AND t.status IN ('signed', 'sent')
           UNION ALL
           SELECT t.gas_used, t.effective_gas_price, t.mined_at_ms, t.gas_limit, NULL
           FROM chain_txs t
           WHERE t.chain_id = $1 AND t.signer = $2 AND t.mined_at_ms >= $3"#,
        vec![chain_id.into(), signer.into(), since.into()],
    )
    .await
}

/// Final outcome: `confirmed`, `reverted` or `failed`, with the reason for the last two.
pub async fn finish<C: ConnectionTrait>(
    conn: &C,
    tx_id: Uuid,
    status: &str,
    error: Option<&str>,
    now: i64,
) -> Result<bool, DbErr> {
    let n = exec(
        conn,
        r#"UPDATE chain_txs SET status = $1, error = $2, confirmed_at_ms = $3, updated_at_ms = $3
           WHERE id = $4 AND status IN ('signed', 'sent', 'mined')"#,
        vec![
            status.into(),
            error.map(str::to_owned).into(),
            now.into(),
            tx_id.into(),
        ],
    )
    .await?;
    Ok(n == 1)
}

/// Takes or renews the sender lease of a signer. Returns the fencing counter while `owner`
/// holds it, `None` while another live process does. A takeover bumps the counter.
pub async fn acquire_sender<C: ConnectionTrait>(
    conn: &C,
    chain_id: i64,
    address: &str,
    owner: &str,
    now: i64,
    lease_ms: i64,
) -> Result<Option<i64>, DbErr> {
    #[derive(FromQueryResult)]
    struct Fence {
        sender_fence: i64,
    }
    let rows: Vec<Fence> = query(
        conn,
        r#"UPDATE chain_signers
           SET sender_fence = CASE WHEN sender_owner = $1 THEN sender_fence ELSE sender_fence + 1 END,
               sender_owner = $1, sender_until_ms = $2
           WHERE chain_id = $3 AND address = $4
             AND (sender_owner IS NULL OR sender_owner = $1 OR sender_until_ms < $5)
           RETURNING sender_fence"#,
        vec![owner.into(), (now + lease_ms).into(), chain_id.into(), address.into(), now.into()],
    )
    .await?;
    Ok(rows.first().map(|r| r.sender_fence))
}

/// True while `owner` still holds the sender lease at `fence`. Checked inside the transaction
/// that creates a replacement attempt, so two senders never sign different replacements.
pub async fn holds_sender<C: ConnectionTrait>(
    conn: &C,
    chain_id: i64,
    address: &str,
    owner: &str,
    fence: i64,
) -> Result<bool, DbErr> {
    #[derive(FromQueryResult)]
    struct One {
        #[allow(dead_code)]
        one: i32,
    }
    let rows: Vec<One> = query(
        conn,
        "SELECT 1 AS one FROM chain_signers WHERE chain_id = $1 AND address = $2 AND sender_owner = $3 AND sender_fence = $4",
        vec![chain_id.into(), address.into(), owner.into(), fence.into()],
    )
    .await?;
    Ok(!rows.is_empty())
}

/// Gives the sender lease up (graceful shutdown).
pub async fn release_sender<C: ConnectionTrait>(
    conn: &C,
    chain_id: i64,
    address: &str,
    owner: &str,
) -> Result<(), DbErr> {
    exec(
        conn,
        "UPDATE chain_signers SET sender_owner = NULL, sender_until_ms = NULL WHERE chain_id = $1 AND address = $2 AND sender_owner = $3",
        vec![chain_id.into(), address.into(), owner.into()],
    )
    .await?;
    Ok(())
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
