//! Hot settings: stored in `system_settings`, validated here, reloaded by every process on a
//! schedule and at once in the process that changed them.
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sea_orm::{DatabaseConnection, DbErr};
use serde_json::Value as Json;

use crate::store;

/// One tunable: its key, meaning and allowed range. Every setting is an integer.
#[derive(Clone, Copy, Debug)]
pub struct SettingSpec {
    pub key: &'static str,
    pub description: &'static str,
    pub default: i64,
    pub min: i64,
    pub max: i64,
}

/// Every setting mintflow knows, with the defaults the first migration seeds.
pub const SPECS: &[SettingSpec] = &[
    SettingSpec {
        key: "max_batch_size",
        description: "Most mints in one batchMint transaction.",
        default: 100,
        min: 1,
        max: 2000,
    },
    SettingSpec {
        key: "max_batch_wait_ms",
        description: "Longest a pending mint waits before its batch is flushed, in ms.",
        default: 500,
        min: 0,
        max: 600_000,
    },
    SettingSpec {
        key: "max_settlement_batch_size",
        description: "Most payments of one asset settled in one Settler transaction (with a settler configured).",
        default: 200,
        min: 1,
        max: 2000,
    },
    SettingSpec {
        key: "max_settlement_wait_ms",
        description: "Longest a verified payment waits before its settlement batch is flushed, in ms.",
        default: 500,
        min: 0,
        max: 600_000,
    },
    SettingSpec {
        key: "retry_max_attempts",
        description: "Attempts of a step failing with transient errors before its workflow fails.",
        default: 10,
        min: 1,
        max: 1000,
    },
    SettingSpec {
        key: "retry_base_delay_ms",
        description: "First retry delay of a transient step error; doubles each attempt, with jitter.",
        default: 500,
        min: 1,
        max: 3_600_000,
    },
    SettingSpec {
        key: "retry_max_delay_ms",
        description: "Upper bound of the retry delay, in ms.",
        default: 300_000,
        min: 1,
        max: 86_400_000,
    },
    SettingSpec {
        key: "lease_seconds",
        description: "How long a claimed workflow stays leased without a heartbeat; a crashed worker's work is taken over after this.",
        default: 15,
        min: 1,
        max: 3600,
    },
    SettingSpec {
        key: "claim_batch_size",
        description: "Most workflows one claim query leases.",
        default: 128,
        min: 1,
        max: 10_000,
    },
    SettingSpec {
        key: "max_concurrent_steps",
        description: "Most steps one worker process runs at once.",
        default: 512,
        min: 1,
        max: 100_000,
    },
    SettingSpec {
        key: "confirmations",
        description: "Blocks on top of a transaction's block before it counts as confirmed.",
        default: 2,
        min: 0,
        max: 1000,
    },
    SettingSpec {
        key: "bump_after_secs",
        description: "Seconds an unmined transaction waits before its fees are bumped.",
        default: 20,
        min: 1,
        max: 86_400,
    },
    SettingSpec {
        key: "bump_after_blocks",
        description: "Blocks an unmined transaction waits (since its broadcast) before its fees are bumped.",
        default: 3,
        min: 1,
        max: 10_000,
    },
    SettingSpec {
        key: "max_fee_gwei",
        description: "Highest max fee per gas any transaction or fee bump offers, in gwei.",
        default: 500,
        min: 1,
        max: 1_000_000,
    },
    SettingSpec {
        key: "max_priority_fee_gwei",
        description: "Highest priority fee (tip) per gas any transaction or fee bump offers, in gwei; a stuck transaction whose tip reached it waits for the network instead of outbidding it.",
        default: 100,
        min: 0,
        max: 1_000_000,
    },
    SettingSpec {
        key: "max_gas_spend_wei_per_hour",
        description: "Rolling budget of the signer's gas spend, in wei: fees paid by its transactions mined in the last hour plus the most its unmined ones can cost. Reached, new transactions wait (their workflows retry later) until it allows; 0 turns it off.",
        default: 0,
        min: 0,
        max: i64::MAX,
    },
    SettingSpec {
        key: "max_in_flight_per_signer",
        description: "Most transactions of one signer not final yet (a node keeps only a few dozen pending ones per sender); beyond it new work goes to another signer of the pool, or waits (429 / retried) when all are full.",
        default: 32,
        min: 1,
        max: 100_000,
    },
    SettingSpec {
        key: "signer_stuck_after_secs",
        description: "Seconds a signer's oldest unmined transaction may wait before the signer counts as stuck: new work goes to the other signers of the pool until it moves again.",
        default: 180,
        min: 1,
        max: 86_400,
    },
    SettingSpec {
        key: "retention_days",
        description: "Days outbox events, finished webhook deliveries and completed or cancelled workflows of other kinds than payments, mints, batches and deployments (with their history) are kept before the retention job deletes them; financial records and failed workflows stay.",
        default: 30,
        min: 1,
        max: 36_500,
    },
    SettingSpec {
        key: "max_queue_depth",
        description: "Most mints waiting to be batched; new mint requests get 429 beyond it.",
        default: 100_000,
        min: 1,
        max: 100_000_000,
    },
    SettingSpec {
        key: "payer_rate_per_minute",
        description: "Mint requests one payer may make per minute (429 beyond); 0 turns the limit off.",
        default: 600,
        min: 0,
        max: 100_000_000,
    },
    SettingSpec {
        key: "ip_rate_per_minute",
        description: "Mint requests one client IP may make per minute (429 beyond); 0 turns the limit off.",
        default: 6_000,
        min: 0,
        max: 100_000_000,
    },
    SettingSpec {
        key: "payment_rate_per_minute",
        description: "Payment requests (POST /v1/payments, /x402/*, /api/x402-batch-mint) one client may make per minute (429 beyond); 0 turns the limit off.",
        default: 600,
        min: 0,
        max: 100_000_000,
    },
    SettingSpec {
        key: "deploy_rate_per_minute",
        description: "Deployment requests (POST /v1/deployments, /api/deploy, /x402/deploy) one client may make per minute (429 beyond); 0 turns the limit off.",
        default: 60,
        min: 0,
        max: 100_000_000,
    },
    SettingSpec {
        key: "public_read_rate_per_minute",
        description: "Status reads without a key (a mint, payment, deployment or token by id, the old /queue/item, /queue/payer and /api/payment routes, /ready) one client may make per minute (429 beyond); 0 turns the limit off.",
        default: 6_000,
        min: 0,
        max: 100_000_000,
    },
    SettingSpec {
        key: "min_authorization_validity_secs",
        description: "Seconds an EIP-3009 authorization must still be valid when it is accepted (402 authorization_validity_too_short below); the x402 offers' maxTimeoutSeconds is this plus 30, so a client that signs for maxTimeoutSeconds passes.",
        default: 120,
        min: crate::x402::verify::MIN_VALIDITY_SECS as i64,
        max: 86_400,
    },
    SettingSpec {
        key: "max_open_payments_per_payer",
        description: "Payments mintflow settles (x402, gasless) one payer may have under way at once (402 too_many_open_payments beyond).",
        default: 5,
        min: 1,
        max: 10_000,
    },
    SettingSpec {
        key: "max_settlement_reverts_per_hour",
        description: "Settlements of one payer that may revert on chain within an hour (front-run ones whose payment confirmed do not count); a payer with this many is refused new payments (402 payer_settlements_reverted) until the oldest is an hour old. 0 turns the check off.",
        default: 3,
        min: 0,
        max: 10_000,
    },
    SettingSpec {
        key: "webhook_retry_base_ms",
        description: "First delay before a failed webhook delivery is tried again, in ms; doubles each attempt (at most an hour), with jitter.",
        default: 1_000,
        min: 10,
        max: 3_600_000,
    },
    SettingSpec {
        key: "webhook_max_attempts",
        description: "Attempts at one webhook delivery before it is marked failed (and kept in the delivery log).",
        default: 20,
        min: 1,
        max: 1000,
    },
];

pub fn spec(key: &str) -> Option<&'static SettingSpec> {
    SPECS.iter().find(|s| s.key == key)
}

/// Why a value was refused.
#[derive(Debug, thiserror::Error)]
pub enum SettingError {
    #[error("unknown setting `{0}`")]
    Unknown(String),
    #[error("`{key}` takes an integer, got {got}")]
    NotInteger { key: &'static str, got: String },
    #[error("`{key}` must be between {min} and {max}, got {got}")]
    OutOfRange {
        key: &'static str,
        min: i64,
        max: i64,
        got: i64,
    },
}

/// Checks `value` against the spec of `key` and returns the integer to store.
pub fn validate(key: &str, value: &Json) -> Result<i64, SettingError> {
    let spec = spec(key).ok_or_else(|| SettingError::Unknown(key.to_owned()))?;
    let n = value.as_i64().ok_or_else(|| SettingError::NotInteger {
        key: spec.key,
        got: value.to_string(),
    })?;
    if n < spec.min || n > spec.max {
        return Err(SettingError::OutOfRange {
            key: spec.key,
            min: spec.min,
            max: spec.max,
            got: n,
        });
    }
    Ok(n)
}

/// The typed snapshot every component reads.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub max_batch_size: i64,
    pub max_batch_wait_ms: i64,
    pub max_settlement_batch_size: i64,
    pub max_settlement_wait_ms: i64,
    pub retry_max_attempts: i64,
    pub retry_base_delay_ms: i64,
    pub retry_max_delay_ms: i64,
    pub lease_seconds: i64,
    pub claim_batch_size: i64,
    pub max_concurrent_steps: i64,
    pub confirmations: i64,
    pub bump_after_secs: i64,
    pub bump_after_blocks: i64,
    pub max_fee_gwei: i64,
    pub max_priority_fee_gwei: i64,
    pub max_gas_spend_wei_per_hour: i64,
    pub max_in_flight_per_signer: i64,
    pub signer_stuck_after_secs: i64,
    pub retention_days: i64,
    pub max_queue_depth: i64,
    pub payer_rate_per_minute: i64,
    pub ip_rate_per_minute: i64,
    pub payment_rate_per_minute: i64,
    pub deploy_rate_per_minute: i64,
    pub public_read_rate_per_minute: i64,
    pub min_authorization_validity_secs: i64,
    pub max_open_payments_per_payer: i64,
    pub max_settlement_reverts_per_hour: i64,
    pub webhook_retry_base_ms: i64,
    pub webhook_max_attempts: i64,
}

impl Default for Settings {
    fn default() -> Self {
        let mut s = Settings {
            max_batch_size: 0,
            max_batch_wait_ms: 0,
            max_settlement_batch_size: 0,
            max_settlement_wait_ms: 0,
            retry_max_attempts: 0,
            retry_base_delay_ms: 0,
            retry_max_delay_ms: 0,
            lease_seconds: 0,
            claim_batch_size: 0,
            max_concurrent_steps: 0,
            confirmations: 0,
            bump_after_secs: 0,
            bump_after_blocks: 0,
            max_fee_gwei: 0,
            max_priority_fee_gwei: 0,
            max_gas_spend_wei_per_hour: 0,
            max_in_flight_per_signer: 0,
            signer_stuck_after_secs: 0,
            retention_days: 0,
            max_queue_depth: 0,
            payer_rate_per_minute: 0,
            ip_rate_per_minute: 0,
            payment_rate_per_minute: 0,
            deploy_rate_per_minute: 0,
            public_read_rate_per_minute: 0,
            min_authorization_validity_secs: 0,
            max_open_payments_per_payer: 0,
            max_settlement_reverts_per_hour: 0,
            webhook_retry_base_ms: 0,
            webhook_max_attempts: 0,
        };
        for spec in SPECS {
            s.set(spec.key, spec.default);
        }
        s
    }
}

impl Settings {
    /// Builds a snapshot from stored rows; missing or invalid rows keep their default.
    pub fn from_rows<'a>(rows: impl IntoIterator<Item = (&'a str, &'a Json)>) -> Settings {
        let mut s = Settings::default();
        for (key, value) in rows {
            match validate(key, value) {
                Ok(n) => s.set(key, n),
                Err(e) => tracing::warn!(key, error = %e, "ignoring stored setting"),
            }
        }
        s
    }

    /// The value of `key` (0 for an unknown key).
    pub fn value(&self, key: &str) -> i64 {
        let mut copy = self.clone();
        copy.slot(key).map(|v| *v).unwrap_or_default()
    }

    fn set(&mut self, key: &str, n: i64) {
        if let Some(slot) = self.slot(key) {
            *slot = n;
        }
    }

    fn slot(&mut self, key: &str) -> Option<&mut i64> {
        Some(match key {
            "max_batch_size" => &mut self.max_batch_size,
            "max_batch_wait_ms" => &mut self.max_batch_wait_ms,
            "max_settlement_batch_size" => &mut self.max_settlement_batch_size,
            "max_settlement_wait_ms" => &mut self.max_settlement_wait_ms,
            "retry_max_attempts" => &mut self.retry_max_attempts,
            "retry_base_delay_ms" => &mut self.retry_base_delay_ms,
            "retry_max_delay_ms" => &mut self.retry_max_delay_ms,
            "lease_seconds" => &mut self.lease_seconds,
            "claim_batch_size" => &mut self.claim_batch_size,
            "max_concurrent_steps" => &mut self.max_concurrent_steps,
            "confirmations" => &mut self.confirmations,
            "bump_after_secs" => &mut self.bump_after_secs,
            "bump_after_blocks" => &mut self.bump_after_blocks,
            "max_fee_gwei" => &mut self.max_fee_gwei,
            "max_priority_fee_gwei" => &mut self.max_priority_fee_gwei,
            "max_gas_spend_wei_per_hour" => &mut self.max_gas_spend_wei_per_hour,
            "max_in_flight_per_signer" => &mut self.max_in_flight_per_signer,
            "signer_stuck_after_secs" => &mut self.signer_stuck_after_secs,
            "retention_days" => &mut self.retention_days,
            "max_queue_depth" => &mut self.max_queue_depth,
            "payer_rate_per_minute" => &mut self.payer_rate_per_minute,
            "ip_rate_per_minute" => &mut self.ip_rate_per_minute,
            "payment_rate_per_minute" => &mut self.payment_rate_per_minute,
            "deploy_rate_per_minute" => &mut self.deploy_rate_per_minute,
            "public_read_rate_per_minute" => &mut self.public_read_rate_per_minute,
            "min_authorization_validity_secs" => &mut self.min_authorization_validity_secs,
            "max_open_payments_per_payer" => &mut self.max_open_payments_per_payer,
            "max_settlement_reverts_per_hour" => &mut self.max_settlement_reverts_per_hour,
            "webhook_retry_base_ms" => &mut self.webhook_retry_base_ms,
            "webhook_max_attempts" => &mut self.webhook_max_attempts,
            _ => return None,
        })
    }

    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds as u64)
    }
}

/// Shared, hot-swappable settings. Reads are a cheap clone under a read lock.
#[derive(Clone, Debug, Default)]
pub struct SettingsHandle(Arc<RwLock<Settings>>);

impl SettingsHandle {
    pub fn new(settings: Settings) -> Self {
        SettingsHandle(Arc::new(RwLock::new(settings)))
    }

    pub fn get(&self) -> Settings {
        self.0.read().expect("settings lock").clone()
    }

    pub fn replace(&self, settings: Settings) {
        *self.0.write().expect("settings lock") = settings;
    }

    /// Re-reads every setting from the database.
    pub async fn reload(&self, db: &DatabaseConnection) -> Result<Settings, DbErr> {
        let rows = store::settings::load_all(db).await?;
        let fresh = Settings::from_rows(rows.iter().map(|r| (r.key.as_str(), &r.value)));
        self.replace(fresh.clone());
        Ok(fresh)
    }

    /// Loads the settings for a new process.
    pub async fn load(db: &DatabaseConnection) -> Result<Self, DbErr> {
        let handle = SettingsHandle::default();
        handle.reload(db).await?;
        Ok(handle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_specs() {
        let s = Settings::default();
        assert_eq!(s.max_batch_size, 100);
        assert_eq!(s.lease_seconds, 15);
        assert_eq!(s.retention_days, 30);
    }

    #[test]
    fn validate_checks_type_and_range() {
        assert_eq!(
            validate("max_batch_size", &serde_json::json!(50)).unwrap(),
            50
        );
        assert!(matches!(
            validate("max_batch_size", &serde_json::json!(0)),
            Err(SettingError::OutOfRange { .. })
        ));
        assert!(matches!(
            validate("max_batch_size", &serde_json::json!("5")),
            Err(SettingError::NotInteger { .. })
        ));
        assert!(matches!(
            validate("nope", &serde_json::json!(1)),
            Err(SettingError::Unknown(_))
        ));
    }

    #[test]
    fn invalid_rows_keep_defaults() {
        let bad = serde_json::json!(-1);
        let good = serde_json::json!(7);
        let s = Settings::from_rows([("lease_seconds", &bad), ("confirmations", &good)]);
        assert_eq!(s.lease_seconds, 15);
        assert_eq!(s.confirmations, 7);
    }
}
