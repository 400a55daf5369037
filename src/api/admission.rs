//! Admission of mint requests, checked before anything is written: the token registry,
//! per-payer and per-IP rate limits and the queue depth limit (the limits are hot settings).
use std::sync::{Arc, Mutex};

use sea_orm::DatabaseConnection;

use super::edge::RateLimit;
use super::error::ApiError;
use crate::app::mint_queue::MintQueue;
use crate::config::Settings;

/// Shared by every request of a process.
#[derive(Clone, Default)]
pub struct Admission {
    payer: RateLimit,
    ip: RateLimit,
    /// Per API key. Keys have quotas of their own, so one limiter per quota (`RateLimit` is
    /// rebuilt when the rate changes): keys sharing a quota share a limiter, each keyed by id.
    key_quota: QuotaLimiters,
    /// The queue's depth, recent batch times and known tokens, read through short caches.
    queue: MintQueue,
}

/// An API key's own limit on unpaid mints.
#[derive(Clone, Copy, Debug)]
pub struct KeyQuota<'a> {
    pub key_id: &'a str,
    pub per_minute: i64,
}

/// One `RateLimit` per distinct quota.
#[derive(Clone, Default)]
struct QuotaLimiters(Arc<Mutex<std::collections::HashMap<i64, RateLimit>>>);

impl QuotaLimiters {
    fn check(&self, per_minute: i64, key_id: &str, n: u32) -> Result<(), u64> {
        let limiter = self
            .0
            .lock()
            .expect("quota limiters")
            .entry(per_minute)
            .or_default()
            .clone();
        limiter.check(per_minute, key_id, n)
    }
}

/// What admission tells an accepted request.
#[derive(Clone, Copy, Debug)]
pub struct Ticket {
    /// Estimated place in the queue (pending mints ahead, plus this one).
    pub position: i64,
}

impl Admission {
    /// Admits `quantity` mints for `payer` from `ip` (within an API key's own `quota` when
    /// given), or says why not (429).
    pub async fn admit(
        &self,
        db: &DatabaseConnection,
        settings: &Settings,
        payer: &str,
        ip: Option<&str>,
        quota: Option<KeyQuota<'_>>,
        quantity: u32,
    ) -> Result<Ticket, ApiError> {
        // Every limit counts mints, not requests: one request of 100 weighs 100.
        if let Some(quota) = quota {
            self.key_quota
                .check(quota.per_minute, quota.key_id, quantity)
                .map_err(|wait| {
                    ApiError::too_many_requests(
                        "key_quota_exceeded",
                        format!(
                            "this key may queue {} unpaid mints per minute",
                            quota.per_minute
                        ),
                        wait,
                    )
                })?;
        }
        self.payer
            .check(settings.payer_rate_per_minute, payer, quantity)
            .map_err(|wait| {
                ApiError::too_many_requests(
                    "payer_rate_limited",
                    format!(
                        "payer {payer} may queue {} mints per minute",
                        settings.payer_rate_per_minute
                    ),
                    wait,
                )
            })?;
        if let Some(ip) = ip {
            self.ip
                .check(settings.ip_rate_per_minute, ip, quantity)
                .map_err(|wait| {
                    ApiError::too_many_requests(
                        "ip_rate_limited",
                        format!(
                            "this client may queue {} mints per minute",
                            settings.ip_rate_per_minute
                        ),
                        wait,
                    )
                })?;
        }
        let pending = self.queue.pending(db).await?;
        if pending + i64::from(quantity) > settings.max_queue_depth {
            return Err(ApiError::too_many_requests(
                "queue_full",
                format!(
                    "{pending} mints are waiting, the most the queue holds is {}",
                    settings.max_queue_depth
                ),
                1,
            ));
        }
        Ok(Ticket {
            position: pending + 1,
        })
    }

    /// Whether `address` (lowercase hex) is a registered token of chain `chain_id`.
    pub async fn token_known(
        &self,
        db: &DatabaseConnection,
        chain_id: i64,
        address: &str,
    ) -> Result<bool, ApiError> {
        Ok(self.queue.token_known(db, chain_id, address).await?)
    }

    /// Records that `quantity` mints were queued, for the next estimates.
    pub fn admitted(&self, quantity: u32) {
        self.queue.admitted(quantity);
    }

    /// Recent batches' mean time from creation to confirmation, in ms; without any, a guess
    /// from the confirmation depth (about a second per block).
    pub async fn batch_latency_ms(
        &self,
        db: &DatabaseConnection,
        settings: &Settings,
    ) -> Result<f64, ApiError> {
        let ms = self.queue.batch_latency_ms(db).await?;
        Ok(ms.unwrap_or(1000.0 * (settings.confirmations as f64 + 2.0)))
    }
}
