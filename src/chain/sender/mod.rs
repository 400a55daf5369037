//! The sender of one signer: the only process that broadcasts for it (a lease with a fencing
//! counter in `chain_signers`). Each pass broadcasts newly signed transactions, follows
//! receipts to `confirmations` depth (re-checking the block hash: a reorged transaction goes
//! back to `sent` and is re-broadcast from its stored bytes), re-broadcasts transactions the
//! node dropped, and replaces the lowest stuck one with higher fees at the same nonce. What to
//! do with each transaction is decided purely (`decide::next_action`, with `reconcile`'s
//! timing rules); `follow` observes what the decision asks for and executes it (`act`).
use std::time::Duration;

use alloy::providers::Provider;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::reconcile::{BumpAfter, Lowest, Newest};
use super::{Chain, ChainError, rpc};
use crate::store::{self, chain::TxRow};
use decide::{Action, Head, Next, Question, Seen, Stage, Tracked, next_action};

mod act;
mod decide;

/// The kind of attempt that frees a nonce: a zero-value transfer to ourselves.
const FILLER: &str = "filler";

/// How long a sender lease lasts without renewal.
const LEASE_MS: i64 = 10_000;
/// Transactions handled concurrently within one pass.
const PARALLEL: usize = 16;

impl Chain {
    /// Runs the sender of every signer of the pool until `stop`, each under its own lease.
    pub async fn run_senders(self, owner: String, stop: CancellationToken) {
        let senders = self
            .lanes()
            .into_iter()
            .map(|lane| lane.run_sender(owner.clone(), stop.clone()));
        futures::future::join_all(senders).await;
    }

    /// Runs the sender loop of this handle's lane until `stop`; only the process holding the
    /// lease acts.
    async fn run_sender(self, owner: String, stop: CancellationToken) {
        let poll = Duration::from_millis(self.inner.config.poll_ms);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = self.lane().sender_wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
            match self.pass(&owner).await {
                Ok(()) => {}
                Err(e) => tracing::warn!(error = %e, "sender pass failed; retrying"),
            }
        }
        let me = &self.inner;
        if let Err(e) = store::chain::release_sender(
            &me.db,
            me.chain_id as i64,
            &self.lane().address_key,
            &owner,
        )
        .await
        {
            tracing::warn!(error = %e, "could not release the sender lease");
        }
    }

    /// One look at every open transaction, if this process holds the sender lease.
    pub async fn pass(&self, owner: &str) -> Result<(), ChainError> {
        let me = &self.inner;
        let lane = self.lane();
        let chain_id = me.chain_id as i64;
        let now = self.now_ms();
        let Some(fence) =
            store::chain::acquire_sender(&me.db, chain_id, &lane.address_key, owner, now, LEASE_MS)
                .await?
        else {
            return Ok(());
        };
        let open = store::chain::open_txs(&me.db, chain_id, &lane.address_key).await?;
        if open.is_empty() {
            return Ok(());
        }
        let latest = me
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .map_err(|e| rpc("the latest block", e))?
            .ok_or_else(|| ChainError::Failed("the node has no latest block".into()))?;
        let head = latest.header.number as i64;
        let block_gas_limit = latest.header.gas_limit as i64;
        // Nonces below this are used on chain, by our transactions or by others.
        let used = me
            .provider
            .get_transaction_count(lane.address)
            .await
            .map_err(|e| rpc("the signer's nonce", e))? as i64;
        // Transactions sent outside mintflow: never hand their nonces out again.
        store::chain::ensure_signer(&me.db, chain_id, &lane.address_key, used, self.now_ms())
            .await?;
        let lowest = {
            let mut seen = lane.lowest.lock().expect("lowest nonce lock");
            let lowest = Lowest::observe(*seen, used, head, self.now_ms());
            *seen = Some(lowest);
            lowest
        };
        let results: Vec<Result<(), ChainError>> = futures::stream::iter(open)
            .map(|tx| {
                self.follow(
                    tx,
                    Head {
                        number: head,
                        gas_limit: block_gas_limit,
                        used,
                        lowest,
                    },
                    owner,
                    fence,
                )
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        for r in results {
            if let Err(e) = r {
                tracing::warn!(error = %e, "transaction step failed; retried next pass");
            }
        }
        Ok(())
    }

    /// Observes what the decision (`next_action`) asks for, then does what it decided.
    async fn follow(
        &self,
        tx: TxRow,
        head: Head,
        owner: &str,
        fence: i64,
    ) -> Result<(), ChainError> {
        let attempts = store::chain::attempts(&self.inner.db, tx.id).await?;
        let Some(latest) = attempts.last().cloned() else {
            return Ok(());
        };
        let settings = self.inner.settings.get();
        let after = BumpAfter {
            ms: settings.bump_after_secs * 1000,
            blocks: settings.bump_after_blocks,
        };
        let tracked = Tracked {
            stage: Stage::of(tx.tx_status()),
            nonce: tx.nonce,
            gas_limit: tx.gas_limit,
            refused: tx.error.is_some(),
            nonce_taken_reads: tx.nonce_taken_reads,
            newest: Newest {
                created_at_ms: latest.created_at_ms,
                broadcast_block: latest.broadcast_block,
            },
            newest_broadcast: latest.broadcast_at_ms.is_some(),
            newest_is_filler: latest.kind == FILLER,
        };
        let mut seen = Seen {
            head,
            now_ms: self.now_ms(),
            receipt: None,
            in_pool: None,
        };
        let mut mined = None;
        let actions = loop {
            match next_action(&tracked, &seen, after) {
                Next::Ask(Question::Receipts) => {
                    mined = self.find_receipt(&attempts).await?;
                    seen.receipt = Some(mined.is_some());
                }
                Next::Ask(Question::Pool) => {
                    seen.in_pool = Some(self.node_knows(&latest.hash).await?);
                }
                Next::Do(actions) => break actions,
            }
        };
        let db = &self.inner.db;
        for action in actions {
            match action {
                Action::Confirm => self.confirm(&tx, &attempts, head.number).await?,
                Action::Broadcast => self.broadcast(&tx, &latest, head.number).await?,
                Action::MarkMined => {
                    if let Some(mined) = &mined {
                        store::chain::mark_mined(db, tx.id, mined, self.now_ms()).await?;
                        tracing::debug!(tx = %tx.id, block = mined.block, "mined");
                    }
                }
                Action::NonceUsed => self.nonce_used(&tx, attempts.len()).await?,
                Action::ForgetNonceTaken => store::chain::forget_nonce_taken(db, tx.id).await?,
                Action::Refuse(why) => {
                    store::chain::set_error(db, tx.id, &why, self.now_ms()).await?
                }
                Action::Replace { free } => {
                    self.replace(&tx, &latest, owner, fence, free, head.number)
                        .await?
                }
            }
        }
        Ok(())
    }
}
