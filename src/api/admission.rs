//! Admission of mint requests, checked before anything is written: the token registry,
//! per-payer and per-IP rate limits and the queue depth limit (the limits are hot settings).
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::DatabaseConnection;

use super::edge::RateLimit;
use super::error::ApiError;
use crate::config::Settings;
use crate::store;

/// How long a reading of the queue depth serves admission (one count per window, not one per
/// request).
const DEPTH_TTL: Duration = Duration::from_millis(100);

/// Shared by every request of a process.
#[derive(Clone, Default)]
pub struct Admission {
    payer: RateLimit,
    ip: RateLimit,
    /// Per API key. Keys have quotas of their own, so one limiter per quota (`RateLimit` is
    /// rebuilt when the rate changes): keys sharing a quota share a limiter, each keyed by id.
    key_quota: QuotaLimiters,
    depth: Arc<Mutex<Depth>>,
    latency: Arc<Mutex<Latency>>,
    /// Tokens found in the registry (never removed from it, so never stale).
    known_tokens: Arc<Mutex<HashSet<(i64, String)>>>,
}

/// How long a measured batch latency serves estimates.
const LATENCY_TTL: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Latency {
    read_at: Option<Instant>,
    ms: Option<f64>,
}

#[derive(Default)]
struct Depth {
    read_at: Option<Instant>,
    pending: i64,
    /// Admitted in this process since the reading.
    admitted: i64,
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
        let pending = self.pending(db).await?;
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
        let key = (chain_id, address.to_owned());
        if self
            .known_tokens
            .lock()
            .expect("tokens lock")
            .contains(&key)
        {
            return Ok(true);
        }
        let found = store::tokens::find(db, chain_id, address).await?.is_some();
        if found {
            self.known_tokens.lock().expect("tokens lock").insert(key);
        }
        Ok(found)
    }

    /// Records that `quantity` mints were queued, for the next estimates.
    pub fn admitted(&self, quantity: u32) {
        self.depth.lock().expect("depth lock").admitted += i64::from(quantity);
    }

    /// Recent batches' mean time from creation to confirmation, in ms; without any, a guess
    /// from the confirmation depth (about a second per block).
    pub async fn batch_latency_ms(
        &self,
        db: &DatabaseConnection,
        settings: &Settings,
    ) -> Result<f64, ApiError> {
        let cached = {
            let l = self.latency.lock().expect("latency lock");
            l.read_at
                .filter(|at| at.elapsed() < LATENCY_TTL)
                .map(|_| l.ms)
        };
        let ms = match cached {
            Some(ms) => ms,
            None => {
                let ms = store::mints::recent_batch_latency_ms(db, 20).await?;
                *self.latency.lock().expect("latency lock") = Latency {
                    read_at: Some(Instant::now()),
                    ms,
                };
                ms
            }
        };
        Ok(ms.unwrap_or(1000.0 * (settings.confirmations as f64 + 2.0)))
    }

    /// The queue depth: a recent reading plus what this process admitted since.
    async fn pending(&self, db: &DatabaseConnection) -> Result<i64, ApiError> {
        {
            let d = self.depth.lock().expect("depth lock");
            if d.read_at.is_some_and(|at| at.elapsed() < DEPTH_TTL) {
                return Ok(d.pending + d.admitted);
            }
        }
        let stats = store::mints::pending_stats(db).await?;
        let mut d = self.depth.lock().expect("depth lock");
        *d = Depth {
            read_at: Some(Instant::now()),
            pending: stats.count,
            admitted: 0,
        };
        Ok(stats.count)
    }
}
