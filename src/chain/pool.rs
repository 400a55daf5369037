//! The signer pool: one lane per signer, each with its own nonce counter and sender lease
//! (`chain_signers`), its own fee and balance quote and its own sender loop. New work goes to
//! the least-loaded healthy lane under `max_in_flight_per_signer`; a lane that cannot pay
//! (`InsufficientFunds` at a submit) or whose oldest unmined transaction waited longer than
//! `signer_stuck_after_secs` is skipped while others can take the work, and keeps following
//! what it already signed: a transaction stays on the lane it was signed for.
use std::sync::atomic::{AtomicI64, Ordering};

use alloy::network::EthereumWallet;
use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use tokio::sync::Notify;

use super::reconcile::Lowest;
use super::{Chain, ChainError, Quote, signer};
use crate::store;

/// How long a lane found unable to pay is skipped before a submit tries it again (its balance
/// is asked again then; topping it up brings it back within this).
const UNFUNDED_SKIP_MS: i64 = 15_000;

/// One signer of the pool.
pub(super) struct Lane {
    pub(super) wallet: EthereumWallet,
    pub(super) address: Address,
    pub(super) address_key: String,
    /// Wakes this lane's sender when there is something to broadcast.
    pub(super) sender_wake: Notify,
    pub(super) quote: tokio::sync::Mutex<Option<Quote>>,
    /// Since when the sender has seen the signer's lowest unmined nonce as the lowest.
    pub(super) lowest: std::sync::Mutex<Option<Lowest>>,
    /// Until when submits skip this lane: a submit found its balance too low (this process's
    /// observation; 0: never).
    unfunded_until_ms: AtomicI64,
}

impl Lane {
    pub(super) fn new(signer: PrivateKeySigner) -> Lane {
        let address = signer.address();
        Lane {
            wallet: EthereumWallet::from(signer),
            address,
            address_key: signer::address_key(address),
            sender_wake: Notify::new(),
            quote: tokio::sync::Mutex::new(None),
            lowest: std::sync::Mutex::new(None),
            unfunded_until_ms: AtomicI64::new(0),
        }
    }
}

/// Refuses a pool without signers or with one signer twice (two lanes would hand out the same
/// nonces).
pub(super) fn check_distinct(signers: &[PrivateKeySigner]) -> Result<(), ChainError> {
    if signers.is_empty() {
        return Err(ChainError::Failed("the signer pool is empty".into()));
    }
    let mut seen: Vec<Address> = signers.iter().map(|s| s.address()).collect();
    seen.sort();
    seen.dedup();
    if seen.len() != signers.len() {
        return Err(ChainError::Failed(
            "the same signer is configured twice".into(),
        ));
    }
    Ok(())
}

/// What lane choice knows of one lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaneView {
    /// Its index in the pool.
    pub lane: usize,
    /// Its transactions not final yet.
    pub open: i64,
    pub healthy: bool,
}

/// The lane for new work, among `lanes`, each allowed `cap` open transactions: the healthy one
/// with the fewest open (the lowest index on a tie). `None` when every healthy lane is full
/// (the caller pushes back rather than feed a sick lane), or every lane is. Only when no lane
/// is healthy does the least-loaded sick one take work: a pool of one behaves as one signer.
pub fn choose(lanes: &[LaneView], cap: i64) -> Option<usize> {
    let least = |healthy: bool| {
        lanes
            .iter()
            .filter(|l| l.healthy == healthy && l.open < cap)
            .min_by_key(|l| (l.open, l.lane))
            .map(|l| l.lane)
    };
    if lanes.iter().any(|l| l.healthy) {
        least(true)
    } else {
        least(false)
    }
}

/// Why a lane is skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Health {
    /// A submit found its balance too low not long ago.
    pub unfunded: bool,
    /// Its oldest unmined transaction waited longer than `signer_stuck_after_secs`.
    pub stuck: bool,
}

impl Health {
    pub fn of(
        oldest_unmined_ms: Option<i64>,
        unfunded_until_ms: i64,
        now: i64,
        stuck_after_ms: i64,
    ) -> Health {
        Health {
            unfunded: unfunded_until_ms > now,
            stuck: oldest_unmined_ms.is_some_and(|at| now - at > stuck_after_ms),
        }
    }

    pub fn is_healthy(self) -> bool {
        !self.unfunded && !self.stuck
    }
}

/// One signer of the pool as operators see it (`/v1/stats`, `/metrics`, the dashboard).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignerLoad {
    pub address: Address,
    /// Its transactions not final yet.
    pub in_flight: i64,
    pub health: Health,
}

impl Chain {
    /// The lane of this handle: the pinned one, else the primary.
    pub(super) fn lane(&self) -> &Lane {
        &self.inner.lanes[self.pin.unwrap_or(0)]
    }

    /// A handle pinned to lane `index`.
    pub(super) fn on_lane(&self, index: usize) -> Chain {
        Chain {
            inner: self.inner.clone(),
            pin: Some(index),
        }
    }

    /// One handle per signer, each pinned to it (the primary first): what runs the senders.
    pub fn lanes(&self) -> Vec<Chain> {
        (0..self.inner.lanes.len())
            .map(|i| self.on_lane(i))
            .collect()
    }

    /// The handle pinned to the primary signer: for calls only it may make (granting roles
    /// of the contracts it administers) or that must come from one known signer.
    pub fn primary(&self) -> Chain {
        self.on_lane(0)
    }

    /// The addresses of every signer of the pool, the primary first.
    pub fn signers(&self) -> Vec<Address> {
        self.inner.lanes.iter().map(|l| l.address).collect()
    }

    /// Every signer with its open transactions and health, now.
    pub async fn signer_loads(&self) -> Result<Vec<SignerLoad>, ChainError> {
        let me = &self.inner;
        let rows = store::chain::open_by_signer(&me.db, me.chain_id as i64).await?;
        let now = self.now_ms();
        let stuck_after_ms = me.settings.get().signer_stuck_after_secs * 1000;
        Ok(me
            .lanes
            .iter()
            .map(|lane| {
                let row = rows.iter().find(|r| r.signer == lane.address_key);
                let until = lane.unfunded_until_ms.load(Ordering::Relaxed);
                SignerLoad {
                    address: lane.address,
                    in_flight: row.map_or(0, |r| r.open),
                    health: Health::of(
                        row.and_then(|r| r.oldest_unmined_ms),
                        until,
                        now,
                        stuck_after_ms,
                    ),
                }
            })
            .collect())
    }

    /// The lane new work goes to, leaving out the lanes in `tried`; `Backpressure` when every
    /// lane that may take it is full, `None` when none is left to try.
    pub(super) async fn choose_lane(&self, tried: &[usize]) -> Result<Option<usize>, ChainError> {
        let loads = self.signer_loads().await?;
        let views: Vec<LaneView> = loads
            .iter()
            .enumerate()
            .filter(|(i, _)| !tried.contains(i))
            .map(|(lane, l)| LaneView {
                lane,
                open: l.in_flight,
                healthy: l.health.is_healthy(),
            })
            .collect();
        if views.is_empty() {
            return Ok(None);
        }
        let cap = self.inner.settings.get().max_in_flight_per_signer;
        match choose(&views, cap) {
            Some(lane) => Ok(Some(lane)),
            None => {
                // What the lanes that take overflow hold (the healthy ones, all full), not a
                // sick lane's count.
                let healthy = views.iter().filter(|v| v.healthy).map(|v| v.open).min();
                let least = healthy.or_else(|| views.iter().map(|v| v.open).min());
                Err(ChainError::Backpressure(least.unwrap_or_default() as usize))
            }
        }
    }

    /// Skips this handle's lane for new work for a while: it cannot pay.
    pub(super) fn mark_unfunded(&self) {
        let until = self.now_ms() + UNFUNDED_SKIP_MS;
        self.lane()
            .unfunded_until_ms
            .store(until, Ordering::Relaxed);
        tracing::warn!(signer = %self.lane().address,
            "signer cannot pay for new transactions; new work goes to the others");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(lane: usize, open: i64, healthy: bool) -> LaneView {
        LaneView {
            lane,
            open,
            healthy,
        }
    }

    #[test]
    fn the_least_loaded_healthy_lane_takes_the_work() {
        let lanes = [view(0, 5, true), view(1, 2, true), view(2, 0, false)];
        assert_eq!(choose(&lanes, 32), Some(1));
        // A tie goes to the lowest index: a quiet pool fills the primary first.
        assert_eq!(choose(&[view(0, 1, true), view(1, 1, true)], 32), Some(0));
    }

    #[test]
    fn a_full_lane_is_skipped_and_a_full_pool_pushes_back() {
        let lanes = [view(0, 32, true), view(1, 31, true)];
        assert_eq!(choose(&lanes, 32), Some(1));
        let full = [view(0, 32, true), view(1, 32, true), view(2, 0, false)];
        assert_eq!(choose(&full, 32), None, "sick lanes do not take overflow");
    }

    #[test]
    fn with_no_healthy_lane_the_least_loaded_sick_one_works() {
        let lanes = [view(0, 4, false), view(1, 3, false)];
        assert_eq!(choose(&lanes, 32), Some(1));
        assert_eq!(choose(&[view(0, 32, false)], 32), None);
        assert_eq!(choose(&[], 32), None);
    }

    #[test]
    fn health_reads_funds_and_the_oldest_unmined_transaction() {
        let now = 100_000;
        assert!(Health::of(None, 0, now, 60_000).is_healthy());
        assert!(Health::of(Some(now - 60_000), 0, now, 60_000).is_healthy());
        let stuck = Health::of(Some(now - 60_001), 0, now, 60_000);
        assert!(stuck.stuck && !stuck.unfunded);
        let unfunded = Health::of(None, now + 1, now, 60_000);
        assert!(unfunded.unfunded && !unfunded.is_healthy());
        assert!(
            Health::of(None, now, now, 60_000).is_healthy(),
            "the skip ended"
        );
    }

    #[test]
    fn a_pool_needs_distinct_signers() {
        let a = PrivateKeySigner::random();
        let b = PrivateKeySigner::random();
        assert!(check_distinct(&[a.clone(), b]).is_ok());
        assert!(check_distinct(&[a.clone(), a]).is_err());
        assert!(check_distinct(&[]).is_err());
    }
}
