//! Webhook subscriptions (admin): create, list, delete, and read each one's delivery log.
//! The handlers parse and authorize; `app::webhooks` does the rest.
mod views;

use poem::web::Data;
use poem_openapi::{
    OpenApi,
    param::{Header, Path, Query},
    payload::Json,
    types::MaybeUndefined,
};

use super::auth::{Access, Admin, Read};
use super::declared::{Declared, PositionCursor, Shape, UuidText};
use super::error::{
    ApiError, Errors, KeyedBodyById, KeyedById, KeyedCreate, KeyedRead, KeyedUpdate, errors_from,
    parse_uuid,
};
use super::names::{KINDS, STATES, check_filter};
use super::text::Text;
use super::{AppState, parse_position_cursor};
use crate::app::webhooks::{self as subscriptions, Changes, NewSubscription, WebhookError};
pub use views::{
    CreatedWebhook, Deleted, Delivery, DeliveryPage, DeliveryStatus, NewWebhook, Redeliver,
    Redelivered, Webhook, WebhookChanges, WebhooksTag,
};

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::NotFound(_) => ApiError::not_found("webhook_not_found", e.to_string()),
            WebhookError::InvalidUrl(_) => ApiError::unprocessable("invalid_url", e.to_string()),
            WebhookError::TargetRefused(_) => {
                ApiError::unprocessable("webhook_target_refused", e.to_string())
            }
            WebhookError::SecretAndRotation | WebhookError::KeepWithoutNewSecret => {
                ApiError::unprocessable("invalid_value", e.to_string())
            }
            WebhookError::Database(e) => e.into(),
        }
    }
}

errors_from!(WebhookError);

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
        let new = NewSubscription {
            kinds: names("kinds", KINDS, body.kinds)?,
            states: names("states", STATES, body.states)?,
            url: body.url.into_inner(),
            secret: body.secret.map(Text::into_inner),
            description: body.description.map(Text::into_inner),
        };
        let who = auth.actor(actor.0);
        let created =
            subscriptions::create(&app.db, app.webhook_targets, &who, new, &app.clock).await?;
        Ok(CreatedWebhook::Created(Json(created.into())))
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
        let hooks = subscriptions::list(&app.db).await?;
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
        Ok(Json(subscriptions::get(&app.db, id).await?.into()))
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
        let changes = Changes {
            kinds: changed_names("kinds", KINDS, changes.kinds)?,
            states: changed_names("states", STATES, changes.states)?,
            url: changes.url.map(Text::into_inner),
            description: match changes.description {
                MaybeUndefined::Undefined => None,
                description => Some(description.take().map(Text::into_inner)),
            },
            secret: changes.secret.map(Text::into_inner),
            rotate_secret: changes.rotate_secret.unwrap_or(false),
            keep_previous_secret_ms: i64::from(changes.keep_previous_secret_secs.unwrap_or(0))
                * 1000,
        };
        let who = auth.actor(actor.0);
        let updated =
            subscriptions::update(&app.db, app.webhook_targets, &who, id, changes, &app.clock)
                .await?;
        Ok(Json(updated.into()))
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
        subscriptions::delete(&app.db, &auth.actor(actor.0), id, &app.clock).await?;
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
        let reason = reason.as_deref().map(String::as_str);
        let requeued =
            subscriptions::redeliver(&app.db, &who, id, &ids, reason, &app.clock).await?;
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
        let page = subscriptions::deliveries(
            &app.db,
            &app.read_db,
            id,
            status.0.map(DeliveryStatus::as_str),
            parse_position_cursor(cursor.0.map(Declared::into_inner))?,
            limit.0,
        )
        .await?;
        Ok(Json(DeliveryPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next.map(|p| p.to_string()),
        }))
    }
}
fn default_limit() -> u64 {
    50
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_webhook_refusal_has_its_status() {
        let id = uuid::Uuid::nil();
        let cases = [
            (WebhookError::NotFound(id), 404),
            (WebhookError::InvalidUrl("ftp://x".into()), 422),
            (WebhookError::SecretAndRotation, 422),
            (WebhookError::KeepWithoutNewSecret, 422),
        ];
        for (e, status) in cases {
            let message = e.to_string();
            let api = ApiError::from(e);
            assert_eq!(api.status(), status, "{message}");
        }
    }
}
