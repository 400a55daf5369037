//! A subscription's delivery log: paged reads, redelivery, retention.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Value};
use uuid::Uuid;

use crate::store::outbox::{self};
use crate::store::{begin_write, exec, query};

use super::*;

/// Forgets deliveries that are over (delivered, or given up) and were created before
/// `before_ms`: the log would otherwise grow by one row per event and subscription for ever.
/// Pending ones stay whatever their age. Returns how many went.
pub async fn delete_finished_before<C: ConnectionTrait>(
    conn: &C,
    before_ms: i64,
) -> Result<u64, DbErr> {
    exec(
        conn,
        "DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at_ms < $1",
        vec![before_ms.into()],
    )
    .await
}

/// An operator's redelivery, in one transaction with its audit entry: puts subscription
/// `webhook_id`'s given-up deliveries of `ids` (every one when empty) back in the queue. How
/// many, or `None` when there is no such subscription.
pub async fn redeliver(
    db: &DatabaseConnection,
    webhook_id: Uuid,
    ids: &[i64],
    actor: &str,
    reason: Option<&str>,
    now_ms: i64,
) -> Result<Option<u64>, DbErr> {
    let txn = begin_write(db).await?;
    if find(&txn, webhook_id).await?.is_none() {
        return Ok(None);
    }
    let requeued = requeue_failed(&txn, webhook_id, ids, now_ms).await?;
    crate::store::audit::record(
        &txn,
        actor,
        "webhook.redeliver",
        &webhook_id.to_string(),
        Some(serde_json::json!({ "requeued": requeued, "delivery_ids": ids, "reason": reason })),
        now_ms,
    )
    .await?;
    txn.commit().await?;
    tracing::info!(webhook = %webhook_id, by = actor, requeued, "webhook deliveries requeued");
    Ok(Some(requeued))
}

/// Puts a subscription's given-up deliveries back in the queue, due now, with a fresh budget
/// of attempts: those of `ids`, or every one when `ids` is empty. Their last error stays until
/// the next attempt. Returns how many.
async fn requeue_failed<C: ConnectionTrait>(
    conn: &C,
    webhook_id: Uuid,
    ids: &[i64],
    now_ms: i64,
) -> Result<u64, DbErr> {
    let mut values: Vec<Value> = vec![webhook_id.into(), now_ms.into()];
    let mut update = String::from(
        "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at_ms = $2 \
         WHERE webhook_id = $1 AND status = 'failed'",
    );
    outbox::push_in(&mut update, &mut values, "id", ids);
    exec(conn, &update, values).await
}

/// A subscription's deliveries, newest (highest position) first, below position `before` when
/// given, only those in `status` when given. Reads the index on (subscription, position) or on
/// (subscription, status, position): a page costs the same however long the log is.
pub async fn deliveries<C: ConnectionTrait>(
    conn: &C,
    webhook_id: Uuid,
    status: Option<&str>,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<DeliveryRow>, DbErr> {
    let mut values: Vec<Value> = vec![webhook_id.into(), before.unwrap_or(i64::MAX).into()];
    let mut select =
        String::from("SELECT * FROM webhook_deliveries WHERE webhook_id = $1 AND position < $2");
    outbox::push_in(&mut select, &mut values, "status", status.as_slice());
    values.push((limit as i64).into());
    select.push_str(&format!(" ORDER BY position DESC LIMIT ${}", values.len()));
    query(conn, &select, values).await
}
