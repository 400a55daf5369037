//! Examples of webhook subscriptions and their deliveries.
use super::{MINT_ID, WEBHOOK_ID, at, id};
use crate::api::webhooks::{
    Delivery, DeliveryStatus, NewWebhook, Redeliver, Redelivered, Webhook, WebhookChanges,
};
use poem_openapi::types::{Example, MaybeUndefined};

impl Example for NewWebhook {
    fn example() -> Self {
        NewWebhook {
            url: "http://127.0.0.1:8787/hooks/mintflow".into(),
            secret: Some("whsec-7f3a9c2e4b6d8f01a3c5e7".into()),
            kinds: Some(vec!["mint".into(), "payment".into()]),
            states: Some(vec!["confirmed".into(), "failed".into()]),
            description: Some("shop backend: mints and payments that ended".into()),
        }
    }
}

impl Example for WebhookChanges {
    fn example() -> Self {
        WebhookChanges {
            url: Some("http://127.0.0.1:8788/hooks/mintflow".into()),
            kinds: MaybeUndefined::Null,
            states: MaybeUndefined::Value(vec!["confirmed".into()]),
            description: MaybeUndefined::Value("shop backend, new receiver".into()),
            secret: None,
            rotate_secret: Some(true),
            keep_previous_secret_secs: Some(86_400),
        }
    }
}

impl Example for Webhook {
    fn example() -> Self {
        Webhook {
            id: id(WEBHOOK_ID),
            url: "http://127.0.0.1:8787/hooks/mintflow".into(),
            kinds: Some(vec!["mint".into(), "payment".into()]),
            states: Some(vec!["confirmed".into(), "failed".into()]),
            description: Some("shop backend: mints and payments that ended".into()),
            position: 1000,
            created_at: at("2026-12-01T16:15:00Z"),
            created_by: "admin".into(),
            secret: Some("whsec-7f3a9c2e4b6d8f01a3c5e7".into()),
            previous_secret_until: None,
        }
    }
}

impl Example for Delivery {
    fn example() -> Self {
        Delivery {
            id: 311,
            position: 1042,
            event_id: 5310,
            workflow_id: id(MINT_ID),
            status: DeliveryStatus::Delivered,
            attempts: 2,
            next_attempt_at: None,
            last_status_code: Some(200),
            last_error: None,
            created_at: at("2026-12-01T16:20:03.600Z"),
            last_attempt_at: Some(at("2026-12-01T16:20:04.710Z")),
            delivered_at: Some(at("2026-12-01T16:20:04.710Z")),
        }
    }
}

impl Example for Redeliver {
    fn example() -> Self {
        Redeliver {
            delivery_ids: Some(vec![311, 312]),
            reason: Some("the receiver is back".into()),
        }
    }
}

impl Example for Redelivered {
    fn example() -> Self {
        Redelivered { requeued: 2 }
    }
}
