//! `GET /v1/stats/activity`: the dashboard overview's charts. Mints per minute over the last
//! hour with the median wait for confirmation, and each signer's balance over it.
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, payload::Json};

use super::AppState;
use super::auth::{Access, Read};
use super::error::{Errors, KeyedRead};
use super::stats::OperationsTag;
use crate::ops::activity::{self, Minute, SignerTrend};

/// The last hour, a minute at a time.
#[derive(Object)]
#[oai(rename_all = "camelCase", example)]
pub struct Activity {
    /// The start of the first minute.
    pub from: DateTime<Utc>,
    /// 60 minutes, oldest first; the last one is the current minute, still filling. Minutes
    /// without mints are there with zeros.
    pub minutes: Vec<ActivityMinute>,
    /// Each signer's balance samples in the hour (taken once a minute by workers with a
    /// chain); empty without a chain.
    pub signers: Vec<SignerBalanceTrend>,
    pub generated_at: DateTime<Utc>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct ActivityMinute {
    /// The start of the minute.
    pub minute: DateTime<Utc>,
    /// Mints requested (accepted by `POST /v1/mints` and the other intakes) in the minute.
    pub requested: u64,
    /// Mints confirmed in the minute.
    pub confirmed: u64,
    /// Mints that failed in the minute.
    pub failed: u64,
    /// The median time from request to confirmation of the mints confirmed in the minute, in
    /// milliseconds; `null` when none was.
    #[oai(nullable)]
    pub p50_confirm_ms: Option<i64>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct SignerBalanceTrend {
    pub chain_id: u64,
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{40}$"))]
    pub address: String,
    /// Oldest first; a minute the node did not answer is missing.
    pub samples: Vec<BalanceSample>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct BalanceSample {
    /// The start of the minute sampled.
    pub minute: DateTime<Utc>,
    /// Wei, as a decimal string.
    #[oai(validator(pattern = r"^[0-9]+$"))]
    pub balance_wei: String,
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl From<&Minute> for ActivityMinute {
    fn from(m: &Minute) -> Self {
        ActivityMinute {
            minute: time(m.start_ms),
            requested: m.requested,
            confirmed: m.confirmed,
            failed: m.failed,
            p50_confirm_ms: m.p50_confirm_ms,
        }
    }
}

impl From<SignerTrend> for SignerBalanceTrend {
    fn from(t: SignerTrend) -> Self {
        SignerBalanceTrend {
            chain_id: t.chain_id.max(0) as u64,
            address: t.signer,
            samples: t
                .samples
                .into_iter()
                .map(|(ms, wei)| BalanceSample {
                    minute: time(ms),
                    balance_wei: wei,
                })
                .collect(),
        }
    }
}

pub struct ActivityApi;

#[OpenApi(prefix_path = "/v1", tag = "OperationsTag::Operations")]
impl ActivityApi {
    /// Get the last hour, minute by minute
    ///
    /// Who may call: a key with the `read` scope (or `admin`).
    ///
    /// Mints requested, confirmed and failed in each of the last 60 minutes (the current one
    /// last), the median time from request to confirmation of each minute's confirmed mints,
    /// and each signer's balance sampled once a minute. What the dashboard's overview charts.
    /// Read from the database at each call: an hour of rows, through indexes by time.
    #[oai(path = "/stats/activity", method = "get", operation_id = "activity")]
    async fn activity(
        &self,
        app: Data<&AppState>,
        _auth: Access<Read>,
    ) -> Result<Json<Activity>, Errors<KeyedRead>> {
        let now = Utc::now();
        let hour = activity::last_hour(&app.read_db, now.timestamp_millis()).await?;
        Ok(Json(Activity {
            from: time(hour.minutes.first().map_or(0, |m| m.start_ms)),
            minutes: hour.minutes.iter().map(Into::into).collect(),
            signers: hour.signers.into_iter().map(Into::into).collect(),
            generated_at: now,
        }))
    }
}
