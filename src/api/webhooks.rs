//! Webhook subscriptions (admin): create, list, delete, and read each one's delivery log.
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi, Tags,
    param::{Header, Path, Query},
    payload::Json,
    types::MaybeUndefined,
};
use rand::RngCore;
use uuid::Uuid;

use super::auth::{Access, Admin, Read};
use super::declared::{Declared, PositionCursor, Shape, UuidText};
use super::error::{
    ApiError, Errors, KeyedBodyById, KeyedById, KeyedCreate, KeyedRead, KeyedUpdate, parse_uuid,
};
use super::names::{KINDS, KindName, STATES, StateName, check_filter};
use super::text::Text;
use super::{AppState, parse_position_cursor};
use crate::store::time::{from_ms, opt_from_ms};
use crate::store::{self, audit, outbox, webhooks as rows};
use crate::webhooks::target::TargetPolicy;

#[derive(Tags)]
pub enum WebhooksTag {
    /// Signed HTTP callbacks for workflow transitions (admin).
    Webhooks,
}

/// A new subscription.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
#[oai(example, skip_serializing_if_is_none)]
pub struct NewWebhook {
    /// Where events are POSTed: an absolute `http` or `https` URL.
    #[oai(validator(max_length = 2048))]
    pub url: Text,
    /// The HMAC-SHA256 key (16 to 128 characters). Generated when absent; returned only in
    /// this response.
    #[oai(validator(min_length = 16, max_length = 128))]
    #[oai(nullable)]
    pub secret: Option<Text>,
    /// Only transitions of these kinds; all when absent.
    #[oai(nullable, validator(min_items = 1))]
    pub kinds: Option<Vec<KindName>>,
    /// Only transitions into these states; all when absent.
    #[oai(nullable, validator(min_items = 1))]
    pub states: Option<Vec<StateName>>,
    #[oai(validator(max_length = 256))]
    #[oai(nullable)]
    pub description: Option<Text>,
}

/// Changes to a subscription; what is absent stays as it is.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
#[oai(example, skip_serializing_if_is_none)]
pub struct WebhookChanges {
    /// A new absolute `http` or `https` URL. Pending retries go there too. Absent or `null`:
    /// unchanged.
    #[oai(nullable, validator(max_length = 2048))]
    pub url: Option<Text>,
    /// New kinds; `null` for all. Applies to events from now on.
    #[oai(nullable, validator(min_items = 1))]
    pub kinds: MaybeUndefined<Vec<KindName>>,
    /// New states; `null` for all. Applies to events from now on.
    #[oai(nullable, validator(min_items = 1))]
    pub states: MaybeUndefined<Vec<StateName>>,
    /// `null` clears it.
    #[oai(nullable, validator(max_length = 256))]
    pub description: MaybeUndefined<Text>,
    /// A new secret (16 to 128 characters); every request from now on, retries included, is
    /// signed with it. Returned once, in this response.
    #[oai(nullable, validator(min_length = 16, max_length = 128))]
    pub secret: Option<Text>,
    /// `true`: generate a new secret, returned once, in this response.
    #[oai(nullable)]
    pub rotate_secret: Option<bool>,
    /// With a new secret: how long the old one still signs beside it (up to 7 days), so the
    /// receiver can switch at its own pace. Each request then carries two `v1` signatures,
    /// the new one first. 0 or absent: the old one stops at once.
    #[oai(
        rename = "keepPreviousSecretSeconds",
        nullable,
        validator(minimum(value = "0"), maximum(value = "604800"))
    )]
    pub keep_previous_secret_secs: Option<u32>,
}

/// A subscription. The secret is shown once, when it is created.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
#[oai(example)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    #[oai(nullable)]
    pub kinds: Option<Vec<KindName>>,
    #[oai(nullable)]
    pub states: Option<Vec<StateName>>,
    #[oai(nullable)]
    pub description: Option<String>,
    /// The last outbox position fanned out to its delivery log.
    pub position: i64,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// Only in the answer to its creation or to a change of secret: keep it, it signs every
    /// request.
    #[oai(nullable)]
    pub secret: Option<String>,
    /// After a rotation that kept the old secret: until when it still signs too.
    #[oai(nullable)]
    pub previous_secret_until: Option<DateTime<Utc>>,
}

impl From<rows::WebhookRow> for Webhook {
    fn from(r: rows::WebhookRow) -> Self {
        let (kinds, states) = (
            r.kinds
                .is_some()
                .then(|| r.kind_list().into_iter().map(Into::into).collect()),
            r.states
                .is_some()
                .then(|| r.state_list().into_iter().map(Into::into).collect()),
        );
        Webhook {
            id: r.id,
            url: r.url,
            kinds,
            states,
            description: r.description,
            position: r.cursor,
            created_at: from_ms(r.created_at_ms),
            created_by: r.created_by,
            secret: None,
            previous_secret_until: opt_from_ms(r.previous_secret_until_ms),
        }
    }
}

/// Where a delivery is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up after `webhook_max_attempts`; `POST .../redeliver` sends it again.
    Failed,
}

impl DeliveryStatus {
    /// The status a delivery row stores; anything but delivered or given up still waits.
    fn stored(status: &str) -> DeliveryStatus {
        match status {
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            _ => DeliveryStatus::Pending,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
}

/// One event's delivery to one subscription.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
#[oai(example)]
pub struct Delivery {
    pub id: i64,
    /// The event's outbox position (its `Mintflow-Event-Id`).
    pub position: i64,
    pub event_id: i64,
    pub workflow_id: Uuid,
    pub status: DeliveryStatus,
    pub attempts: i32,
    /// When it is tried next, while pending.
    #[oai(nullable)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last answer, if there was one.
    #[oai(nullable)]
    pub last_status_code: Option<i32>,
    #[oai(nullable)]
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub last_attempt_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<rows::DeliveryRow> for Delivery {
    fn from(d: rows::DeliveryRow) -> Self {
        Delivery {
            id: d.id,
            position: d.position,
            event_id: d.event_id,
            workflow_id: d.workflow_id,
            status: DeliveryStatus::stored(&d.status),
            attempts: d.attempts,
            next_attempt_at: opt_from_ms(d.next_attempt_at_ms),
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            created_at: from_ms(d.created_at_ms),
            last_attempt_at: opt_from_ms(d.last_attempt_at_ms),
            delivered_at: opt_from_ms(d.delivered_at_ms),
        }
    }
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct DeliveryPage {
    pub items: Vec<Delivery>,
    /// Pass as `cursor` for older deliveries; absent on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// Which given-up deliveries to send again.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
#[oai(example, skip_serializing_if_is_none)]
pub struct Redeliver {
    /// Up to 500 delivery ids from the log; every failed delivery of the subscription when
    /// absent. Ids that are not failed (delivered, pending, unknown) are left alone.
    #[oai(validator(min_items = 1, max_items = 500))]
    #[oai(nullable)]
    pub delivery_ids: Option<Vec<i64>>,
    /// Why; kept in the audit log.
    #[oai(validator(max_length = 1000))]
    #[oai(nullable)]
    pub reason: Option<Text>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
#[oai(example)]
pub struct Redelivered {
    /// Deliveries put back in the queue, due now, each with a fresh `webhook_max_attempts`.
    pub requeued: u64,
}

#[derive(ApiResponse)]
pub enum CreatedWebhook {
    /// Created; it receives every matching transition from now on.
    #[oai(status = 201)]
    Created(Json<Webhook>),
}

#[derive(ApiResponse)]
pub enum Deleted {
    /// Deleted, with its delivery log; pending deliveries are dropped.
    #[oai(status = 204)]
    Deleted,
}

pub struct WebhooksApi;

#[OpenApi(prefix_path = "/v1/webhooks", tag = "WebhooksTag::Webhooks")]
impl WebhooksApi {
    /// Subscribe a URL to workflow transitions
    ///
    /// Who may call: `admin` (a key with that scope, or `ADMIN_TOKEN`); recorded in the audit
    /// log. Not idempotent: each call creates another subscription.
    ///
    /// The subscription receives every transition committed after its creation whose workflow
    /// kind is in `kinds` and whose new state is in `states` (all when absent). The secret is
    /// in this answer only: keep it. The URL must be an absolute `http`/`https` URL (422
    /// `invalid_url`) naming a public address (422 `webhook_target_refused` for loopback,
    /// private, link-local, CGNAT and other non-public addresses, unless the server runs with
    /// `WEBHOOK_ALLOW_PRIVATE_TARGETS`; each delivery checks the resolved address again).
    ///
    /// **The request mintflow sends** for each event: `POST <url>` with
    /// `Content-Type: application/json`, `User-Agent: mintflow-webhooks/<version>`, and as body
    /// one `TransitionEvent` (that schema: the same JSON as a server-sent event's `data`), with
    /// these headers:
    ///
    /// | header | value |
    /// |---|---|
    /// | `Mintflow-Signature` | `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the secret>`; while a rotated-out secret still signs (`keep_previous_secret_secs`), a second `v1` follows: accept any that matches |
    /// | `Mintflow-Timestamp` | the same `t`: refuse requests more than a few minutes old |
    /// | `Mintflow-Event-Id` | the event's `position`: deduplicate on it |
    /// | `Mintflow-Delivery-Id` | the delivery's `id` in `GET /v1/webhooks/{id}/deliveries` |
    ///
    /// **Retries.** An answer with a 2xx status within 10 s delivers the event; anything else
    /// (another status, no answer, a redirect, which is never followed) is tried again after
    /// `webhook_retry_base_ms` (1 s), doubling up to an hour, with jitter, until
    /// `webhook_max_attempts` (20) attempts, about 8 hours with the defaults; the delivery is
    /// then `failed` in the log until `POST /v1/webhooks/{id}/redeliver`. Delivery is at least
    /// once and up to 64 requests to one subscription run at once, so events may arrive twice
    /// or out of order: deduplicate on `Mintflow-Event-Id` and order by `position`.
    #[oai(path = "/", method = "post", operation_id = "create_webhook")]
    async fn create(
        &self,
        app: Data<&AppState>,
        auth: Access<Admin>,
        body: Json<NewWebhook>,
        /// Who is acting (default `admin`); kept in the audit log.
        #[oai(name = "X-Actor")]
        actor: Header<Option<String>>,
    ) -> Result<CreatedWebhook, Errors<KeyedCreate>> {
        let body = body.0;
        check_url(&body.url, app.webhook_targets).await?;
        let kinds = names("kinds", KINDS, body.kinds)?;
        let states = names("states", STATES, body.states)?;
        let secret = body.secret.map_or_else(generate_secret, Text::into_inner);
        let who = auth.actor(actor.0);
        let txn = store::begin_write(&app.db).await?;
        let row = rows::WebhookRow {
            id: Uuid::now_v7(),
            url: body.url.into_inner(),
            secret: secret.clone(),
            kinds: kinds.map(|k| serde_json::json!(k)),
            states: states.map(|s| serde_json::json!(s)),
            description: body.description.map(Text::into_inner),
            cursor: outbox::head(&txn).await?,
            created_at_ms: store::now_ms(),
            created_by: who.clone(),
            previous_secret: None,
            previous_secret_until_ms: None,
        };
        rows::save(&txn, &row).await?;
        audit::record(
            &txn,
            &who,
            "webhook.create",
            &row.id.to_string(),
            Some(serde_json::json!({
                "url": row.url, "kinds": row.kinds, "states": row.states,
            })),
        )
        .await?;
        txn.commit().await?;
        tracing::info!(webhook = %row.id, by = who, "webhook created");
        let mut created = Webhook::from(row);
        created.secret = Some(secret);
        Ok(CreatedWebhook::Created(Json(created)))
    }

    /// List the webhook subscriptions
    ///
    /// Who may call: a key with the `read` scope (or `admin`).
    ///
    /// Every subscription, oldest first, never with its secret. Not paged.
    #[oai(path = "/", method = "get", operation_id = "list_webhooks")]
    async fn list(
        &self,
        app: Data<&AppState>,
        _auth: Access<Read>,
    ) -> Result<Json<Vec<Webhook>>, Errors<KeyedRead>> {
        let hooks = rows::list(&app.db).await?;
        Ok(Json(hooks.into_iter().map(Into::into).collect()))
    }

    /// Get one webhook subscription
    ///
    /// Who may call: a key with the `read` scope (or `admin`).
    ///
    /// The subscription without its secret; 404 `webhook_not_found` for an unknown id.
    #[oai(path = "/:id", method = "get", operation_id = "get_webhook")]
    async fn get(
        &self,
        app: Data<&AppState>,
        _auth: Access<Read>,
        id: Path<UuidText>,
    ) -> Result<Json<Webhook>, Errors<KeyedById>> {
        let id = parse_uuid("id", &id.0)?;
        let hook = rows::find(&app.db, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        Ok(Json(hook.into()))
    }

    /// Change a webhook subscription
    ///
    /// Who may call: `admin` (a key with that scope, or `ADMIN_TOKEN`); recorded in the audit
    /// log (never the secret).
    ///
    /// Changes its URL, filters, description or secret; what the body leaves out stays as it
    /// is, and `null` clears `kinds`, `states` (all) or `description`. The subscription keeps
    /// its place in the event order and its delivery log. A new secret (`secret`, or
    /// `rotate_secret: true` to generate one) is in this answer only; with
    /// `keep_previous_secret_secs` the old one signs beside it for that long. Sending the
    /// same change again leaves the same subscription (a generated secret is new each time).
    #[oai(path = "/:id", method = "patch", operation_id = "update_webhook")]
    async fn update(
        &self,
        app: Data<&AppState>,
        auth: Access<Admin>,
        id: Path<UuidText>,
        body: Json<WebhookChanges>,
        /// Who is acting (default `admin`); kept in the audit log.
        #[oai(name = "X-Actor")]
        actor: Header<Option<String>>,
    ) -> Result<Json<Webhook>, Errors<KeyedUpdate>> {
        let id = parse_uuid("id", &id.0)?;
        let changes = body.0;
        if let Some(url) = &changes.url {
            check_url(url, app.webhook_targets).await?;
        }
        let new_secret = match (changes.secret, changes.rotate_secret.unwrap_or(false)) {
            (Some(_), true) => {
                return Err(ApiError::unprocessable(
                    "invalid_value",
                    "give `secret` or `rotate_secret`, not both",
                )
                .into());
            }
            (Some(secret), false) => Some(secret.into_inner()),
            (None, true) => Some(generate_secret()),
            (None, false) => None,
        };
        let keep_previous_ms = i64::from(changes.keep_previous_secret_secs.unwrap_or(0)) * 1000;
        if keep_previous_ms > 0 && new_secret.is_none() {
            return Err(ApiError::unprocessable(
                "invalid_value",
                "`keep_previous_secret_secs` goes with a new `secret` or `rotate_secret`",
            )
            .into());
        }
        let kinds = changed_names("kinds", KINDS, changes.kinds)?;
        let states = changed_names("states", STATES, changes.states)?;
        let who = auth.actor(actor.0);
        let txn = store::begin_write(&app.db).await?;
        let mut row = rows::find(&txn, id).await?.ok_or_else(|| not_found(id))?;
        let mut changed = serde_json::Map::new();
        if let Some(url) = changes.url.map(Text::into_inner) {
            changed.insert("url".into(), url.clone().into());
            row.url = url;
        }
        if let Some(kinds) = kinds {
            row.kinds = kinds.map(|k| serde_json::json!(k));
            changed.insert("kinds".into(), row.kinds.clone().into());
        }
        if let Some(states) = states {
            row.states = states.map(|s| serde_json::json!(s));
            changed.insert("states".into(), row.states.clone().into());
        }
        match changes.description {
            MaybeUndefined::Undefined => {}
            description => {
                row.description = description.take().map(Text::into_inner);
                changed.insert("description".into(), row.description.clone().into());
            }
        }
        if let Some(secret) = &new_secret {
            let previous = std::mem::replace(&mut row.secret, secret.clone());
            (row.previous_secret, row.previous_secret_until_ms) = if keep_previous_ms > 0 {
                (Some(previous), Some(store::now_ms() + keep_previous_ms))
            } else {
                (None, None)
            };
            changed.insert("secret".into(), "changed".into());
            changed.insert(
                "previous_secret_until".into(),
                serde_json::json!(row.previous_secret_until_ms.map(from_ms)),
            );
        }
        rows::save(&txn, &row).await?;
        audit::record(
            &txn,
            &who,
            "webhook.update",
            &id.to_string(),
            Some(changed.into()),
        )
        .await?;
        txn.commit().await?;
        tracing::info!(webhook = %id, by = who, "webhook updated");
        let mut updated = Webhook::from(row);
        updated.secret = new_secret;
        Ok(Json(updated))
    }

    /// Delete a webhook subscription
    ///
    /// Who may call: `admin` (a key with that scope, or `ADMIN_TOKEN`); recorded in the audit
    /// log.
    ///
    /// Deletes it with its delivery log; its pending deliveries are dropped. 404
    /// `webhook_not_found` when it does not exist (or was deleted already).
    #[oai(path = "/:id", method = "delete", operation_id = "delete_webhook")]
    async fn delete(
        &self,
        app: Data<&AppState>,
        auth: Access<Admin>,
        id: Path<UuidText>,
        /// Who is acting (default `admin`); kept in the audit log.
        #[oai(name = "X-Actor")]
        actor: Header<Option<String>>,
    ) -> Result<Deleted, Errors<KeyedById>> {
        let id = parse_uuid("id", &id.0)?;
        let who = auth.actor(actor.0);
        let txn = store::begin_write(&app.db).await?;
        let hook = rows::find(&txn, id).await?.ok_or_else(|| not_found(id))?;
        rows::delete(&txn, id).await?;
        audit::record(
            &txn,
            &who,
            "webhook.delete",
            &id.to_string(),
            Some(serde_json::json!({ "url": hook.url })),
        )
        .await?;
        txn.commit().await?;
        tracing::info!(webhook = %id, by = who, "webhook deleted");
        Ok(Deleted::Deleted)
    }

    /// Send a subscription's given-up deliveries again
    ///
    /// Who may call: `admin` (a key with that scope, or `ADMIN_TOKEN`); recorded in the audit
    /// log.
    ///
    /// For a receiver that was down longer than the retries lasted: the deliveries `failed`
    /// after `webhook_max_attempts` (those of `delivery_ids`, or all of them) are due again at
    /// once, each with a fresh `webhook_max_attempts`, to the subscription's current URL and
    /// signed with its current secret. Deliveries that are not failed are left alone, so
    /// repeating the call requeues nothing twice.
    #[oai(
        path = "/:id/redeliver",
        method = "post",
        operation_id = "redeliver_webhook"
    )]
    async fn redeliver(
        &self,
        app: Data<&AppState>,
        auth: Access<Admin>,
        id: Path<UuidText>,
        body: Json<Redeliver>,
        /// Who is acting (default `admin`); kept in the audit log.
        #[oai(name = "X-Actor")]
        actor: Header<Option<String>>,
    ) -> Result<Json<Redelivered>, Errors<KeyedBodyById>> {
        let id = parse_uuid("id", &id.0)?;
        let who = auth.actor(actor.0);
        let Redeliver {
            delivery_ids,
            reason,
        } = body.0;
        let ids = delivery_ids.unwrap_or_default();
        let requeued = rows::redeliver(
            &app.db,
            id,
            &ids,
            &who,
            reason.as_deref().map(String::as_str),
        )
        .await?
        .ok_or_else(|| not_found(id))?;
        Ok(Json(Redelivered { requeued }))
    }

    /// List a subscription's deliveries
    ///
    /// Who may call: a key with the `read` scope (or `admin`).
    ///
    /// The delivery log, the newest event (highest position) first, each delivery with its
    /// attempts, last answer or error and next attempt; `status` keeps one status. Paged: pass
    /// the answer's next cursor back as `cursor` for the next page.
    #[oai(
        path = "/:id/deliveries",
        method = "get",
        operation_id = "list_webhook_deliveries"
    )]
    async fn deliveries(
        &self,
        app: Data<&AppState>,
        _auth: Access<Read>,
        id: Path<UuidText>,
        /// Page size, 1 to 500.
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "500"))
        )]
        limit: Query<u64>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<PositionCursor>>,
        /// Only deliveries in this status.
        status: Query<Option<DeliveryStatus>>,
    ) -> Result<Json<DeliveryPage>, Errors<KeyedById>> {
        let id = parse_uuid("id", &id.0)?;
        rows::find(&app.db, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        let status = status.0.map(DeliveryStatus::as_str);
        let mut items = rows::deliveries(
            &app.read_db,
            id,
            status,
            parse_position_cursor(cursor.0.map(Declared::into_inner))?,
            limit.0 + 1,
        )
        .await?;
        let next_cursor = if items.len() as u64 > limit.0 {
            items.truncate(limit.0 as usize);
            items.last().map(|d| d.position.to_string())
        } else {
            None
        };
        Ok(Json(DeliveryPage {
            items: items.into_iter().map(Into::into).collect(),
            next_cursor,
        }))
    }
}

fn default_limit() -> u64 {
    50
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::not_found("webhook_not_found", format!("no webhook {id}"))
}

/// An absolute http(s) URL whose host the target policy allows (resolved now; each delivery
/// checks again where it connects).
async fn check_url(url: &str, targets: TargetPolicy) -> Result<(), ApiError> {
    let parsed = match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
        _ => {
            return Err(ApiError::unprocessable(
                "invalid_url",
                format!("`url` must be an absolute http or https URL, got `{url}`"),
            ));
        }
    };
    targets
        .check_url(&parsed)
        .await
        .map_err(|refused| ApiError::unprocessable("webhook_target_refused", refused.to_string()))
}

fn changed_names<S: Shape>(
    field: &str,
    known: &[(&str, &str)],
    list: MaybeUndefined<Vec<Declared<S>>>,
) -> Result<Option<Option<Vec<String>>>, ApiError> {
    match list {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Ok(Some(None)),
        MaybeUndefined::Value(list) => Ok(Some(names(field, known, Some(list))?)),
    }
}

/// Kind and state names are the ones the document lists; a typo should fail here, not match
/// nothing.
fn names<S: Shape>(
    field: &str,
    known: &[(&str, &str)],
    list: Option<Vec<Declared<S>>>,
) -> Result<Option<Vec<String>>, ApiError> {
    // An empty list never gets here: the document's `minItems` refuses it (400).
    let Some(list) = list else { return Ok(None) };
    check_filter(field, known, list.iter().map(|n| n.as_str()))
        .map_err(|message| ApiError::unprocessable("invalid_filter", message))?;
    Ok(Some(list.into_iter().map(Declared::into_inner).collect()))
}

/// 32 random bytes, hex.
fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
