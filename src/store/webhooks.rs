//! Webhook subscriptions and their delivery log.
//!
//! Fan-out copies each matching outbox event into one delivery row per subscription (unique by
//! subscription and position, so a repeated fan-out adds nothing), then moves the
//! subscription's cursor, in one transaction. Senders claim due deliveries by pushing their due
//! time ahead (a lease): a sender that dies leaves them due again after the lease.
use std::collections::HashMap;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult, Statement, Value,
};
use serde_json::Value as Json;
use uuid::Uuid;

use super::outbox::{self, OutboxEvent, OutboxFilter};
use super::{begin_write, exec, query, sql};

/// Events fanned out per subscription per round.
const FAN_OUT_BATCH: u64 = 1_000;

/// A subscription. `Debug` leaves the secrets out, so no log line can carry them.
#[derive(Clone, PartialEq, FromQueryResult)]
pub struct WebhookRow {
    pub id: Uuid,
    pub url: String,
    /// The HMAC key. Never returned after creation, never logged.
    pub secret: String,
    /// JSON array of kinds, or NULL for all.
    pub kinds: Option<Json>,
    /// JSON array of states (`to_state`), or NULL for all.
    pub states: Option<Json>,
    pub description: Option<String>,
    pub cursor: i64,
    pub created_at_ms: i64,
    pub created_by: String,
    /// The secret before the last rotation, still signing beside `secret` until
    /// `previous_secret_until_ms`. Never returned, never logged.
    pub previous_secret: Option<String>,
    pub previous_secret_until_ms: Option<i64>,
}

impl std::fmt::Debug for WebhookRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRow")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("kinds", &self.kinds)
            .field("states", &self.states)
            .field("cursor", &self.cursor)
            .field("previous_secret_until_ms", &self.previous_secret_until_ms)
            .finish_non_exhaustive()
    }
}

impl WebhookRow {
    pub fn kind_list(&self) -> Vec<String> {
        strings(&self.kinds)
    }

    pub fn state_list(&self) -> Vec<String> {
        strings(&self.states)
    }
}

fn strings(list: &Option<Json>) -> Vec<String> {
    list.as_ref()
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Clone, Debug, PartialEq, FromQueryResult)]
pub struct DeliveryRow {
    pub id: i64,
    pub webhook_id: Uuid,
    pub position: i64,
    pub event_id: i64,
    pub workflow_id: Uuid,
    /// `pending`, `delivered` or `failed` (gave up).
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at_ms: Option<i64>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at_ms: i64,
    pub last_attempt_at_ms: Option<i64>,
    pub delivered_at_ms: Option<i64>,
}

const WEBHOOK_COLUMNS: &str = "id, url, secret, kinds, states, description, cursor, \
     created_at_ms, created_by, previous_secret, previous_secret_until_ms";

/// Stores a subscription: a new one whole, or for an existing one its settable columns (url,
/// secrets, filters, description), keeping its cursor and creation. A new one receives events
/// from its `cursor` (the outbox head when created) on. Runs in the caller's transaction
/// (with its audit entry).
pub async fn save<C: ConnectionTrait>(conn: &C, row: &WebhookRow) -> Result<(), DbErr> {
    exec(
        conn,
        &format!(
            "INSERT INTO webhooks ({WEBHOOK_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (id) DO UPDATE SET url = excluded.url, secret = excluded.secret, \
             kinds = excluded.kinds, states = excluded.states, \
             description = excluded.description, previous_secret = excluded.previous_secret, \
             previous_secret_until_ms = excluded.previous_secret_until_ms"
        ),
        vec![
            row.id.into(),
            row.url.clone().into(),
            row.secret.clone().into(),
            row.kinds.clone().into(),
            row.states.clone().into(),
            row.description.clone().into(),
            row.cursor.into(),
            row.created_at_ms.into(),
            row.created_by.clone().into(),
            row.previous_secret.clone().into(),
            row.previous_secret_until_ms.into(),
        ],
    )
    .await?;
    Ok(())
}

pub async fn list<C: ConnectionTrait>(conn: &C) -> Result<Vec<WebhookRow>, DbErr> {
    query(
        conn,
        &format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY id"),
        Vec::new(),
    )
    .await
}

pub async fn find<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<WebhookRow>, DbErr> {
    let found: Vec<WebhookRow> = query(
        conn,
        &format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1"),
        vec![id.into()],
    )
    .await?;
    Ok(found.into_iter().next())
}

/// Deletes a subscription and its delivery log. False when there was none.
pub async fn delete<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<bool, DbErr> {
    // Deliveries first: SQLite enforces the foreign key but its cascade needs the pragma on
    // every connection; deleting them here works on both.
    exec(
        conn,
        "DELETE FROM webhook_deliveries WHERE webhook_id = $1",
        vec![id.into()],
    )
    .await?;
    let deleted = exec(conn, "DELETE FROM webhooks WHERE id = $1", vec![id.into()]).await?;
    Ok(deleted == 1)
}

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
) -> Result<Option<u64>, DbErr> {
    let txn = begin_write(db).await?;
    if find(&txn, webhook_id).await?.is_none() {
        return Ok(None);
    }
    let requeued = requeue_failed(&txn, webhook_id, ids, super::now_ms()).await?;
    super::audit::record(
        &txn,
        actor,
        "webhook.redeliver",
        &webhook_id.to_string(),
        Some(serde_json::json!({ "requeued": requeued, "delivery_ids": ids, "reason": reason })),
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

/// Copies new outbox events into deliveries for every subscription behind the head. Returns
/// how many deliveries it created.
pub async fn fan_out(db: &DatabaseConnection, now_ms: i64) -> Result<u64, DbErr> {
    let head = outbox::head(db).await?;
    let backend = db.get_database_backend();
    let behind = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql(backend, "SELECT id FROM webhooks WHERE cursor < $1 LIMIT 1"),
            [head.into()],
        ))
        .await?;
    if behind.is_none() {
        return Ok(0);
    }
    let txn = begin_write(db).await?;
    let lock = match backend {
        // Another instance fanning out a subscription keeps it; this one takes the rest.
        DbBackend::Postgres => format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE cursor < $1 ORDER BY id FOR UPDATE SKIP LOCKED"
        ),
        _ => format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE cursor < $1 ORDER BY id"),
    };
    let hooks: Vec<WebhookRow> = query(&txn, &lock, vec![head.into()]).await?;
    let mut created = 0;
    for hook in hooks {
        let filter = OutboxFilter {
            kinds: hook.kind_list(),
            workflow_id: None,
            to_states: hook.state_list(),
        };
        let events = outbox::read(&txn, hook.cursor, &filter, FAN_OUT_BATCH).await?;
        // A short read saw every match up to `head`.
        let cursor = if (events.len() as u64) < FAN_OUT_BATCH {
            head
        } else {
            events.last().map_or(hook.cursor, |e| e.position)
        };
        for chunk in events.chunks(200) {
            created += insert_deliveries(&txn, hook.id, chunk, now_ms).await?;
        }
        exec(
            &txn,
            "UPDATE webhooks SET cursor = $1 WHERE id = $2",
            vec![cursor.into(), hook.id.into()],
        )
        .await?;
    }
    txn.commit().await?;
    Ok(created)
}

async fn insert_deliveries<C: ConnectionTrait>(
    conn: &C,
    webhook_id: Uuid,
    events: &[OutboxEvent],
    now_ms: i64,
) -> Result<u64, DbErr> {
    if events.is_empty() {
        return Ok(0);
    }
    let mut values: Vec<Value> = Vec::with_capacity(events.len() * 4 + 2);
    values.push(webhook_id.into());
    values.push(now_ms.into());
    let rows: Vec<String> = events
        .iter()
        .map(|e| {
            values.push(e.position.into());
            values.push(e.event_id.into());
            values.push(e.workflow_id.into());
            let n = values.len();
            format!("($1, ${}, ${}, ${}, 'pending', 0, $2, $2)", n - 2, n - 1, n)
        })
        .collect();
    let statement = format!(
        "INSERT INTO webhook_deliveries (webhook_id, position, event_id, workflow_id, status, \
         attempts, next_attempt_at_ms, created_at_ms) VALUES {} \
         ON CONFLICT (webhook_id, position) DO NOTHING",
        rows.join(", ")
    );
    exec(conn, &statement, values).await
}

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

/// Claims due deliveries, oldest due first, within `claim`'s bounds.
pub async fn claim_due(
    db: &DatabaseConnection,
    claim: &Claim<'_>,
) -> Result<Vec<DueDelivery>, DbErr> {
    let backend = db.get_database_backend();
    let skip_locked = if backend == DbBackend::Postgres {
        "FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let mut values: Vec<Value> = vec![
        claim.lease_until_ms.into(),
        claim.now_ms.into(),
        (claim.limit as i64).into(),
        (claim.per_webhook as i64).into(),
    ];
    // Full subscriptions are left out; the others with requests under way get their room.
    let mut skipped = String::new();
    let mut room = String::from("$4");
    if !claim.room.is_empty() {
        let mut full = Vec::new();
        let mut cases = Vec::new();
        for (id, left) in claim.room {
            values.push((*id).into());
            let hook = format!("${}", values.len());
            if *left == 0 {
                full.push(hook);
            } else {
                values.push((*left as i64).into());
                cases.push(format!("WHEN {hook} THEN ${}", values.len()));
            }
        }
        if !full.is_empty() {
            skipped = format!("AND webhook_id NOT IN ({})", full.join(", "));
        }
        if !cases.is_empty() {
            room = format!("CASE webhook_id {} ELSE $4 END", cases.join(" "));
        }
    }
    // The window ranks each subscription's due deliveries; the outer select locks (PostgreSQL
    // allows no FOR UPDATE next to a window function).
    let claimed: Vec<DeliveryRow> = query(
        db,
        &format!(
            "UPDATE webhook_deliveries SET next_attempt_at_ms = $1
                 WHERE id IN (
                   SELECT id FROM webhook_deliveries WHERE id IN (
                     SELECT id FROM (
                       SELECT id, webhook_id, row_number() OVER (PARTITION BY webhook_id
                                                     ORDER BY next_attempt_at_ms, id) AS rank
                       FROM webhook_deliveries
                       WHERE status = 'pending' AND next_attempt_at_ms <= $2 {skipped}) ranked
                     WHERE rank <= {room})
                   ORDER BY next_attempt_at_ms, id LIMIT $3 {skip_locked})
                 RETURNING *"
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
        let row = super::WebhookRow {
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
