//! Webhook subscriptions and their delivery log.
//!
//! Fan-out copies each matching outbox event into one delivery row per subscription (unique by
//! subscription and position, so a repeated fan-out adds nothing), then moves the
//! subscription's cursor, in one transaction. Senders claim due deliveries by pushing their due
//! time ahead (a lease): a sender that dies leaves them due again after the lease.
mod deliveries;
mod dispatch;
mod fan_out;

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use serde_json::Value as Json;
use uuid::Uuid;

use crate::store::{exec, query};

pub use deliveries::*;
pub use dispatch::*;
pub use fan_out::*;

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
