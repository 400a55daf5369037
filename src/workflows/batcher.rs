//! The batcher: turns pending mints into `mint_batch` workflows.
//!
//! Adaptive: a token's mints are flushed as soon as `max_batch_size` of them wait, or when the
//! oldest has waited `max_batch_wait_ms` (both hot settings, read at every pass), and a batch
//! never holds more mints than fit well below the block gas limit. It does not wait for a
//! batch to confirm before forming the next: many batches are in flight at once, on
//! consecutive nonces.
//!
//! Creating a batch and moving its mints to `processing` is one transaction. On PostgreSQL
//! the mints are locked with `SKIP LOCKED`, so the batchers of several processes never take
//! the same mint; a crash before the commit leaves the mints pending.
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::Address;
use alloy::providers::Provider;
use sea_orm::{DatabaseConnection, DbErr};
use serde_json::json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::mint::MintData;
use super::mint_batch::{BatchData, BatchItem, BatchState, MintBatch};
use crate::chain::Chain;
use crate::config::SettingsHandle;
use crate::engine::{Client, StartOptions};
use crate::ops;
use crate::store::{self, mints, moves};

/// Gas a mint takes inside a batch until the chain tells us better (measured: about 50k).
const DEFAULT_GAS_PER_MINT: u64 = 60_000;
/// Fixed gas of a `batchMint` call (base cost, calldata head).
const BATCH_OVERHEAD_GAS: u64 = 100_000;
/// Share of the block gas limit one batch may use, so several batches fit in a block.
const BLOCK_SHARE: f64 = 0.5;
/// Longest the batcher sleeps without being told of new mints (it also serves the mints
/// queued by API-only processes, which cannot wake it).
const IDLE_POLL: Duration = Duration::from_millis(200);
/// Shortest time between two scans, so a burst of requests costs one scan, not one each.
const MIN_SCAN_INTERVAL: Duration = Duration::from_millis(5);
/// Priority of batch steps over other workflows: they carry many mints each.
const BATCH_PRIORITY: i16 = 10;

/// The gas a batch of `mints` is planned for (what a signer must be able to pay for it).
pub fn estimated_batch_gas(mints: i64) -> u64 {
    BATCH_OVERHEAD_GAS + DEFAULT_GAS_PER_MINT * mints.max(0) as u64
}

/// Wakes the batcher when mints were queued in this process. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct QueueSignal(Arc<Notify>);

impl QueueSignal {
    pub fn notify(&self) {
        self.0.notify_one();
    }
}

pub struct Batcher {
    db: DatabaseConnection,
    client: Client,
    settings: SettingsHandle,
    signal: QueueSignal,
    /// The chain's block gas limit, read at start.
    block_gas_limit: u64,
}

impl Batcher {
    /// A batcher for the chain `chain` is connected to.
    pub async fn new(
        client: Client,
        settings: SettingsHandle,
        chain: &Chain,
        signal: QueueSignal,
    ) -> Result<Batcher, crate::chain::ChainError> {
        let block_gas_limit = chain
            .provider()
            .get_block_by_number(Default::default())
            .await
            .map_err(|e| crate::chain::rpc("the latest block", e))?
            .map(|b| b.header.gas_limit)
            .unwrap_or(30_000_000);
        Ok(Batcher {
            db: client.db().clone(),
            client,
            settings,
            signal,
            block_gas_limit,
        })
    }

    /// The most mints one batch takes now: the setting, capped by gas.
    pub fn batch_cap(&self, max_batch_size: i64) -> i64 {
        let budget = (self.block_gas_limit as f64 * BLOCK_SHARE) as u64;
        let by_gas = budget.saturating_sub(BATCH_OVERHEAD_GAS) / DEFAULT_GAS_PER_MINT;
        max_batch_size.min(by_gas as i64).max(1)
    }

    /// Runs until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        tracing::info!(block_gas_limit = self.block_gas_limit, "batcher started");
        loop {
            let wait = match self.pass().await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::warn!(error = %e, "batcher pass failed; retrying");
                    IDLE_POLL
                }
            };
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = self.signal.0.notified() => tokio::time::sleep(MIN_SCAN_INTERVAL).await,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        tracing::info!("batcher stopped");
    }

    /// Flushes every token whose batch is due; returns how long to sleep before the next due
    /// flush.
    async fn pass(&self) -> Result<Duration, DbErr> {
        let mut wait = IDLE_POLL;
        loop {
            let settings = self.settings.get();
            let cap = self.batch_cap(settings.max_batch_size);
            let now = store::now_ms();
            let mut formed = false;
            for group in mints::pending_groups(&self.db).await? {
                let due_at = group.oldest_ms + settings.max_batch_wait_ms;
                if group.count >= cap || due_at <= now {
                    let taken = self.form(&group.token, cap).await?;
                    formed |= taken > 0;
                } else {
                    let left = Duration::from_millis((due_at - now) as u64);
                    wait = wait.min(left);
                }
            }
            if !formed {
                return Ok(wait);
            }
        }
    }

    /// Takes up to `cap` pending mints of `token` into a new batch; returns how many.
    async fn form(&self, token: &str, cap: i64) -> Result<usize, DbErr> {
        let txn = store::begin_write(&self.db).await?;
        let queued = mints::lock_pending(&txn, token, cap).await?;
        if queued.is_empty() {
            return Ok(0);
        }
        let token_address: Address = token
            .parse()
            .map_err(|e| DbErr::Custom(format!("stored token `{token}`: {e}")))?;
        let mut items = Vec::with_capacity(queued.len());
        for q in &queued {
            let data: MintData = serde_json::from_value(q.data.clone())
                .map_err(|e| DbErr::Custom(format!("mint {} checkpoint: {e}", q.id)))?;
            items.push(BatchItem {
                mint: q.id,
                to: data.recipient,
                id: data.onchain_id,
            });
        }
        let ids: Vec<Uuid> = items.iter().map(|i| i.mint).collect();
        let data = BatchData {
            token: token_address,
            items,
            dropped: Vec::new(),
            generation: 0,
            resends: 0,
            tx_id: None,
            tx_hash: None,
            block: None,
            gas_used: None,
        };
        let batch = self
            .client
            .start_in::<MintBatch, _>(
                &txn,
                BatchState::Pending,
                &data,
                StartOptions {
                    priority: BATCH_PRIORITY,
                    token: Some(token.to_owned()),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| DbErr::Custom(e.to_string()))?
            .id();
        let moved = moves::move_parked(
            &txn,
            &moves::Move {
                ids: &ids,
                from_states: &["pending"],
                from_statuses: &[store::workflows::Status::Waiting],
                to_state: "processing",
                to_status: store::workflows::Status::Waiting,
                event: "batched",
                patch: json!({ "batch_id": batch }),
                tx_hash: None,
                error: None,
                detail: Some(json!({ "batch": batch, "size": ids.len() })),
                worker: None,
                run_now: false,
            },
            store::now_ms(),
        )
        .await?;
        txn.commit().await?;
        self.client.wake_local();
        metrics::histogram!(ops::metrics::MINT_BATCH_SIZE).record(moved.len() as f64);
        tracing::debug!(%batch, token, size = moved.len(), "batch formed");
        Ok(moved.len())
    }
}
