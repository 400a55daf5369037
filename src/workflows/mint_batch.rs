//! `mint_batch`: pending mints of one token sent as one `batchMint(to[], ids[])`.
//!
//! `pending -> sent -> confirmed`, or `failed`. The batcher creates a batch in `pending` in
//! the same transaction that moves its mints to `processing`. The `pending` step submits the
//! batch to the transaction pipeline (idempotent by the key `mint_batch:{id}:{generation}`)
//! and moves the mints to `sent`; the sender wakes the batch when the transaction is final,
//! and the `sent` step marks every mint `confirmed` with the winning hash and block, in the
//! batch's own checkpoint transaction.
//!
//! A batch whose simulation reverts is bisected: the longest prefix that still simulates is
//! kept, the first item after it is failed with the revert reason, and the search goes on
//! with the rest, so one bad item cannot sink the others. When the reason is the token's
//! supply cap (`MaxSupplyExceeded()`, which the batcher's accounting leaves only to mints made
//! outside mintflow), the item and all after it go back to the queue instead: whether they
//! fail depends on batches still in flight, which the batcher knows. The item set changes
//! only in a checkpoint, together with a new generation (and so a new pipeline key).
use std::future::Future;
use std::sync::Arc;

use alloy::primitives::{Address, B256, U256};
use alloy::sol_types::SolCall;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::mint::{MintFailure, MintState};
use crate::chain::contracts::MintToken;
use crate::chain::token::is_max_supply_exceeded;
use crate::chain::{Call, Chain, ChainError, Submitted, TxOutcome};
use crate::engine::{Effect, Step, StepCtx, StepError, Transition, Workflow};
use crate::store::mints::MINT_BATCH;
use crate::store::moves::{Move, move_parked};
use crate::store::workflows::Status;

/// Times a batch is sent again after its transaction reverted or could not land, before its
/// remaining mints fail.
const MAX_RESENDS: u32 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    /// Being simulated and submitted.
    Pending,
    /// Its transaction is with the pipeline; the sender wakes it when final.
    Sent,
    Confirmed,
    Failed,
}

/// One mint in a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchItem {
    pub mint: Uuid,
    pub to: Address,
    pub id: B256,
}

/// A mint the batch dropped, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedItem {
    pub mint: Uuid,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchData {
    pub token: Address,
    /// The mints the current generation sends.
    pub items: Vec<BatchItem>,
    /// Mints failed by bisection.
    #[serde(default)]
    pub dropped: Vec<DroppedItem>,
    /// Bumped whenever the item set changes or the batch is sent again.
    #[serde(default)]
    pub generation: u32,
    #[serde(default)]
    pub resends: u32,
    #[serde(default)]
    pub tx_id: Option<Uuid>,
    #[serde(default)]
    pub tx_hash: Option<String>,
    #[serde(default)]
    pub block: Option<i64>,
    #[serde(default)]
    pub gas_used: Option<i64>,
}

/// The `mint_batch` kind.
pub struct MintBatch {
    chain: Chain,
}

impl MintBatch {
    pub fn new(chain: Chain) -> Self {
        MintBatch { chain }
    }
}

type BatchStep = Step<BatchState, BatchData>;

impl Workflow for MintBatch {
    type State = BatchState;
    type Data = BatchData;
    const KIND: &'static str = MINT_BATCH;

    /// A batch never gives up on transient errors (RPC down, signer out of funds, pipeline
    /// full): its mints were accepted and must be sent. Operators see the last error.
    fn max_attempts(&self) -> Option<u32> {
        Some(u32::MAX)
    }

    async fn step(
        &self,
        ctx: &StepCtx,
        state: BatchState,
        data: BatchData,
    ) -> Result<BatchStep, StepError> {
        match state {
            BatchState::Pending => self.submit(ctx, data).await,
            BatchState::Sent => self.follow(ctx, data).await,
            BatchState::Confirmed => Ok(Step::complete(state, data)),
            BatchState::Failed => Err(StepError::Permanent(
                "a failed batch is not sent again; retry its mints instead".into(),
            )),
        }
    }
}

impl MintBatch {
    /// `pending`: submit the batch, or bisect it when it reverts.
    async fn submit(&self, ctx: &StepCtx, mut data: BatchData) -> Result<BatchStep, StepError> {
        if data.items.is_empty() {
            return Ok(Step::new(
                Transition::Fail(
                    BatchState::Failed,
                    "every mint of the batch was dropped or sent back to the queue".into(),
                ),
                data,
            ));
        }
        let submitted = self
            .chain
            .submit_for(
                ctx.workflow_id,
                format!("mint_batch:{}:{}", ctx.workflow_id, data.generation),
                MINT_BATCH,
                batch_call(data.token, &data.items),
            )
            .await;
        match submitted {
            Ok(Submitted { id: tx_id, hash }) => {
                data.tx_id = Some(tx_id);
                data.tx_hash = hash.clone();
                let sent = MintMove {
                    mints: data.items.iter().map(|i| i.mint).collect(),
                    from: &[MintState::Processing, MintState::Sent],
                    to: MintState::Sent,
                    event: "sent",
                    patch: json!({ "tx_hash": hash }),
                    tx_hash: hash.clone(),
                    error: None,
                };
                Ok(Step::new(Transition::Wait(BatchState::Sent), data)
                    .with_effect(sent.effect(ctx))
                    .with_detail(json!({ "tx_id": tx_id, "tx_hash": hash })))
            }
            Err(ChainError::Reverted(reason)) => self.bisect(ctx, data, reason).await,
            Err(ChainError::OverBudget(wait)) => Err(wait.into()),
            Err(e) if e.is_transient() || matches!(e, ChainError::InsufficientFunds { .. }) => {
                Err(StepError::Transient(e.to_string()))
            }
            Err(e) => Err(StepError::Permanent(e.to_string())),
        }
    }

    /// Drops the items that make the batch revert (`reason` is the whole batch's revert),
    /// sends back to the queue those the supply cap has no room for, and goes back to
    /// `pending` with the rest.
    async fn bisect(
        &self,
        ctx: &StepCtx,
        mut data: BatchData,
        reason: String,
    ) -> Result<BatchStep, StepError> {
        let token = data.token;
        let items = data.items.clone();
        let chain = &self.chain;
        let found = isolate(items.len(), |subset: Vec<usize>| {
            let picked: Vec<BatchItem> = subset.iter().map(|&i| items[i].clone()).collect();
            async move {
                match chain.estimate(&batch_call(token, &picked)).await {
                    Ok(_) => Ok(None),
                    Err(ChainError::Reverted(why)) => Ok(Some(why)),
                    Err(e) => Err(StepError::Transient(e.to_string())),
                }
            }
        })
        .await?;
        tracing::info!(batch = %ctx.workflow_id, dropped = found.bad.len(),
            requeued = found.over_cap.len(), kept = found.keep.len(), %reason,
            "batch reverts in simulation; bisected");
        let mut effects = Vec::new();
        for (index, why) in &found.bad {
            let item = &items[*index];
            data.dropped.push(DroppedItem {
                mint: item.mint,
                reason: why.clone(),
            });
            effects.push(
                MintMove {
                    mints: vec![item.mint],
                    from: &[MintState::Processing, MintState::Sent],
                    to: MintState::Failed,
                    event: "failed",
                    patch: json!({ "failure": MintFailure::Reverts }),
                    tx_hash: None,
                    error: Some(format!("the mint reverts: {why}")),
                }
                .effect(ctx),
            );
        }
        if !found.over_cap.is_empty() {
            let requeued = found.over_cap.iter().map(|&i| items[i].mint).collect();
            effects.push(
                MintMove {
                    mints: requeued,
                    from: &[MintState::Processing, MintState::Sent],
                    to: MintState::Pending,
                    event: "requeued",
                    patch: json!({ "batch_id": null, "tx_hash": null }),
                    tx_hash: None,
                    error: None,
                }
                .effect(ctx),
            );
        }
        data.items = found.keep.into_iter().map(|i| items[i].clone()).collect();
        data.generation += 1;
        let detail = json!({ "reverted": reason, "dropped": found.bad.len(),
            "requeued": found.over_cap.len(), "kept": data.items.len() });
        let mut step = Step::next(BatchState::Pending, data).with_detail(detail);
        step.effects = effects;
        Ok(step)
    }

    /// `sent`: woken when the transaction is final (or spuriously).
    async fn follow(&self, ctx: &StepCtx, mut data: BatchData) -> Result<BatchStep, StepError> {
        let tx_id = data
            .tx_id
            .ok_or_else(|| StepError::Permanent("sent batch without a transaction".into()))?;
        let reason = match self.chain.outcome(tx_id).await? {
            TxOutcome::Pending { .. } => {
                return Ok(Step::new(Transition::Wait(BatchState::Sent), data));
            }
            TxOutcome::Confirmed {
                hash,
                block,
                gas_used,
                ..
            } => {
                data.tx_hash = Some(hash.clone());
                data.block = Some(block);
                data.gas_used = Some(gas_used);
                // Truth wins over an operator's late cancel: a mint its batch carried is minted.
                let confirmed = MintMove {
                    mints: data.items.iter().map(|i| i.mint).collect(),
                    from: &[MintState::Processing, MintState::Sent],
                    to: MintState::Confirmed,
                    event: "confirmed",
                    patch: json!({ "tx_hash": hash, "block": block }),
                    tx_hash: Some(hash.clone()),
                    error: None,
                };
                let detail = json!({ "tx_hash": hash, "block": block, "gas_used": gas_used });
                return Ok(Step::complete(BatchState::Confirmed, data)
                    .with_effect(confirmed.effect(ctx))
                    .with_detail(detail));
            }
            TxOutcome::Reverted { reason, .. } => format!("reverted on chain: {reason}"),
            TxOutcome::Failed { reason } => format!("could not land: {reason}"),
        };
        data.resends += 1;
        if data.resends > MAX_RESENDS {
            let failed = MintMove {
                mints: data.items.iter().map(|i| i.mint).collect(),
                from: &[MintState::Processing, MintState::Sent],
                to: MintState::Failed,
                event: "failed",
                patch: json!({ "failure": MintFailure::BatchGaveUp }),
                tx_hash: None,
                error: Some(format!("batch {} gave up: {reason}", ctx.workflow_id)),
            };
            let why = format!("sent {MAX_RESENDS} times without success; last: {reason}");
            return Ok(Step::new(Transition::Fail(BatchState::Failed, why), data)
                .with_effect(failed.effect(ctx)));
        }
        // Simulate and send again under a new key; `batchMint` skips any id that did land.
        data.generation += 1;
        data.tx_id = None;
        Ok(Step::next(BatchState::Pending, data).with_detail(json!({ "resend": reason })))
    }
}

/// The `batchMint` call for `items`.
pub fn batch_call(token: Address, items: &[BatchItem]) -> Call {
    let call = MintToken::batchMintCall {
        to: items.iter().map(|i| i.to).collect(),
        ids: items.iter().map(|i| i.id).collect(),
    };
    Call {
        to: Some(token),
        input: call.abi_encode().into(),
        value: U256::ZERO,
        gas_limit: None,
    }
}

/// What `isolate` found in a reverting batch (indexes into it, in order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Isolated {
    /// Items that go through together.
    pub keep: Vec<usize>,
    /// Items that revert whatever else is in the batch, with the reason.
    pub bad: Vec<(usize, String)>,
    /// The first item the supply cap has no room for, and every item after it.
    pub over_cap: Vec<usize>,
}

/// Finds the items of a batch of `n` that make it revert. `simulate(subset)` answers `None`
/// when the subset (indexes, in order) goes through, or the revert reason.
///
/// Reverts can be cumulative (a supply cap that only the sum of items exceeds), so halves are
/// not tried independently: a binary search finds the longest prefix on top of what is kept
/// that still goes through; the item after it is bad, and the search goes on with the items
/// after it. When the bad item's reason is the supply cap, it and every later item are over
/// the cap (one simulation each would only say so again), and the search stops.
///
/// Cost, in simulations: `ceil(log2 n) + 1` per bad item (the cap counting as one: a check
/// of the rest, then a binary search), plus one for the clean rest.
pub async fn isolate<F, Fut>(n: usize, simulate: F) -> Result<Isolated, StepError>
where
    F: Fn(Vec<usize>) -> Fut,
    Fut: Future<Output = Result<Option<String>, StepError>>,
{
    let mut found = Isolated {
        keep: Vec::new(),
        bad: Vec::new(),
        over_cap: Vec::new(),
    };
    let mut next = 0;
    while next < n {
        let with = |k: usize| {
            found
                .keep
                .iter()
                .copied()
                .chain(next..k)
                .collect::<Vec<_>>()
        };
        // Simulated again rather than trusting the revert that led here: the chain may have
        // moved since, and an item is failed only on a revert seen now.
        let Some(reason) = simulate(with(n)).await? else {
            found.keep.extend(next..n);
            break;
        };
        // keep ++ [next, lo) goes through; keep ++ [next, hi) reverts with `reason`.
        let (mut lo, mut hi, mut reason) = (next, n, reason);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            match simulate(with(mid)).await? {
                None => lo = mid,
                Some(why) => {
                    hi = mid;
                    reason = why;
                }
            }
        }
        found.keep.extend(next..lo);
        if is_max_supply_exceeded(&reason) {
            found.over_cap.extend(lo..n);
            break;
        }
        found.bad.push((lo, reason));
        next = hi;
    }
    Ok(found)
}

/// Mints a batch moves, as an effect of its checkpoint.
struct MintMove {
    mints: Vec<Uuid>,
    from: &'static [MintState],
    to: MintState,
    event: &'static str,
    patch: serde_json::Value,
    tx_hash: Option<String>,
    error: Option<String>,
}

impl MintMove {
    fn effect(self, ctx: &StepCtx) -> Effect {
        let worker = ctx.worker_id.clone();
        let batch = ctx.workflow_id;
        let me = Arc::new(self);
        Arc::new(move |txn| {
            let me = me.clone();
            let worker = worker.clone();
            Box::pin(async move {
                let from: Vec<&str> = me.from.iter().map(|s| s.as_str()).collect();
                let to_status = match me.to {
                    MintState::Confirmed => Status::Completed,
                    MintState::Failed => Status::Failed,
                    _ => Status::Waiting,
                };
                let now = crate::store::now_ms();
                let m = Move {
                    ids: &me.mints,
                    from_states: &from,
                    // Cancelled mints are moved too: once in a batch, the chain decides.
                    from_statuses: &[Status::Waiting, Status::Cancelled],
                    to_state: me.to.as_str(),
                    to_status,
                    event: me.event,
                    patch: me.patch.clone(),
                    tx_hash: me.tx_hash.as_deref(),
                    error: me.error.as_deref(),
                    detail: Some(json!({ "batch": batch, "tx_hash": me.tx_hash })),
                    worker: Some(&worker),
                    run_now: false,
                };
                if me.to == MintState::Pending {
                    // Back to the queue: a mint cancelled while in the batch stays cancelled
                    // (the chain never carried it), out of the queue and of the batches.
                    let cancelled = Move {
                        from_statuses: &[Status::Cancelled],
                        to_state: MintState::Cancelled.as_str(),
                        to_status: Status::Cancelled,
                        event: "cancelled",
                        ..m.clone()
                    };
                    move_parked(txn, &cancelled, now).await?;
                    let requeued = Move {
                        from_statuses: &[Status::Waiting],
                        ..m
                    };
                    move_parked(txn, &requeued, now).await?;
                } else {
                    move_parked(txn, &m, now).await?;
                }
                Ok(())
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use alloy::sol_types::SolError;

    use super::*;

    /// The decoded reason of the token's supply cap revert.
    fn cap_reason() -> String {
        crate::chain::revert::decode(&MintToken::MaxSupplyExceeded {}.abi_encode()).unwrap()
    }

    /// Runs `isolate` over a simulated `batchMint`: `cap` items fit in total, and the items in
    /// `rejected` revert on their own. Returns what it found and how many simulations
    /// (`eth_estimateGas` calls) it made.
    async fn run(n: usize, cap: usize, rejected: &[usize]) -> (Isolated, usize) {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let found = isolate(n, |subset| {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let reason = if let Some(r) = subset.iter().find(|i| rejected.contains(i)) {
                Some(format!("rejects {r}"))
            } else if subset.len() > cap {
                Some(cap_reason())
            } else {
                None
            };
            async move { Ok(reason) }
        })
        .await
        .unwrap();
        (found, calls.into_inner())
    }

    fn bad(found: &Isolated) -> Vec<usize> {
        found.bad.iter().map(|(i, _)| *i).collect()
    }

    /// The promised bound: `ceil(log2 n) + 1` simulations per bad item (the cap counting as
    /// one), plus one.
    fn bound(n: usize, found: &Isolated) -> usize {
        let log2 = n.next_power_of_two().trailing_zeros() as usize;
        let bad_items = found.bad.len() + usize::from(!found.over_cap.is_empty());
        bad_items * (log2 + 1) + 1
    }

    #[tokio::test]
    async fn one_rejected_item_fails_alone() {
        let (found, calls) = run(100, 1000, &[37]).await;
        assert_eq!(bad(&found), vec![37]);
        assert_eq!(found.keep.len(), 99);
        assert!(!found.keep.contains(&37));
        assert!(found.over_cap.is_empty());
        // One check, a search of at most 7 steps, one check of the rest.
        assert!(calls <= 1 + 7 + 1, "{calls} simulations");
        assert!(calls <= bound(100, &found));
    }

    #[tokio::test]
    async fn the_cap_sends_back_what_does_not_fit_after_one_search() {
        let (found, calls) = run(10, 7, &[]).await;
        assert_eq!(found.keep, (0..7).collect::<Vec<_>>());
        assert_eq!(found.over_cap, vec![7, 8, 9]);
        assert!(found.bad.is_empty());
        // Not one search per item over the cap: one check and one search in all.
        assert!(calls <= 1 + 4, "{calls} simulations");
        let (found, calls) = run(1000, 150, &[]).await;
        assert_eq!((found.keep.len(), found.over_cap.len()), (150, 850));
        assert!(calls <= 1 + 10, "{calls} simulations");
    }

    #[tokio::test]
    async fn rejected_items_before_the_cap_fail_and_the_rest_wait() {
        let (found, calls) = run(100, 50, &[3, 20]).await;
        assert_eq!(bad(&found), vec![3, 20]);
        // 50 fit; the items from the 51st that fits on go back to the queue.
        assert_eq!(found.keep.len(), 50);
        assert_eq!(found.over_cap, (52..100).collect::<Vec<_>>());
        assert!(calls <= bound(100, &found), "{calls} simulations");
    }

    #[tokio::test]
    async fn several_rejected_items_and_a_clean_batch() {
        let (found, _) = run(20, 100, &[0, 5, 19]).await;
        assert_eq!(bad(&found), vec![0, 5, 19]);
        assert_eq!(found.keep.len(), 17);
        let (found, calls) = run(20, 100, &[]).await;
        assert_eq!((found.keep.len(), found.bad.len(), calls), (20, 0, 1));
    }

    /// Every mix of batch size, cap and rejected items: a partition of the batch, only
    /// rejected items failed, what is kept goes through, and the bound holds.
    #[tokio::test]
    async fn the_simulations_stay_within_log2_n_per_bad_item() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |m: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % m as u64) as usize
        };
        for _ in 0..300 {
            let n = 1 + next(200);
            let cap = next(n + 20);
            let rejected: Vec<usize> = (0..next(6)).map(|_| next(n)).collect();
            let (found, calls) = run(n, cap, &rejected).await;
            let mut all: Vec<usize> = found.keep.clone();
            all.extend(bad(&found));
            all.extend(&found.over_cap);
            all.sort();
            assert_eq!(
                all,
                (0..n).collect::<Vec<_>>(),
                "n {n} cap {cap} {rejected:?}"
            );
            assert!(bad(&found).iter().all(|i| rejected.contains(i)));
            assert!(found.keep.iter().all(|i| !rejected.contains(i)));
            assert!(found.keep.len() <= cap);
            assert!(
                calls <= bound(n, &found),
                "n {n} cap {cap} {rejected:?}: {calls} simulations, bound {}",
                bound(n, &found)
            );
        }
    }
}
