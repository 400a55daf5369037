//! Queries behind the mint queue: what the batcher takes, what the queue API shows.
use std::cmp::Ordering;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, Order,
    QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde_json::Value as Json;
use uuid::Uuid;

mod states;

pub use states::MintState;
pub(crate) use states::{IN_BATCH, QUEUED};

use super::entity::workflow;
use super::events::{self, NewEvent};
use super::workflows::Actor;
use super::{count, exec, row, rows};

/// A pending mint's place in its token's queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueuePlace {
    pub priority: i16,
    /// UUIDv7: grows with the time the mint was queued.
    pub id: Uuid,
}

impl Ord for QueuePlace {
    /// The batcher's claim order: `Less` is taken first (higher priority, then older).
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .priority
            .cmp(&self.priority)
            .then(self.id.cmp(&other.id))
    }
}

impl PartialOrd for QueuePlace {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The workflow kinds of this module.
pub const MINT: &str = "mint";
pub const MINT_BATCH: &str = "mint_batch";

/// The pending mints of one token.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct PendingGroup {
    pub token: String,
    pub count: i64,
    pub oldest_ms: i64,
}

/// Pending mints by token (scans only the partial index of the queue).
pub async fn pending_groups<C: ConnectionTrait>(conn: &C) -> Result<Vec<PendingGroup>, DbErr> {
    let backend = conn.get_database_backend();
    PendingGroup::find_by_statement(Statement::from_string(
        backend,
        format!(
            r#"SELECT token, count(*) AS count, min(created_at_ms) AS oldest_ms FROM workflows
               WHERE {QUEUED} AND token IS NOT NULL
               GROUP BY token"#
        ),
    ))
    .all(conn)
    .await
}

/// A pending mint taken into a batch.
#[derive(Clone, Debug)]
pub struct QueuedMint {
    pub place: QueuePlace,
    pub data: Json,
}

/// Locks the first `limit` pending mints of `token` in claim order (highest priority, then
/// oldest; see `workflows::priority`) for the caller's transaction. On
/// PostgreSQL, `SKIP LOCKED` lets batchers of several processes take disjoint sets at once; on
/// SQLite the transaction is `BEGIN IMMEDIATE`, which already excludes every other writer.
pub async fn lock_pending<C: ConnectionTrait>(
    conn: &C,
    token: &str,
    limit: i64,
) -> Result<Vec<QueuedMint>, DbErr> {
    let backend = conn.get_database_backend();
    let lock = if backend == DbBackend::Postgres {
        "FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let queued = format!(
        r#"SELECT id, priority, data FROM workflows
           WHERE {QUEUED} AND token = $1
           ORDER BY priority DESC, id LIMIT $2 {lock}"#
    );
    rows(conn, &queued, vec![token.into(), limit.into()])
        .await?
        .iter()
        .map(|r| {
            Ok(QueuedMint {
                place: QueuePlace {
                    priority: r.try_get("", "priority")?,
                    id: r.try_get("", "id")?,
                },
                data: r.try_get("", "data")?,
            })
        })
        .collect()
}

/// The batches of `token` not yet final (formed, signed or sent; a batch parked for a
/// migration too, as its transaction may still land), with their checkpoints. A final
/// workflow, and only a final one, has `finished_at_ms`: saying so lets the read use the
/// index of live workflows instead of scanning every workflow of the token (every mint).
pub async fn open_batches<C: ConnectionTrait>(
    conn: &C,
    token: &str,
) -> Result<Vec<(Uuid, Json)>, DbErr> {
    let open = r#"SELECT id, data FROM workflows
                  WHERE kind = 'mint_batch' AND token = $1 AND finished_at_ms IS NULL
                    AND status NOT IN ('completed', 'failed', 'cancelled')"#;
    rows(conn, open, vec![token.into()])
        .await?
        .iter()
        .map(|r| Ok((r.try_get("", "id")?, r.try_get("", "data")?)))
        .collect()
}

/// Mints of `token` carried by a batch (`processing` or `sent`), whatever their status: a
/// mint cancelled once in a batch is still sent. Read from its own partial index (migration
/// 15), which holds these rows only.
pub async fn count_in_batches<C: ConnectionTrait>(conn: &C, token: &str) -> Result<i64, DbErr> {
    let in_batches = format!(
        r#"SELECT count(*) AS n FROM workflows
           WHERE kind = 'mint' AND token = $1 AND state IN {IN_BATCH}"#
    );
    count(conn, &in_batches, vec![token.into()]).await
}

/// Serialises the batchers of several processes over `token`'s supply until the caller's
/// transaction ends (a PostgreSQL transaction-level advisory lock): each one counts the
/// batches the others committed. SQLite's `BEGIN IMMEDIATE` already excludes other writers.
pub async fn lock_token_supply<C: ConnectionTrait>(conn: &C, token: &str) -> Result<(), DbErr> {
    if conn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock(hashtext('mintflow/supply/' || $1))",
        [token.into()],
    ))
    .await?;
    Ok(())
}

/// How many pending mints of `token` the batcher takes before the one at `place`, plus one.
pub async fn position<C: ConnectionTrait>(
    conn: &C,
    token: &str,
    place: QueuePlace,
) -> Result<i64, DbErr> {
    let before = format!(
        r#"SELECT count(*) AS n FROM workflows
           WHERE {QUEUED}
             AND token = $1 AND (priority > $2 OR (priority = $2 AND id <= $3))"#
    );
    let values = vec![token.into(), place.priority.into(), place.id.into()];
    count(conn, &before, values).await
}

/// What setting a mint's priority came to.
#[derive(Clone, Debug)]
pub enum Reprioritized {
    /// The mint as it is now.
    Done(Box<workflow::Model>),
    NotFound,
    /// The mint left the queue (or never joined it): its state, which the priority no longer
    /// changes anything for.
    NotPending(String),
}

/// Sets a pending mint's priority for `who`, with a `reprioritized` history event and a
/// `mint.priority` audit entry, in one transaction. A mint a batcher is taking right now is
/// locked until the batch commits; it is then no longer pending.
pub async fn set_priority(
    db: &sea_orm::DatabaseConnection,
    id: Uuid,
    priority: i16,
    who: &Actor,
    now: i64,
) -> Result<Reprioritized, DbErr> {
    let txn = super::begin_write(db).await?;
    let find = || {
        workflow::Entity::find_by_id(id)
            .filter(workflow::Column::Kind.eq(MINT))
            .one(&txn)
    };
    let Some(before) = find().await? else {
        return Ok(Reprioritized::NotFound);
    };
    let set = format!(
        r#"UPDATE workflows SET priority = $1, updated_at_ms = $2
           WHERE id = $3 AND {QUEUED}"#
    );
    let changed = exec(&txn, &set, vec![priority.into(), now.into(), id.into()]).await?;
    let Some(after) = find().await? else {
        return Ok(Reprioritized::NotFound);
    };
    if changed != 1 {
        return Ok(Reprioritized::NotPending(after.state));
    }
    let detail = serde_json::json!({ "from": before.priority, "to": priority, "by": who });
    events::insert(
        &txn,
        &[NewEvent {
            workflow_id: id,
            event: "reprioritized".into(),
            from_state: Some(after.state.clone()),
            to_state: after.state.clone(),
            status: after.status.clone(),
            attempt: after.attempt,
            worker: None,
            detail: Some(detail.clone()),
            at_ms: now,
        }],
    )
    .await?;
    super::audit::record(
        &txn,
        &who.actor,
        "mint.priority",
        &id.to_string(),
        Some(detail),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(Reprioritized::Done(Box::new(after)))
}

/// Mints by state and status.
#[derive(Clone, Debug, FromQueryResult)]
pub struct StateCount {
    pub state: String,
    pub status: String,
    pub count: i64,
}

pub async fn counts<C: ConnectionTrait>(conn: &C) -> Result<Vec<StateCount>, DbErr> {
    workflow::Entity::find()
        .select_only()
        .column(workflow::Column::State)
        .column(workflow::Column::Status)
        .column_as(workflow::Column::Id.count(), "count")
        .filter(workflow::Column::Kind.eq(MINT))
        .group_by(workflow::Column::State)
        .group_by(workflow::Column::Status)
        .into_model::<StateCount>()
        .all(conn)
        .await
}

/// The queue right now: how many wait, since when, for how many payers.
#[derive(Clone, Debug, Default, FromQueryResult)]
pub struct PendingStats {
    pub count: i64,
    pub oldest_ms: Option<i64>,
    pub unique_payers: i64,
}

pub async fn pending_stats<C: ConnectionTrait>(conn: &C) -> Result<PendingStats, DbErr> {
    let backend = conn.get_database_backend();
    Ok(PendingStats::find_by_statement(Statement::from_string(
        backend,
        format!(
            r#"SELECT count(*) AS count, min(created_at_ms) AS oldest_ms,
                      count(DISTINCT payer) AS unique_payers
               FROM workflows WHERE {QUEUED}"#
        ),
    ))
    .one(conn)
    .await?
    .unwrap_or_default())
}

/// The newest batches.
pub async fn recent_batches<C: ConnectionTrait>(
    conn: &C,
    limit: u64,
) -> Result<Vec<workflow::Model>, DbErr> {
    workflow::Entity::find()
        .filter(workflow::Column::Kind.eq(MINT_BATCH))
        .order_by(workflow::Column::Id, Order::Desc)
        .limit(limit)
        .all(conn)
        .await
}

/// Workflows of `kind` by idempotency key (the mints of one multi-quantity request).
pub async fn find_by_keys<C: ConnectionTrait>(
    conn: &C,
    kind: &str,
    keys: &[String],
) -> Result<Vec<workflow::Model>, DbErr> {
    workflow::Entity::find()
        .filter(workflow::Column::Kind.eq(kind))
        .filter(workflow::Column::IdempotencyKey.is_in(keys.iter().cloned()))
        .all(conn)
        .await
}

/// Mean time from a batch's creation to its confirmation over its `n` latest confirmed
/// batches, in ms: what a new mint can expect once it is taken into a batch. Read newest first
/// from the index of batches (migration 15), not from every workflow.
pub async fn recent_batch_latency_ms<C: ConnectionTrait>(
    conn: &C,
    n: i64,
) -> Result<Option<f64>, DbErr> {
    let latency = r#"SELECT avg(CAST(finished_at_ms - created_at_ms AS DOUBLE PRECISION)) AS ms
                     FROM (SELECT finished_at_ms, created_at_ms FROM workflows
                           WHERE kind = 'mint_batch' AND status = 'completed'
                           ORDER BY id DESC LIMIT $1) recent"#;
    let row = row(conn, latency, vec![n.into()]).await?;
    Ok(row.and_then(|r| r.try_get::<Option<f64>>("", "ms").ok().flatten()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn higher_priority_is_taken_first_then_the_oldest() {
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
        let mut queue = [
            QueuePlace {
                priority: 0,
                id: ids[0],
            },
            QueuePlace {
                priority: 0,
                id: ids[1],
            },
            QueuePlace {
                priority: 5,
                id: ids[3],
            },
            QueuePlace {
                priority: 5,
                id: ids[2],
            },
        ];
        queue.sort();
        let order: Vec<Uuid> = queue.iter().map(|p| p.id).collect();
        assert_eq!(order, [ids[2], ids[3], ids[0], ids[1]]);
    }
}
