//! Examples of what operators read and set: settings, health, activity.
use super::{SIGNER, at};
use crate::api::activity::{Activity, ActivityMinute, BalanceSample, SignerBalanceTrend};
use crate::api::health::{Liveness, Readiness, ReadinessCheck};
use crate::api::settings::{Setting, SettingUpdate};
use poem_openapi::types::Example;
use serde_json::json;

impl Example for SettingUpdate {
    fn example() -> Self {
        SettingUpdate {
            value: json!(200).into(),
        }
    }
}

impl Example for Setting {
    fn example() -> Self {
        Setting {
            key: "max_batch_size".into(),
            value: 200,
            default: 100,
            min: 1,
            max: 2000,
            description: "Most mints in one batchMint transaction.".into(),
            updated_at: Some(at("2026-12-01T16:16:00Z")),
            updated_by: Some("admin".into()),
        }
    }
}

impl Example for Liveness {
    fn example() -> Self {
        Liveness {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

impl Example for Readiness {
    fn example() -> Self {
        Readiness {
            ready: true,
            checks: ["database", "migrations", "rpc", "signer_funded"]
                .into_iter()
                .map(|name| ReadinessCheck {
                    name: name.into(),
                    ok: true,
                })
                .collect(),
        }
    }
}

// Shortened to the hour's last three minutes (the answer has 60): a batch of mints requested
// in one minute and confirmed in the next, as `mintflow dev` shows them.
impl Example for Activity {
    fn example() -> Self {
        let minute = |time: &str, requested, confirmed, p50_confirm_ms| ActivityMinute {
            minute: at(time),
            requested,
            confirmed,
            failed: 0,
            p50_confirm_ms,
        };
        let sample = |time: &str, wei: &str| BalanceSample {
            minute: at(time),
            balance_wei: wei.into(),
        };
        Activity {
            from: at("2026-12-01T15:21:00Z"),
            minutes: vec![
                minute("2026-12-01T16:18:00Z", 0, 0, None),
                minute("2026-12-01T16:19:00Z", 12, 9, Some(2140)),
                minute("2026-12-01T16:20:00Z", 3, 6, Some(2870)),
            ],
            signers: vec![SignerBalanceTrend {
                chain_id: 31337,
                address: SIGNER.into(),
                samples: vec![
                    sample("2026-12-01T16:19:00Z", "9999987654321000000000"),
                    sample("2026-12-01T16:20:00Z", "9999987485110000000000"),
                ],
            }],
            generated_at: at("2026-12-01T16:20:41.207Z"),
        }
    }
}
