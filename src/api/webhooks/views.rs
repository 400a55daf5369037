//! What the webhook routes take and answer: subscriptions, their changes, deliveries.
use chrono::{DateTime, Utc};
use poem_openapi::{ApiResponse, Enum, Object, Tags, payload::Json, types::MaybeUndefined};
use uuid::Uuid;

use crate::api::names::{KindName, StateName};
use crate::api::text::Text;
use crate::app::webhooks::Subscription;
use crate::store::time::{from_ms, opt_from_ms};
use crate::store::webhooks::{DeliveryRow, WebhookRow};

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

impl From<WebhookRow> for Webhook {
    fn from(r: WebhookRow) -> Self {
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

impl From<Subscription> for Webhook {
    fn from(s: Subscription) -> Self {
        Webhook {
            secret: s.new_secret,
            ..s.row.into()
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

    pub(super) fn as_str(self) -> &'static str {
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

impl From<DeliveryRow> for Delivery {
    fn from(d: DeliveryRow) -> Self {
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
