//! The settlement batcher: turns verified payments parked in `processing` into
//! `settlement_batch` workflows, one per asset (runs only with a `Settler` configured).
//!
//! Adaptive like the mint batcher: payments are flushed as soon as `max_settlement_batch_size`
//! of them wait, or when the oldest has waited `max_settlement_wait_ms` (hot settings, read at
//! every pass), and a batch never holds more items than fit well below the block gas limit.
//! Many batches may be in flight at once, on consecutive nonces.
//!
//! Creating a batch and moving its payments to `sent` is one transaction. On PostgreSQL the
//! payments are locked with `SKIP LOCKED`, so the batchers of several processes never take the
//! same payment; a crash before the commit leaves them waiting.
use std::collections::BTreeMap;
use std::time::Duration;

use alloy::primitives::Address;
use sea_orm::{DatabaseConnection, DbErr};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::passes::{self, Pacing};
use super::payment::{PaymentData, PaymentState};
use super::settlement_batch::{SettlementBatch, SettlementData, SettlementItem, SettlementState};
use crate::chain::Chain;
use crate::config::SettingsHandle;
use crate::engine::{Client, StartError, StartOptions};
use crate::store::{self, moves, settlements};

/// Gas planned per item: measured 40k to 45k (45k when each item's payer is new), and the
/// settler asks for `MIN_ITEM_GAS` (100k) left before each item, so a batch's gas limit carries
/// that much slack once.
const GAS_PER_ITEM: u64 = 50_000;
/// Fixed gas of a `settle` call (base cost, calldata head, the last item's reserve).
const BATCH_OVERHEAD_GAS: u64 = 150_000;
/// Share of the block gas limit one batch may use, so several batches fit in a block.
const BLOCK_SHARE: f64 = 0.5;
/// Longest the batcher sleeps between two looks at the queue (payments are parked by the
/// engine's steps, in any process, which cannot wake it).
const IDLE_POLL: Duration = Duration::from_millis(100);
/// Priority of batch steps over other workflows: they carry many payments each.
const BATCH_PRIORITY: i16 = 10;

/// The most items one batch takes: the setting, capped by the gas a batch may use.
pub fn batch_cap(max_batch_size: i64, block_gas_limit: u64) -> i64 {
    let budget = (block_gas_limit as f64 * BLOCK_SHARE) as u64;
    let by_gas = budget.saturating_sub(BATCH_OVERHEAD_GAS) / GAS_PER_ITEM;
    max_batch_size.min(by_gas as i64).max(1)
}

/// Whether the queue is due for a batch now (`None`), or how long until it is (forever when
/// it is empty).
pub fn due_in(queue: settlements::Queue, cap: i64, wait_ms: i64, now_ms: i64) -> Option<Duration> {
    let Some(oldest) = queue.oldest_ms else {
        return Some(Duration::MAX);
    };
    let due_at = oldest.saturating_add(wait_ms);
    if queue.count >= cap || due_at <= now_ms {
        None
    } else {
        Some(Duration::from_millis((due_at - now_ms) as u64))
    }
}

pub struct SettlementBatcher {
    db: DatabaseConnection,
    client: Client,
    settings: SettingsHandle,
    settler: Address,
    /// The chain's block gas limit, read at start.
    block_gas_limit: u64,
}

impl SettlementBatcher {
    /// A batcher settling through `settler` on the chain `chain` is connected to.
    pub async fn new(
        client: Client,
        settings: SettingsHandle,
        chain: &Chain,
        settler: Address,
    ) -> Result<SettlementBatcher, crate::chain::ChainError> {
        let block_gas_limit = chain.block_gas_limit().await?;
        Ok(SettlementBatcher {
            db: client.db().clone(),
            client,
            settings,
            settler,
            block_gas_limit,
        })
    }

    /// Runs until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        tracing::info!(settler = %self.settler, block_gas_limit = self.block_gas_limit,
            "settlement batcher started");
        let pacing = Pacing {
            name: "settlement batcher",
            after_failure: IDLE_POLL,
            signal: None,
        };
        passes::run(pacing, stop, || self.pass()).await;
    }

    /// Forms batches while the queue is due; returns how long to sleep.
    async fn pass(&self) -> Result<Duration, PassError> {
        loop {
            let settings = self.settings.get();
            let cap = batch_cap(settings.max_settlement_batch_size, self.block_gas_limit);
            let queue = settlements::queue(&self.db).await?;
            let now = self.client.clock().now_ms();
            if let Some(wait) = due_in(queue, cap, settings.max_settlement_wait_ms, now) {
                return Ok(wait.min(IDLE_POLL));
            }
            if self.form(cap).await? == 0 {
                return Ok(IDLE_POLL);
            }
        }
    }

    /// Takes up to `cap` waiting payments into new batches, one per asset, in one
    /// transaction; returns how many payments it moved.
    async fn form(&self, cap: i64) -> Result<usize, PassError> {
        let txn = store::begin_write(&self.db).await?;
        let mut by_asset: BTreeMap<Address, Vec<SettlementItem>> = BTreeMap::new();
        for (id, data) in settlements::lock_queued(&txn, cap).await? {
            let data: PaymentData = serde_json::from_value(data)
                .map_err(|e| PassError::Unreadable(format!("payment {id} checkpoint: {e}")))?;
            if let Some(item) = SettlementItem::of(id, &data) {
                by_asset.entry(data.asset).or_default().push(item);
            }
        }
        let mut moved = 0;
        let now = self.client.clock().now_ms();
        for (asset, items) in by_asset {
            let ids: Vec<Uuid> = items.iter().map(|i| i.payment).collect();
            let data = SettlementData::new(asset, self.settler, items);
            let batch = self
                .client
                .start_in::<SettlementBatch, _>(
                    &txn,
                    SettlementState::Pending,
                    &data,
                    StartOptions {
                        priority: BATCH_PRIORITY,
                        ..Default::default()
                    },
                )
                .await?
                .id();
            let (processing, sent) = (PaymentState::Processing, PaymentState::Sent);
            moved += moves::move_parked(
                &txn,
                &moves::Move {
                    ids: &ids,
                    from_states: &[processing.as_str()],
                    from_statuses: &[store::workflows::Status::Waiting],
                    to_state: sent.as_str(),
                    to_status: store::workflows::Status::Waiting,
                    event: "batched",
                    patch: json!({ "settlement_batch": batch }),
                    tx_hash: None,
                    error: None,
                    detail: Some(json!({ "batch": batch, "size": ids.len() })),
                    worker: None,
                    run_now: false,
                },
                now,
            )
            .await?
            .len();
            tracing::debug!(%batch, %asset, size = ids.len(), "settlement batch formed");
        }
        txn.commit().await?;
        self.client.wake_local();
        Ok(moved)
    }
}

/// Payments parked for a settlement batch when this process has no settler to batch them
/// (`SETTLER_ADDRESS` was unset since they parked): nothing else would ever take them, so each
/// is made due in `processing`, whose step settles it in a transaction of its own. Run at the
/// start of a worker process without a settler; returns how many it resumed.
pub async fn resume_parked_without_settler(client: &Client) -> Result<usize, DbErr> {
    let processing = PaymentState::Processing.as_str();
    let mut resumed = 0;
    loop {
        let txn = store::begin_write(client.db()).await?;
        let ids: Vec<Uuid> = settlements::lock_queued(&txn, RESUME_CHUNK)
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let moved = moves::move_parked(
            &txn,
            &moves::Move {
                ids: &ids,
                from_states: &[processing],
                from_statuses: &[store::workflows::Status::Waiting],
                to_state: processing,
                to_status: store::workflows::Status::Running,
                event: "unbatched",
                patch: json!({}),
                tx_hash: None,
                error: None,
                detail: Some(json!({ "reason": "no settler configured: settled on its own" })),
                worker: None,
                run_now: true,
            },
            client.clock().now_ms(),
        )
        .await?;
        txn.commit().await?;
        resumed += moved.len();
        if (ids.len() as i64) < RESUME_CHUNK {
            break;
        }
    }
    if resumed > 0 {
        tracing::warn!(
            resumed,
            "payments parked for a settlement batch resumed one by one: no SETTLER_ADDRESS"
        );
        client.wake_local();
    }
    Ok(resumed)
}

/// Parked payments resumed per transaction by `resume_parked_without_settler`.
const RESUME_CHUNK: i64 = 1000;

/// Why a batcher pass stopped short; the next pass tries again.
#[derive(Debug, thiserror::Error)]
enum PassError {
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("unreadable stored value: {0}")]
    Unreadable(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_the_setting_within_half_a_block_of_gas() {
        assert_eq!(batch_cap(200, 150_000_000), 200);
        assert_eq!(batch_cap(2000, 150_000_000), 1497);
        assert_eq!(batch_cap(2000, 30_000_000), 297);
        assert_eq!(batch_cap(10, 100_000), 1);
    }

    #[test]
    fn a_queue_is_due_when_full_or_old_enough() {
        let q = |count, oldest_ms| settlements::Queue { count, oldest_ms };
        assert_eq!(due_in(q(0, None), 10, 500, 1_000), Some(Duration::MAX));
        assert_eq!(due_in(q(10, Some(900)), 10, 500, 1_000), None);
        assert_eq!(due_in(q(3, Some(400)), 10, 500, 1_000), None);
        assert_eq!(
            due_in(q(3, Some(900)), 10, 500, 1_000),
            Some(Duration::from_millis(400))
        );
    }
}
