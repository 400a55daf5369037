//! Webhooks: every outbox event a subscription asks for, posted to its URL, signed, retried
//! with backoff until delivered or given up, each attempt's outcome in the delivery log.
//!
//! Delivery is at least once: a receiver that answered 2xx but whose answer was lost (or a
//! process killed between the answer and its record) gets the event again. Receivers dedupe
//! by `Mintflow-Event-Id`. Deliveries are independent, so a receiver that is down delays only
//! its own events, and never the workflows that produced them.
pub mod signature;

use std::time::Duration;

use futures::StreamExt;
use poem_openapi::types::ToJSON;
use rand::Rng;
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::config::SettingsHandle;
use crate::store::{self, webhooks as rows};

/// How often an idle dispatcher looks for new events and due retries.
const POLL: Duration = Duration::from_millis(100);
/// Deliveries claimed per round, and posted at once.
const CLAIM: u64 = 64;
const CONCURRENCY: usize = 16;
/// A receiver gets this long to answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// A claimed delivery is someone else's to retry after this (its sender died).
const LEASE_MS: i64 = 60_000;
/// The longest pause between two attempts.
const MAX_DELAY_MS: i64 = 3_600_000;

/// The webhook dispatcher of one process.
pub struct Dispatcher {
    db: DatabaseConnection,
    settings: SettingsHandle,
    http: reqwest::Client,
}

impl Dispatcher {
    pub fn new(db: DatabaseConnection, settings: SettingsHandle) -> Dispatcher {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            // A redirect would send the signed event somewhere the operator did not name.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mintflow-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("building the webhook HTTP client");
        Dispatcher { db, settings, http }
    }

    /// Fans out and delivers until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            let busy = match self.round().await {
                Ok(busy) => busy,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook dispatcher: round failed; retrying");
                    false
                }
            };
            if busy {
                continue;
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// One fan-out and one batch of sends. True when there may be more to do at once.
    async fn round(&self) -> Result<bool, sea_orm::DbErr> {
        let created = rows::fan_out(&self.db, store::now_ms()).await?;
        let now = store::now_ms();
        let due = rows::claim_due(&self.db, now, now + LEASE_MS, CLAIM).await?;
        let full = due.len() as u64 == CLAIM;
        futures::stream::iter(due)
            .for_each_concurrent(CONCURRENCY, |d| async move {
                let result = self.attempt(&d).await;
                if let Err(e) = rows::record_attempt(&self.db, d.delivery.id, &result).await {
                    // Still claimed: it is tried again once the lease ends.
                    tracing::warn!(error = %e, delivery = d.delivery.id, "recording a webhook attempt failed");
                }
            })
            .await;
        Ok(full || created > 0)
    }

    async fn attempt(&self, d: &rows::DueDelivery) -> rows::AttemptResult {
        let at_ms = store::now_ms();
        let Some(event) = d.event.clone() else {
            return rows::AttemptResult {
                at_ms,
                status_code: None,
                error: Some("the event no longer exists (retention)".into()),
                next: rows::Next::GiveUp,
            };
        };
        let body = crate::api::events::TransitionEvent::from(event).to_json_string();
        let timestamp = at_ms / 1000;
        let request = self
            .http
            .post(&d.url)
            .header("Content-Type", "application/json")
            .header(
                signature::HEADER,
                signature::sign(&d.secret, timestamp, &body),
            )
            .header("Mintflow-Timestamp", timestamp.to_string())
            .header("Mintflow-Event-Id", d.delivery.position.to_string())
            .header("Mintflow-Delivery-Id", d.delivery.id.to_string())
            .body(body);
        let (status_code, error) = match request.send().await {
            Ok(resp) if resp.status().is_success() => {
                return rows::AttemptResult {
                    at_ms,
                    status_code: Some(resp.status().as_u16().into()),
                    error: None,
                    next: rows::Next::Delivered,
                };
            }
            Ok(resp) => (
                Some(resp.status().as_u16().into()),
                format!("the receiver answered {}", resp.status()),
            ),
            Err(e) => (None, format!("could not deliver: {e}")),
        };
        let settings = self.settings.get();
        let attempts = d.delivery.attempts + 1;
        let next = if i64::from(attempts) >= settings.webhook_max_attempts {
            rows::Next::GiveUp
        } else {
            rows::Next::RetryAt(at_ms + retry_delay_ms(attempts, settings.webhook_retry_base_ms))
        };
        rows::AttemptResult {
            at_ms,
            status_code,
            error: Some(error),
            next,
        }
    }
}

/// Exponential backoff after the `attempts`-th failure, capped, with ±20% jitter so that many
/// deliveries failing together do not retry together.
fn retry_delay_ms(attempts: i32, base_ms: i64) -> i64 {
    let exp = base_ms.saturating_mul(1i64 << (attempts - 1).clamp(0, 30));
    let capped = exp.min(MAX_DELAY_MS);
    let jitter = rand::rng().random_range(0.8..1.2);
    (capped as f64 * jitter) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_and_caps() {
        for (attempts, expected) in [(1, 1_000), (2, 2_000), (3, 4_000), (40, MAX_DELAY_MS)] {
            let d = retry_delay_ms(attempts, 1_000);
            assert!(
                (expected * 8 / 10..=expected * 12 / 10).contains(&d),
                "attempt {attempts}: {d}"
            );
        }
    }
}
