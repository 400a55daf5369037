//! The dashboard's last hour: mints requested, confirmed and failed per minute with the median
//! wait from request to confirmation, and each signer's balance samples (`balance_samples`
//! records them). `GET /v1/stats/activity` renders it.
use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, DbErr};

use crate::store::{self, activity::MINUTE_MS};

/// Minutes shown, the current one (still filling) last.
pub const MINUTES: i64 = 60;

/// One minute of mints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Minute {
    /// Its start, unix ms.
    pub start_ms: i64,
    /// Mints requested (their workflows created) in it.
    pub requested: u64,
    /// Mints confirmed in it.
    pub confirmed: u64,
    /// Mints that failed in it.
    pub failed: u64,
    /// The median time from request to confirmation of the mints confirmed in it (the lower
    /// middle one for an even count); `None` when none was.
    pub p50_confirm_ms: Option<i64>,
}

/// One signer's balance over the hour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignerTrend {
    pub chain_id: i64,
    pub signer: String,
    /// `(minute start in unix ms, wei as a decimal string)`, oldest first.
    pub samples: Vec<(i64, String)>,
}

pub struct Activity {
    /// `MINUTES` minutes, oldest first, empty ones included.
    pub minutes: Vec<Minute>,
    pub signers: Vec<SignerTrend>,
}

/// The hour up to `now_ms`, its minutes aligned to the clock.
pub async fn last_hour<C: ConnectionTrait>(conn: &C, now_ms: i64) -> Result<Activity, DbErr> {
    let first_minute = now_ms.div_euclid(MINUTE_MS) - (MINUTES - 1);
    let from_ms = first_minute * MINUTE_MS;
    let (requested, finished, balances) = tokio::join!(
        store::activity::requested_per_minute(conn, from_ms),
        store::activity::finished_since(conn, from_ms),
        store::activity::balances_since(conn, from_ms),
    );
    let mut minutes: Vec<Minute> = (0..MINUTES)
        .map(|i| Minute {
            start_ms: (first_minute + i) * MINUTE_MS,
            ..Minute::default()
        })
        .collect();
    let slot = |minute: i64| usize::try_from(minute - first_minute).ok();
    for row in requested? {
        if let Some(m) = slot(row.minute).and_then(|i| minutes.get_mut(i)) {
            m.requested = row.count.max(0) as u64;
        }
    }
    let mut waits: Vec<Vec<i64>> = vec![Vec::new(); minutes.len()];
    for mint in finished? {
        let Some(i) = slot(mint.finished_at_ms.div_euclid(MINUTE_MS)) else {
            continue;
        };
        let Some(m) = minutes.get_mut(i) else {
            continue;
        };
        if mint.confirmed {
            m.confirmed += 1;
            waits[i].push((mint.finished_at_ms - mint.created_at_ms).max(0));
        } else {
            m.failed += 1;
        }
    }
    for (m, mut w) in minutes.iter_mut().zip(waits) {
        w.sort_unstable();
        m.p50_confirm_ms = w.len().checked_sub(1).map(|last| w[last / 2]);
    }
    Ok(Activity {
        minutes,
        signers: trends(balances?),
    })
}

/// Samples (ordered by chain, signer and time) grouped per signer.
fn trends(samples: Vec<store::activity::BalanceSample>) -> Vec<SignerTrend> {
    let mut by_signer: BTreeMap<(i64, String), Vec<(i64, String)>> = BTreeMap::new();
    for s in samples {
        by_signer
            .entry((s.chain_id, s.signer))
            .or_default()
            .push((s.minute_ms, s.balance_wei));
    }
    by_signer
        .into_iter()
        .map(|((chain_id, signer), samples)| SignerTrend {
            chain_id,
            signer,
            samples,
        })
        .collect()
}
