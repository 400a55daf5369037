//! The batcher: turns pending mints into `mint_batch` workflows.
//!
//! A token's mints are taken highest `priority` first, then oldest first (see
//! `super::priority`). Adaptive: a token's mints are flushed as soon as `max_batch_size` of them wait, or when the
//! oldest has waited `max_batch_wait_ms` (both hot settings, read at every pass), and a batch
//! never holds more mints than fit well below the block gas limit. It does not wait for a
//! batch to confirm before forming the next: many batches are in flight at once, on
//! consecutive nonces.
//!
//! Creating a batch and moving its mints to `processing` is one transaction. On PostgreSQL
//! the mints are locked with `SKIP LOCKED`, so the batchers of several processes never take
//! the same mint; a crash before the commit leaves the mints pending.
//!
//! A batch never takes more mints than the token's supply cap leaves room for once the mints
//! already in flight are counted (see `supply`): a batch that must revert is never signed.
//! Mints the cap has no room for wait while batches are in flight and fail with
//! `MaxSupplyExceeded()` once nothing is.
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use sea_orm::{DatabaseConnection, DbErr};
use serde_json::json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::mint::{MintData, MintFailure, MintState};
use super::mint_batch::{BatchData, BatchItem, BatchState, MintBatch};
use super::passes::{self, Pacing};
use super::supply::{self, OpenBatch, Plan};
use crate::chain::Chain;
use crate::chain::token::Supply;
use crate::config::SettingsHandle;
use crate::engine::{Client, StartError, StartOptions};
use crate::store::entity::token;
use crate::store::{self, mints, moves, tokens};
use crate::telemetry;

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
    /// Reads the tokens' supply.
    chain: Chain,
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
        let block_gas_limit = chain.block_gas_limit().await?;
        Ok(Batcher {
            db: client.db().clone(),
            client,
            chain: chain.clone(),
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
        let pacing = Pacing {
            name: "batcher",
            after_failure: IDLE_POLL,
            signal: Some((&self.signal.0, MIN_SCAN_INTERVAL)),
        };
        passes::run(pacing, stop, || self.pass()).await;
    }

    /// Flushes every token whose batch is due; returns how long to sleep before the next due
    /// flush.
    async fn pass(&self) -> Result<Duration, PassError> {
        let mut wait = IDLE_POLL;
        loop {
            let settings = self.settings.get();
            let cap = self.batch_cap(settings.max_batch_size);
            let now = self.client.clock().now_ms();
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

    /// Takes up to `cap` pending mints of `token` into a new batch, as many as its supply cap
    /// leaves room for, or fails them when there is certainly none; returns how many mints it
    /// moved.
    async fn form(&self, token: &str, cap: i64) -> Result<usize, PassError> {
        let token_address: Address = token
            .parse()
            .map_err(|e| PassError::Unreadable(format!("stored token `{token}`: {e}")))?;
        // The open batches are read before the supply and again after it, so a batch that
        // confirms in between is still counted (see `supply::in_flight`).
        let before = open_batches(&self.db, token).await?;
        let chain_id = self.chain.chain_id() as i64;
        let Some(registered) = tokens::find(&self.db, chain_id, token).await? else {
            // Not reached: mints are admitted for registered tokens only.
            tracing::warn!(token, "the token is not in the registry; its mints wait");
            return Ok(0);
        };
        let supply = match self.chain.total_supply(token_address).await {
            Ok(total_supply) => supply_of(&registered, total_supply)?,
            Err(e) => {
                // Mints of this token wait for the node; the other tokens go on.
                tracing::warn!(token, error = %e, "cannot read the token's supply; its mints wait");
                return Ok(0);
            }
        };
        let txn = store::begin_write(&self.db).await?;
        mints::lock_token_supply(&txn, token).await?;
        let open_now: Vec<Uuid> = open_batches(&txn, token)
            .await?
            .iter()
            .map(|b| b.id)
            .collect();
        let in_batches = mints::count_in_batches(&txn, token).await?.max(0) as u64;
        let in_flight = supply::in_flight(&before, in_batches, &open_now);
        match supply::plan(supply.room(), in_flight, cap.max(1) as u64) {
            Plan::Form(n) => self.take(txn, token, token_address, n as i64).await,
            Plan::Fail => {
                let now = self.client.clock().now_ms();
                Ok(fail_queued(txn, token, &supply, cap, now).await?)
            }
            Plan::Wait => {
                tracing::debug!(
                    token,
                    in_flight,
                    room = supply.room(),
                    "no supply left beside the mints in flight; the queue waits"
                );
                Ok(0)
            }
        }
    }

    /// Moves the first `limit` pending mints of `token` in claim order (highest priority,
    /// then oldest) into a new batch, in `txn`.
    async fn take(
        &self,
        txn: sea_orm::DatabaseTransaction,
        token: &str,
        token_address: Address,
        limit: i64,
    ) -> Result<usize, PassError> {
        let mut queued = mints::lock_pending(&txn, token, limit).await?;
        if queued.is_empty() {
            return Ok(0);
        }
        // The batch lists its mints in claim order, whatever order the locked rows came in.
        queued.sort_by_key(|q| q.place);
        let mut items = Vec::with_capacity(queued.len());
        for q in &queued {
            let data: MintData = serde_json::from_value(q.data.clone()).map_err(|e| {
                PassError::Unreadable(format!("mint {} checkpoint: {e}", q.place.id))
            })?;
            items.push(BatchItem {
                mint: q.place.id,
                to: data.recipient,
                id: data.onchain_id,
            });
        }
        let ids: Vec<Uuid> = items.iter().map(|i| i.mint).collect();
        let data = BatchData::new(token_address, items);
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
            .await?
            .id();
        let moved = moves::move_parked(
            &txn,
            &moves::Move {
                ids: &ids,
                from_states: &[MintState::Pending.as_str()],
                from_statuses: &[store::workflows::Status::Waiting],
                to_state: MintState::Processing.as_str(),
                to_status: store::workflows::Status::Waiting,
                event: "batched",
                patch: json!({ "batch_id": batch }),
                tx_hash: None,
                error: None,
                detail: Some(json!({ "batch": batch, "size": ids.len() })),
                worker: None,
                run_now: false,
            },
            self.client.clock().now_ms(),
        )
        .await?;
        txn.commit().await?;
        self.client.wake_local();
        metrics::histogram!(telemetry::names::MINT_BATCH_SIZE).record(moved.len() as f64);
        tracing::debug!(%batch, token, size = moved.len(), "batch formed");
        Ok(moved.len())
    }
}

/// The open batches of `token` and the mints each carries.
async fn open_batches<C: sea_orm::ConnectionTrait>(
    conn: &C,
    token: &str,
) -> Result<Vec<OpenBatch>, PassError> {
    mints::open_batches(conn, token)
        .await?
        .into_iter()
        .map(|(id, data)| {
            let data: BatchData = serde_json::from_value(data)
                .map_err(|e| PassError::Unreadable(format!("batch {id} checkpoint: {e}")))?;
            Ok(OpenBatch {
                id,
                size: data.items.len() as u64,
            })
        })
        .collect()
}

/// Why a batcher pass stopped short; the next pass tries again.
#[derive(Debug, thiserror::Error)]
enum PassError {
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error(transparent)]
    Start(#[from] StartError),
    /// A stored row (a checkpoint, a registry value) that does not read as what wrote it.
    #[error("unreadable stored value: {0}")]
    Unreadable(String),
}

/// A token's supply: its cap and mint size as the registry records them (a MintToken's are
/// immutable; a registered token may have no getter for them), its total as the chain reports.
fn supply_of(registered: &token::Model, total_supply: U256) -> Result<Supply, PassError> {
    let stored = |what: &str, raw: &str| {
        U256::from_str_radix(raw, 10).map_err(|e| {
            PassError::Unreadable(format!(
                "{what} `{raw}` of token {}: {e}",
                registered.address
            ))
        })
    };
    Ok(Supply {
        max_supply: stored("max_supply", &registered.max_supply)?,
        total_supply,
        amount_per_mint: stored("amount_per_mint", &registered.amount_per_mint)?,
    })
}

/// Fails up to `limit` pending mints of `token`, which has no room left and nothing in
/// flight, with the token's own revert reason, in `txn` at `now`.
async fn fail_queued(
    txn: sea_orm::DatabaseTransaction,
    token: &str,
    supply: &Supply,
    limit: i64,
    now: i64,
) -> Result<usize, DbErr> {
    let queued = mints::lock_pending(&txn, token, limit).await?;
    let ids: Vec<Uuid> = queued.iter().map(|q| q.place.id).collect();
    let error = format!(
        "MaxSupplyExceeded(): token {token} has no room for another mint \
         (totalSupply {}, maxSupply {}, amountPerMint {})",
        supply.total_supply, supply.max_supply, supply.amount_per_mint
    );
    let failed = moves::move_parked(
        &txn,
        &moves::Move {
            ids: &ids,
            from_states: &[MintState::Pending.as_str()],
            from_statuses: &[store::workflows::Status::Waiting],
            to_state: MintState::Failed.as_str(),
            to_status: store::workflows::Status::Failed,
            event: "failed",
            patch: json!({ "failure": MintFailure::MaxSupplyExceeded }),
            tx_hash: None,
            error: Some(&error),
            detail: Some(json!({ "failure": MintFailure::MaxSupplyExceeded })),
            worker: None,
            run_now: false,
        },
        now,
    )
    .await?;
    txn.commit().await?;
    if !failed.is_empty() {
        tracing::info!(
            token,
            failed = failed.len(),
            "mints beyond the token's supply cap failed"
        );
    }
    Ok(failed.len())
}
