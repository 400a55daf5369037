//! Queries behind batched settlement: the verified payments parked in `processing` until the
//! settlement batcher takes them into a `settlement_batch`.
use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use serde_json::Value as Json;
use uuid::Uuid;

use super::{row, rows};

/// Payments waiting for a settlement batch, written as the live-workflows index spells its
/// predicate (`finished_at_ms IS NULL`), so PostgreSQL reads only that index.
const QUEUED: &str = "kind = 'payment' AND state = 'processing' AND status = 'waiting' \
                      AND finished_at_ms IS NULL";

/// How many payments wait for a settlement batch, and when the oldest of them was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Queue {
    pub count: i64,
    pub oldest_ms: Option<i64>,
}

pub async fn queue<C: ConnectionTrait>(conn: &C) -> Result<Queue, DbErr> {
    let sql =
        format!("SELECT count(*) AS n, min(created_at_ms) AS oldest FROM workflows WHERE {QUEUED}");
    let r = row(conn, &sql, vec![]).await?;
    Ok(match r {
        Some(r) => Queue {
            count: r.try_get("", "n")?,
            oldest_ms: r.try_get("", "oldest")?,
        },
        None => Queue {
            count: 0,
            oldest_ms: None,
        },
    })
}

/// Locks the `limit` oldest payments waiting for a settlement batch for the caller's
/// transaction, with their checkpoints. On PostgreSQL, `SKIP LOCKED` lets the batchers of
/// several processes take disjoint sets at once; on SQLite the transaction is
/// `BEGIN IMMEDIATE`, which already excludes every other writer.
pub async fn lock_queued<C: ConnectionTrait>(
    conn: &C,
    limit: i64,
) -> Result<Vec<(Uuid, Json)>, DbErr> {
    let lock = if conn.get_database_backend() == DbBackend::Postgres {
        "FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!("SELECT id, data FROM workflows WHERE {QUEUED} ORDER BY id LIMIT $1 {lock}");
    rows(conn, &sql, vec![limit.into()])
        .await?
        .iter()
        .map(|r| Ok((r.try_get("", "id")?, r.try_get("", "data")?)))
        .collect()
}
