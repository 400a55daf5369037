//! Webhooks: every outbox event a subscription asks for, posted to its URL, signed, retried
//! with backoff until delivered or given up, each attempt's outcome in the delivery log.
//!
//! Delivery is at least once: a receiver that answered 2xx but whose answer was lost (or a
//! process killed between the answer and its record) gets the event again. Receivers dedupe
//! by `Mintflow-Event-Id`. Deliveries are independent, so a receiver that is down delays only
//! its own events, and never the workflows that produced them.
pub mod signature;
pub mod target;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use poem_openapi::types::ToJSON;
use rand::Rng;
use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::SettingsHandle;
use crate::engine::outbox::event::TransitionEvent;
use crate::store::{time::Clock, webhooks as rows};
use crate::telemetry::names::WEBHOOK_ATTEMPTS;
use target::{Refused, TargetPolicy};

/// How often an idle dispatcher looks for new events and due retries.
const POLL: Duration = Duration::from_millis(100);
/// Requests under way at once (per process) unless configured (`--webhook-requests`).
pub const CONCURRENCY: usize = 256;
/// Requests under way at once to one subscription unless configured
/// (`--webhook-requests-per-subscription`): a receiver that hangs until the timeout holds at
/// most these slots, and the others keep the rest.
pub const PER_WEBHOOK: usize = 64;
/// Outcomes written to the delivery log per transaction, at most.
const RECORD_BATCH: usize = 512;
/// Seconds a receiver gets to answer unless configured (`--webhook-timeout-secs`).
pub const TIMEOUT_SECS: usize = 10;
/// A claimed delivery is someone else's to retry after this (its sender died).
const LEASE_MS: i64 = 60_000;
/// The longest pause between two attempts.
const MAX_DELAY_MS: i64 = 3_600_000;

/// The webhook dispatcher of one process.
#[derive(Clone)]
pub struct Dispatcher {
    db: DatabaseConnection,
    settings: SettingsHandle,
    http: reqwest::Client,
    /// Where deliveries may go; the client's resolver enforces it for names.
    targets: TargetPolicy,
    /// Requests under way at once, in all and to one subscription.
    concurrency: usize,
    per_webhook: usize,
    /// Requests under way, by subscription.
    in_flight: Arc<Mutex<HashMap<Uuid, usize>>>,
    /// Rung by each request that ends: its subscription may take another slot at once.
    finished: Arc<Notify>,
    /// The time deliveries are created, claimed and attempted at.
    clock: Clock,
}

/// One attempt's outcome, on its way to the delivery log.
type Recorded = (i64, rows::AttemptResult);

impl Dispatcher {
    /// A dispatcher making at most `concurrency` requests at once, `per_webhook` of them to one
    /// subscription (never more than `concurrency`), each given `timeout` to be answered, to
    /// the targets `targets` allows, on `clock`.
    pub fn new(
        db: DatabaseConnection,
        settings: SettingsHandle,
        concurrency: usize,
        per_webhook: usize,
        timeout: Duration,
        targets: TargetPolicy,
        clock: Clock,
    ) -> Dispatcher {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            // Checks the address each connection goes to, after resolution (DNS rebinding).
            .dns_resolver(targets.resolver())
            // A redirect would send the signed event somewhere the operator did not name.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mintflow-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("building the webhook HTTP client");
        Dispatcher {
            db,
            settings,
            http,
            targets,
            concurrency,
            per_webhook: per_webhook.min(concurrency),
            in_flight: Default::default(),
            finished: Default::default(),
            clock,
        }
    }

    /// Fans out and delivers until `stop` is cancelled, then lets the requests under way
    /// finish (each is bounded by the timeout) and records them.
    ///
    /// Each request runs on its own task, so a receiver that answers slowly holds one of the
    /// `concurrency` slots and nothing else; outcomes are written to the log in groups, one
    /// transaction for all that finished meanwhile.
    pub async fn run(self, stop: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.concurrency));
        let (outcomes, recorded) = mpsc::channel::<Recorded>(4 * self.concurrency);
        let recorder = tokio::spawn(record(self.db.clone(), recorded));
        loop {
            let busy = match self.round(&slots, &outcomes).await {
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
                _ = self.finished.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
        // Every slot back: the requests under way are done and their outcomes sent.
        let _ = slots
            .acquire_many(u32::try_from(self.concurrency).unwrap_or(u32::MAX))
            .await;
        drop(outcomes);
        let _ = recorder.await;
    }

    /// One fan-out, and requests for as many due deliveries as there are free slots. True
    /// when there may be more to do at once.
    async fn round(
        &self,
        slots: &Arc<Semaphore>,
        outcomes: &mpsc::Sender<Recorded>,
    ) -> Result<bool, sea_orm::DbErr> {
        let created = rows::fan_out(&self.db, self.clock.now_ms()).await?;
        let free = slots.available_permits() as u64;
        if free == 0 {
            // Wait for a slot rather than spin; the next round claims for it.
            drop(slots.acquire().await);
            return Ok(true);
        }
        let now = self.clock.now_ms();
        let room: Vec<(Uuid, u64)> = self
            .in_flight()
            .iter()
            .map(|(id, n)| (*id, self.per_webhook.saturating_sub(*n) as u64))
            .collect();
        let claim = rows::Claim {
            now_ms: now,
            lease_until_ms: now + LEASE_MS,
            limit: free,
            per_webhook: self.per_webhook as u64,
            room: &room,
        };
        let due = rows::claim_due(&self.db, &claim).await?;
        let full = due.len() as u64 == free;
        for d in due {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let (this, outcomes) = (self.clone(), outcomes.clone());
            let hook = d.delivery.webhook_id;
            *self.in_flight().entry(hook).or_default() += 1;
            tokio::spawn(async move {
                let result = this.attempt(&d).await;
                let outcome = match result.next {
                    rows::Next::Delivered => "delivered",
                    rows::Next::RetryAt(_) => "retry",
                    rows::Next::GiveUp => "failed",
                };
                metrics::counter!(WEBHOOK_ATTEMPTS, "outcome" => outcome).increment(1);
                let _ = outcomes.send((d.delivery.id, result)).await;
                let mut in_flight = this.in_flight();
                if let Some(n) = in_flight.get_mut(&hook) {
                    *n -= 1;
                    if *n == 0 {
                        in_flight.remove(&hook);
                    }
                }
                drop(in_flight);
                drop(slot);
                this.finished.notify_one();
            });
        }
        Ok(full || created > 0)
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, usize>> {
        self.in_flight.lock().expect("in-flight lock")
    }

    async fn attempt(&self, d: &rows::DueDelivery) -> rows::AttemptResult {
        let at_ms = self.clock.now_ms();
        let Some(event) = d.event.clone() else {
            return rows::AttemptResult {
                at_ms,
                status_code: None,
                error: Some("the event no longer exists (retention)".into()),
                next: rows::Next::GiveUp,
            };
        };
        let body = TransitionEvent::from(event).to_json_string();
        let timestamp = at_ms / 1000;
        let request = self
            .http
            .post(&d.url)
            .header("Content-Type", "application/json")
            .header(
                signature::HEADER,
                signature::sign(&d.secrets, timestamp, &body),
            )
            .header("Mintflow-Timestamp", timestamp.to_string())
            .header("Mintflow-Event-Id", d.delivery.position.to_string())
            .header("Mintflow-Delivery-Id", d.delivery.id.to_string())
            .body(body);
        // A literal address never reaches the resolver: it is checked here.
        let refused = reqwest::Url::parse(&d.url)
            .ok()
            .and_then(|url| self.targets.refused_literal(&url));
        let sent = match refused {
            Some(refused) => Err(format!("refused target: {refused}")),
            None => request.send().await.map_err(|e| failure(&e)),
        };
        let (status_code, error) = match sent {
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
            Err(error) => (None, error),
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

/// Writes outcomes to the delivery log as they come, all that are waiting in one transaction.
async fn record(db: DatabaseConnection, mut outcomes: mpsc::Receiver<Recorded>) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while outcomes.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        if let Err(e) = rows::record_attempts(&db, &batch).await {
            // Still claimed: they are tried again once their lease ends.
            tracing::warn!(error = %e, n = batch.len(), "recording webhook attempts failed");
        }
        batch.clear();
    }
}

/// Why a request failed, for the delivery log: a target the policy refused at connect time,
/// or the error and its causes.
fn failure(e: &reqwest::Error) -> String {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(refused) = c.downcast_ref::<Refused>() {
            return format!("refused target: {refused}");
        }
        cause = c.source();
    }
    format!("could not deliver: {}", with_causes(e))
}

/// An error and its causes, `outer: inner: root`: reqwest's own message says only that a
/// request failed, its causes say why (refused, timed out, a certificate, a DNS name).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let part = c.to_string();
        // Some layers repeat their inner error's message in their own.
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    text
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
    fn an_error_names_its_causes() {
        let root = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let outer = std::io::Error::other(root);
        assert_eq!(with_causes(&outer), "refused");
        #[derive(Debug, thiserror::Error)]
        #[error("sending failed")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::other(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        )));
        assert_eq!(with_causes(&e), "sending failed: connection refused");
    }

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
