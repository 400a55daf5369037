//! Webhook subscriptions as operators manage them: created, changed and deleted with their
//! audit entry in one transaction, their delivery logs read a page at a time, and given-up
//! deliveries sent again. The HTTP API and `mintflow webhooks` both come here.
use rand::RngCore;
use sea_orm::{DatabaseConnection, DbErr};
use uuid::Uuid;

use super::paging::{self, Page};
use crate::store::webhooks::{self as rows, DeliveryRow, WebhookRow};
use crate::store::{self, audit, outbox, time::Clock};
use crate::webhooks::target::{Refused, TargetPolicy};

/// A subscription to create. Kind and state names are checked by the caller against the names
/// it documents.
pub struct NewSubscription {
    pub url: String,
    /// Generated when absent.
    pub secret: Option<String>,
    /// `None`: every kind.
    pub kinds: Option<Vec<String>>,
    /// `None`: every state.
    pub states: Option<Vec<String>>,
    pub description: Option<String>,
}

/// Changes to a subscription: each outer `None` leaves its field as it is.
#[derive(Default)]
pub struct Changes {
    pub url: Option<String>,
    /// `Some(None)`: every kind from now on.
    pub kinds: Option<Option<Vec<String>>>,
    /// `Some(None)`: every state from now on.
    pub states: Option<Option<Vec<String>>>,
    /// `Some(None)` clears it.
    pub description: Option<Option<String>>,
    pub secret: Option<String>,
    pub rotate_secret: bool,
    /// With a new secret: how long the old one still signs beside it; 0 stops it at once.
    pub keep_previous_secret_ms: i64,
}

/// A subscription as stored, with the secret when this call set it (shown only then).
pub struct Subscription {
    pub row: WebhookRow,
    pub new_secret: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no webhook {0}")]
    NotFound(Uuid),
    #[error("`url` must be an absolute http or https URL, got `{0}`")]
    InvalidUrl(String),
    /// The URL names an address deliveries may not go to.
    #[error(transparent)]
    TargetRefused(#[from] Refused),
    #[error("give `secret` or `rotate_secret`, not both")]
    SecretAndRotation,
    #[error("`keep_previous_secret_secs` goes with a new `secret` or `rotate_secret`")]
    KeepWithoutNewSecret,
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// Creates a subscription that receives the transitions committed from now on (its cursor is
/// the outbox head, read in the creating transaction).
pub async fn create(
    db: &DatabaseConnection,
    targets: TargetPolicy,
    who: &str,
    new: NewSubscription,
    clock: &Clock,
) -> Result<Subscription, WebhookError> {
    check_url(&new.url, targets).await?;
    let secret = new.secret.unwrap_or_else(generate_secret);
    let txn = store::begin_write(db).await?;
    let row = WebhookRow {
        id: Uuid::now_v7(),
        url: new.url,
        secret: secret.clone(),
        kinds: new.kinds.map(|k| serde_json::json!(k)),
        states: new.states.map(|s| serde_json::json!(s)),
        description: new.description,
        cursor: outbox::head(&txn).await?,
        created_at_ms: clock.now_ms(),
        created_by: who.to_owned(),
        previous_secret: None,
        previous_secret_until_ms: None,
    };
    rows::save(&txn, &row).await?;
    audit::record(
        &txn,
        who,
        "webhook.create",
        &row.id.to_string(),
        Some(serde_json::json!({
            "url": row.url, "kinds": row.kinds, "states": row.states,
        })),
        row.created_at_ms,
    )
    .await?;
    txn.commit().await?;
    tracing::info!(webhook = %row.id, by = who, "webhook created");
    Ok(Subscription {
        row,
        new_secret: Some(secret),
    })
}

/// Applies `changes` at `clock`'s now; the audit entry names what changed (a secret only as
/// "changed").
pub async fn update(
    db: &DatabaseConnection,
    targets: TargetPolicy,
    who: &str,
    id: Uuid,
    changes: Changes,
    clock: &Clock,
) -> Result<Subscription, WebhookError> {
    if let Some(url) = &changes.url {
        check_url(url, targets).await?;
    }
    let new_secret = match (changes.secret, changes.rotate_secret) {
        (Some(_), true) => return Err(WebhookError::SecretAndRotation),
        (Some(secret), false) => Some(secret),
        (None, true) => Some(generate_secret()),
        (None, false) => None,
    };
    let keep_previous_ms = changes.keep_previous_secret_ms;
    if keep_previous_ms > 0 && new_secret.is_none() {
        return Err(WebhookError::KeepWithoutNewSecret);
    }
    let now = clock.now_ms();
    let txn = store::begin_write(db).await?;
    let mut row = rows::find(&txn, id)
        .await?
        .ok_or(WebhookError::NotFound(id))?;
    let mut changed = serde_json::Map::new();
    if let Some(url) = changes.url {
        changed.insert("url".into(), url.clone().into());
        row.url = url;
    }
    if let Some(kinds) = changes.kinds {
        row.kinds = kinds.map(|k| serde_json::json!(k));
        changed.insert("kinds".into(), row.kinds.clone().into());
    }
    if let Some(states) = changes.states {
        row.states = states.map(|s| serde_json::json!(s));
        changed.insert("states".into(), row.states.clone().into());
    }
    if let Some(description) = changes.description {
        row.description = description;
        changed.insert("description".into(), row.description.clone().into());
    }
    if let Some(secret) = &new_secret {
        let previous = std::mem::replace(&mut row.secret, secret.clone());
        (row.previous_secret, row.previous_secret_until_ms) = if keep_previous_ms > 0 {
            (Some(previous), Some(now + keep_previous_ms))
        } else {
            (None, None)
        };
        changed.insert("secret".into(), "changed".into());
        changed.insert(
            "previous_secret_until".into(),
            serde_json::json!(row.previous_secret_until_ms.map(store::time::from_ms)),
        );
    }
    rows::save(&txn, &row).await?;
    audit::record(
        &txn,
        who,
        "webhook.update",
        &id.to_string(),
        Some(changed.into()),
        now,
    )
    .await?;
    txn.commit().await?;
    tracing::info!(webhook = %id, by = who, "webhook updated");
    Ok(Subscription { row, new_secret })
}

/// Deletes a subscription with its delivery log, at `clock`'s now.
pub async fn delete(
    db: &DatabaseConnection,
    who: &str,
    id: Uuid,
    clock: &Clock,
) -> Result<(), WebhookError> {
    let txn = store::begin_write(db).await?;
    let hook = rows::find(&txn, id)
        .await?
        .ok_or(WebhookError::NotFound(id))?;
    rows::delete(&txn, id).await?;
    audit::record(
        &txn,
        who,
        "webhook.delete",
        &id.to_string(),
        Some(serde_json::json!({ "url": hook.url })),
        clock.now_ms(),
    )
    .await?;
    txn.commit().await?;
    tracing::info!(webhook = %id, by = who, "webhook deleted");
    Ok(())
}

/// Every subscription, oldest first.
pub async fn list(db: &DatabaseConnection) -> Result<Vec<WebhookRow>, DbErr> {
    rows::list(db).await
}

pub async fn get(db: &DatabaseConnection, id: Uuid) -> Result<WebhookRow, WebhookError> {
    rows::find(db, id).await?.ok_or(WebhookError::NotFound(id))
}

/// Puts the given-up deliveries of `ids` (every one when empty) back in the queue, due at
/// `clock`'s now, audited. How many.
pub async fn redeliver(
    db: &DatabaseConnection,
    who: &str,
    id: Uuid,
    ids: &[i64],
    reason: Option<&str>,
    clock: &Clock,
) -> Result<u64, WebhookError> {
    rows::redeliver(db, id, ids, who, reason, clock.now_ms())
        .await?
        .ok_or(WebhookError::NotFound(id))
}

/// Up to `limit` deliveries of subscription `id`, newest first, below position `before`,
/// only those in `status` when given; the next page's cursor is the last one's position. The subscription is looked up on `db` (so one created
/// a moment ago is found); the log is read on `read_db`.
pub async fn deliveries(
    db: &DatabaseConnection,
    read_db: &DatabaseConnection,
    id: Uuid,
    status: Option<&str>,
    before: Option<i64>,
    limit: u64,
) -> Result<Page<DeliveryRow, i64>, WebhookError> {
    get(db, id).await?;
    let rows = rows::deliveries(read_db, id, status, before, limit + 1).await?;
    Ok(paging::cut(rows, limit, |d| d.position))
}

/// An absolute http(s) URL whose host the target policy allows (resolved now; each delivery
/// checks again where it connects).
async fn check_url(url: &str, targets: TargetPolicy) -> Result<(), WebhookError> {
    let parsed = match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
        _ => return Err(WebhookError::InvalidUrl(url.to_owned())),
    };
    Ok(targets.check_url(&parsed).await?)
}

/// 32 random bytes, hex.
fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
