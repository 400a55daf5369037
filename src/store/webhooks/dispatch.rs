//! Senders' side: due deliveries claimed under a lease, attempts recorded.
use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult, Value};
use serde_json::Value as Json;
use uuid::Uuid;

use crate::store::outbox::OutboxEvent;
use crate::store::{begin_write, exec, query};

use super::*;

/// A delivery claimed for sending, with what it takes to send it. `Debug` leaves the secrets
/// out.
#[derive(Clone)]
pub struct DueDelivery {
    pub delivery: DeliveryRow,
    pub url: String,
    /// The secrets that sign it: the current one, and one being rotated out while it lasts.
    pub secrets: Vec<String>,
    /// The event; `None` when retention removed it before it could be sent.
    pub event: Option<OutboxEvent>,
}

impl std::fmt::Debug for DueDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DueDelivery")
            .field("delivery", &self.delivery)
            .field("url", &self.url)
            .field("event", &self.event)
            .finish_non_exhaustive()
    }
}

/// How many due deliveries to claim, and from whom.
#[derive(Clone, Debug)]
pub struct Claim<'a> {
    pub now_ms: i64,
    /// Claimed deliveries are someone else's to retry after this.
    pub lease_until_ms: i64,
    pub limit: u64,
    /// At most this many of one subscription, so that one slow receiver cannot take every
    /// request slot.
    pub per_webhook: u64,
    /// Subscriptions with requests under way, and how many more each may have now (0: none).
    pub room: &'a [(Uuid, u64)],
}

impl Claim<'_> {
    /// How many more requests `subscription` may have now.
    fn room_of(&self, subscription: Uuid) -> u64 {
        self.room
            .iter()
            .find(|(id, _)| *id == subscription)
            .map_or(self.per_webhook, |(_, left)| *left)
    }
}

/// Claims due deliveries, oldest due first, within `claim`'s bounds.
///
/// Candidates come from each subscription's own oldest due deliveries (`due_ids`), then one
/// statement claims those still due: another sender's claim of the same row pushed its due time
/// ahead, so it is not claimed twice (PostgreSQL also skips rows another claim holds locked).
pub async fn claim_due<C: ConnectionTrait>(
    db: &C,
    claim: &Claim<'_>,
) -> Result<Vec<DueDelivery>, DbErr> {
    let ids = due_ids(db, claim).await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let skip_locked = if db.get_database_backend() == DbBackend::Postgres {
        "FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let marks: Vec<String> = (3..3 + ids.len()).map(|i| format!("${i}")).collect();
    let mut values: Vec<Value> = vec![claim.lease_until_ms.into(), claim.now_ms.into()];
    values.extend(ids.into_iter().map(Value::from));
    let claimed: Vec<DeliveryRow> = query(
        db,
        &format!(
            "UPDATE webhook_deliveries SET next_attempt_at_ms = $1
                 WHERE id IN (
                   SELECT id FROM webhook_deliveries
                   WHERE id IN ({}) AND status = 'pending' AND next_attempt_at_ms <= $2
                   {skip_locked})
                 RETURNING *",
            marks.join(", ")
        ),
        values,
    )
    .await?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    // What it takes to send them, in one query: the subscription's URL and secret, the event.
    let marks: Vec<String> = (1..=claimed.len()).map(|i| format!("${i}")).collect();
    let targets: Vec<Target> = query(
        db,
        &format!(
            r#"SELECT d.id AS delivery_id, h.url, h.secret, h.previous_secret,
                          h.previous_secret_until_ms, w.kind, e.id AS event_id,
                          e.workflow_id, e.event, e.from_state, e.to_state, e.status, e.attempt,
                          e.worker, e.detail, e.at_ms
                   FROM webhook_deliveries d
                   JOIN webhooks h ON h.id = d.webhook_id
                   LEFT JOIN workflow_events e ON e.id = d.event_id
                   LEFT JOIN workflows w ON w.id = e.workflow_id
                   WHERE d.id IN ({})"#,
            marks.join(", ")
        ),
        claimed.iter().map(|d| d.id.into()).collect::<Vec<Value>>(),
    )
    .await?;
    let mut by_id: HashMap<i64, Target> = targets.into_iter().map(|t| (t.delivery_id, t)).collect();
    Ok(claimed
        .into_iter()
        .filter_map(|delivery| {
            // Absent: its subscription was deleted meanwhile, and its deliveries with it.
            let t = by_id.remove(&delivery.id)?;
            let position = delivery.position;
            Some(DueDelivery {
                delivery,
                url: t.url.clone(),
                secrets: t.secrets(claim.now_ms),
                event: t.event(position),
            })
        })
        .collect())
}

/// The ids of the deliveries to claim: each subscription's oldest due ones, as many as it has
/// room for, then the oldest `limit` of those. Each subscription's are read from the index of
/// pending deliveries by subscription and due time, so a read costs what it returns, however
/// long the backlog (ranking every due delivery cost more with each one waiting).
async fn due_ids<C: ConnectionTrait>(db: &C, claim: &Claim<'_>) -> Result<Vec<i64>, DbErr> {
    #[derive(FromQueryResult)]
    struct Subscription {
        id: Uuid,
    }
    #[derive(FromQueryResult)]
    struct Due {
        id: i64,
        next_attempt_at_ms: i64,
    }
    let subscriptions: Vec<Subscription> = query(db, "SELECT id FROM webhooks", vec![]).await?;
    let mut due: Vec<Due> = Vec::new();
    for subscription in subscriptions {
        let room = claim.room_of(subscription.id).min(claim.limit);
        if room == 0 {
            continue;
        }
        let oldest: Vec<Due> = query(
            db,
            "SELECT id, next_attempt_at_ms FROM webhook_deliveries
             WHERE webhook_id = $1 AND status = 'pending' AND next_attempt_at_ms <= $2
             ORDER BY next_attempt_at_ms, id LIMIT $3",
            vec![
                subscription.id.into(),
                claim.now_ms.into(),
                (room as i64).into(),
            ],
        )
        .await?;
        due.extend(oldest);
    }
    due.sort_unstable_by_key(|d| (d.next_attempt_at_ms, d.id));
    due.truncate(claim.limit as usize);
    Ok(due.into_iter().map(|d| d.id).collect())
}

/// A claimed delivery's subscription and event (its columns NULL when retention removed it).
#[derive(FromQueryResult)]
struct Target {
    delivery_id: i64,
    url: String,
    secret: String,
    previous_secret: Option<String>,
    previous_secret_until_ms: Option<i64>,
    kind: Option<String>,
    event_id: Option<i64>,
    workflow_id: Option<Uuid>,
    event: Option<String>,
    from_state: Option<String>,
    to_state: Option<String>,
    status: Option<String>,
    attempt: Option<i32>,
    worker: Option<String>,
    detail: Option<Json>,
    at_ms: Option<i64>,
}

impl Target {
    /// The current secret, then the previous one while its time lasts.
    fn secrets(&self, now_ms: i64) -> Vec<String> {
        let previous = self.previous_secret.clone().filter(|_| {
            self.previous_secret_until_ms
                .is_some_and(|until| now_ms < until)
        });
        std::iter::once(self.secret.clone())
            .chain(previous)
            .collect()
    }

    fn event(self, position: i64) -> Option<OutboxEvent> {
        Some(OutboxEvent {
            position,
            kind: self.kind?,
            event_id: self.event_id?,
            workflow_id: self.workflow_id?,
            event: self.event?,
            from_state: self.from_state,
            to_state: self.to_state?,
            status: self.status?,
            attempt: self.attempt?,
            worker: self.worker,
            detail: self.detail,
            at_ms: self.at_ms?,
        })
    }
}

/// What one attempt came to.
#[derive(Clone, Debug)]
pub struct AttemptResult {
    pub at_ms: i64,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    /// `Delivered`, or retry at a time, or give up.
    pub next: Next,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    Delivered,
    RetryAt(i64),
    GiveUp,
}

/// Records attempts at deliveries, in one transaction.
pub async fn record_attempts(
    db: &DatabaseConnection,
    attempts: &[(i64, AttemptResult)],
) -> Result<(), DbErr> {
    let txn = begin_write(db).await?;
    for (id, result) in attempts {
        let (status, next_at, delivered_at): (&str, Option<i64>, Option<i64>) = match result.next {
            Next::Delivered => ("delivered", None, Some(result.at_ms)),
            Next::RetryAt(at) => ("pending", Some(at), None),
            Next::GiveUp => ("failed", None, None),
        };
        exec(
            &txn,
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1,
                 next_attempt_at_ms = $2, last_status_code = $3, last_error = $4,
                 last_attempt_at_ms = $5, delivered_at_ms = $6
             WHERE id = $7 AND status = 'pending'",
            vec![
                status.into(),
                next_at.into(),
                result.status_code.into(),
                result.error.clone().into(),
                result.at_ms.into(),
                delivered_at.into(),
                (*id).into(),
            ],
        )
        .await?;
    }
    txn.commit().await
}

#[cfg(test)]
mod tests {
    use super::Target;

    fn target(previous: Option<&str>, until_ms: Option<i64>) -> Target {
        Target {
            delivery_id: 1,
            url: "http://127.0.0.1:9/".into(),
            secret: "current".into(),
            previous_secret: previous.map(str::to_owned),
            previous_secret_until_ms: until_ms,
            kind: None,
            event_id: None,
            workflow_id: None,
            event: None,
            from_state: None,
            to_state: None,
            status: None,
            attempt: None,
            worker: None,
            detail: None,
            at_ms: None,
        }
    }

    #[test]
    fn a_rotated_out_secret_signs_until_its_time_is_up() {
        assert_eq!(target(None, None).secrets(1_000), ["current"]);
        let rotating = target(Some("previous"), Some(2_000));
        assert_eq!(rotating.secrets(1_999), ["current", "previous"]);
        assert_eq!(rotating.secrets(2_000), ["current"]);
    }

    #[test]
    fn debug_output_leaves_the_secrets_out() {
        let row = crate::store::webhooks::WebhookRow {
            id: uuid::Uuid::nil(),
            url: "https://example.com/hook".into(),
            secret: "current-secret-value".into(),
            kinds: None,
            states: None,
            description: None,
            cursor: 0,
            created_at_ms: 0,
            created_by: "test".into(),
            previous_secret: Some("previous-secret-value".into()),
            previous_secret_until_ms: Some(1),
        };
        let shown = format!("{row:?}");
        assert!(shown.contains("example.com"), "{shown}");
        assert!(!shown.contains("secret-value"), "{shown}");
    }
}
