//! Signers: their nonce counters and the sender lease (one sending process per signer).
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult};

use crate::store::{exec, query};

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
