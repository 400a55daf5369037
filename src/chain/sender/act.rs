//! What the sender does to a transaction: broadcast it, replace it, make it final.
use alloy::consensus::TxEnvelope;
use alloy::eips::Decodable2718;
use alloy::network::TransactionBuilder;
use alloy::primitives::B256;
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use sea_orm::DbErr;

use super::super::fees::{self, Fees};
use super::super::reconcile;
use super::super::{Chain, ChainError, rpc};
use super::FILLER;
use super::decide::{Finality, MinedView, finality};
use crate::store::{
    self,
    chain::{AttemptRow, Mined, TxRow, TxStatus},
};
use crate::telemetry;

impl Chain {
    /// The node says the nonce is used, yet none of the transaction's `attempts` attempts has a
    /// receipt (all were asked, this pass). Something else took the nonce, or a node behind a
    /// load balancer answered the nonce before the receipt: only when several passes over some
    /// time read it so is the transaction failed; its owner learns and may retry with a new one.
    pub(super) async fn nonce_used(&self, tx: &TxRow, attempts: usize) -> Result<(), ChainError> {
        let now = self.now_ms();
        let (first_seen, reads) =
            store::chain::note_nonce_taken(&self.inner.db, tx.id, now).await?;
        if !reconcile::nonce_taken(first_seen, reads, now) {
            tracing::info!(tx = %tx.id, nonce = tx.nonce, reads,
                "nonce reads as used but no attempt has a receipt yet; looking again");
            return Ok(());
        }
        let reason = format!(
            "nonce {} was used by another transaction (none of its {attempts} signed attempts \
             had a receipt in {reads} reads over {} s)",
            tx.nonce,
            (now - first_seen) / 1000
        );
        self.finish(tx, TxStatus::Failed, Some(&reason)).await
    }

    /// Broadcasts an attempt's stored bytes. "Already known" and its kin mean the node has it.
    pub(super) async fn broadcast(
        &self,
        tx: &TxRow,
        attempt: &AttemptRow,
        head: i64,
    ) -> Result<(), ChainError> {
        match self.inner.provider.send_raw_transaction(&attempt.raw).await {
            Ok(_) => {}
            Err(e) if is_already_there(&e.to_string()) => {}
            Err(e) => {
                if let Some(refusal) = e.as_error_resp().filter(|r| !is_underpriced(&r.message)) {
                    // The node answered and refused these bytes (not a network failure).
                    let why = format!("node refused the transaction: {}", refusal.message);
                    store::chain::set_error(&self.inner.db, tx.id, &why, self.now_ms()).await?;
                }
                return Err(rpc(format_args!("broadcast of {}", attempt.hash), e));
            }
        }
        store::chain::mark_broadcast(&self.inner.db, tx.id, attempt.id, head, self.now_ms())
            .await?;
        Ok(())
    }

    pub(super) async fn node_knows(&self, hash: &str) -> Result<bool, ChainError> {
        let hash: B256 = hash
            .parse()
            .map_err(|e| ChainError::Failed(format!("stored hash {hash}: {e}")))?;
        Ok(self
            .inner
            .provider
            .get_transaction_by_hash(hash)
            .await
            .map_err(|e| rpc("a transaction by hash", e))?
            .is_some())
    }

    /// The receipt of whichever attempt was mined, if any.
    pub(super) async fn find_receipt(
        &self,
        attempts: &[AttemptRow],
    ) -> Result<Option<Mined>, ChainError> {
        for attempt in attempts.iter().rev() {
            let hash: B256 = attempt
                .hash
                .parse()
                .map_err(|e| ChainError::Failed(format!("stored hash: {e}")))?;
            if let Some(r) = self
                .inner
                .provider
                .get_transaction_receipt(hash)
                .await
                .map_err(|e| rpc("a receipt", e))?
            {
                let (Some(block), Some(block_hash)) = (r.block_number, r.block_hash) else {
                    continue; // pending receipts (some nodes) are not mined yet
                };
                return Ok(Some(Mined {
                    block: block as i64,
                    block_hash: format!("{block_hash:#x}"),
                    winner_hash: attempt.hash.clone(),
                    gas_used: r.gas_used as i64,
                    effective_gas_price: r.effective_gas_price,
                    contract_address: r.contract_address.map(super::super::signer::address_key),
                }));
            }
        }
        Ok(None)
    }

    /// Confirms a mined transaction once `confirmations` blocks are on top of it, after checking
    /// that its block is still the canonical one; otherwise a reorg took it and it is sent again.
    pub(super) async fn confirm(
        &self,
        tx: &TxRow,
        attempts: &[AttemptRow],
        head: i64,
    ) -> Result<(), ChainError> {
        let me = &self.inner;
        let (Some(block), Some(block_hash), Some(winner)) = (
            tx.mined_block,
            tx.mined_block_hash.as_deref(),
            tx.winner_hash.as_deref(),
        ) else {
            return Ok(());
        };
        let hash: B256 = winner
            .parse()
            .map_err(|e| ChainError::Failed(format!("stored hash: {e}")))?;
        let receipt = me
            .provider
            .get_transaction_receipt(hash)
            .await
            .map_err(|e| rpc("a receipt", e))?;
        let still_there = receipt.as_ref().is_some_and(|r| {
            r.block_hash.map(|h| format!("{h:#x}")).as_deref() == Some(block_hash)
        });
        let mined = MinedView {
            block,
            still_there,
            filler_won: attempts
                .iter()
                .any(|a| a.hash == winner && a.kind == FILLER),
            succeeded: receipt.as_ref().is_some_and(|r| r.status()),
        };
        let (status, error) = match finality(&mined, head, me.settings.get().confirmations) {
            Finality::NotDeep => return Ok(()),
            Finality::Reorged => {
                tracing::warn!(tx = %tx.id, block, "mined transaction left the chain (reorg); sending it again");
                store::chain::unmine(&me.db, tx.id, self.now_ms()).await?;
                let attempts = store::chain::attempts(&me.db, tx.id).await?;
                let Some(latest) = attempts.last() else {
                    return Ok(());
                };
                let refreshed = store::chain::find(&me.db, tx.id)
                    .await?
                    .unwrap_or_else(|| tx.clone());
                return self.broadcast(&refreshed, latest, head).await;
            }
            Finality::Freed => {
                let why = tx.error.as_deref().unwrap_or("it could not be mined");
                let why = format!(
                    "{why}; nonce {} freed by a zero-value self-transfer",
                    tx.nonce
                );
                (TxStatus::Failed, Some(why))
            }
            Finality::Confirmed => (TxStatus::Confirmed, None),
            Finality::Reverted => (
                TxStatus::Reverted,
                Some(self.revert_reason_at(tx, block).await),
            ),
        };
        self.finish(tx, status, error.as_deref()).await?;
        let first_broadcast = attempts.iter().filter_map(|a| a.broadcast_at_ms).min();
        if let (TxStatus::Confirmed, Some(at)) = (status, first_broadcast) {
            let seconds = (self.now_ms() - at).max(0) as f64 / 1000.0;
            metrics::histogram!(telemetry::names::TX_CONFIRMATION).record(seconds);
        }
        Ok(())
    }

    /// Records the final outcome and wakes the owner, in one transaction.
    async fn finish(
        &self,
        tx: &TxRow,
        status: TxStatus,
        error: Option<&str>,
    ) -> Result<(), ChainError> {
        let me = &self.inner;
        let now = self.now_ms();
        let txn = store::begin_write(&me.db).await?;
        if store::chain::finish(&txn, tx.id, status, error, now).await?
            && let Some(owner) = tx.owner_workflow_id
        {
            store::workflows::wake(&txn, owner, &format!("transaction {status}"), now).await?;
        }
        txn.commit().await?;
        if let Some(woken) = &me.on_owner_woken {
            woken();
        }
        tracing::debug!(tx = %tx.id, status = status.as_str(), "final");
        Ok(())
    }

    /// Replays a reverted transaction to learn why: first against the state before its block,
    /// then (when transactions earlier in the same block caused it) against the state after it.
    async fn revert_reason_at(&self, tx: &TxRow, block: i64) -> String {
        let mut call = TransactionRequest::default()
            .with_from(self.lane().address)
            .with_input(tx.input.clone())
            .with_gas_limit(tx.gas_limit as u64);
        if let Some(to) = tx.to_address.as_deref().and_then(|a| a.parse().ok()) {
            call.set_to(to);
        }
        for at in [block.saturating_sub(1), block] {
            let at = alloy::eips::BlockId::number(at as u64);
            if let Err(e) = self.inner.provider.call(call.clone()).block(at).await
                && let Some(reason) = super::super::revert::reason(&e)
            {
                return reason;
            }
        }
        "reverted (the node gave no reason)".into()
    }

    /// Signs a replacement at the same nonce with raised fees (only while holding the sender
    /// lease at `fence`, so no two processes sign different replacements) and broadcasts it.
    /// With `free`, the replacement is a zero-value transfer to ourselves: the call cannot land,
    /// and later nonces must not wait for it.
    pub(super) async fn replace(
        &self,
        tx: &TxRow,
        latest: &AttemptRow,
        owner: &str,
        fence: i64,
        free: bool,
        head: i64,
    ) -> Result<(), ChainError> {
        let me = &self.inner;
        let previous = Fees {
            max_fee_per_gas: latest.max_fee_per_gas.parse().unwrap_or_default(),
            max_priority_fee_per_gas: latest.max_priority_fee_per_gas.parse().unwrap_or_default(),
        };
        let now_fees = self.network_fees().await?;
        let fees = match fees::bumped(previous, now_fees, self.fee_caps()) {
            Some(fees) => fees,
            // The node refused the call, so nothing at this nonce is in its pool to outbid.
            None if free => now_fees,
            None => {
                // At the cap: keep the stored attempt in the pool and wait for fees to fall.
                tracing::warn!(tx = %tx.id, nonce = tx.nonce, "stuck at the fee cap; re-broadcasting");
                return self.broadcast(tx, latest, head).await;
            }
        };
        let (request, gas_limit, kind) = if free {
            let to_self = TransactionRequest::default()
                .with_from(self.lane().address)
                .with_to(self.lane().address)
                .with_value(alloy::primitives::U256::ZERO);
            (to_self, 21_000, FILLER)
        } else {
            let envelope = TxEnvelope::decode_2718(&mut latest.raw.as_slice())
                .map_err(|e| ChainError::Failed(format!("stored raw tx: {e}")))?;
            (envelope.into(), tx.gas_limit as u64, latest.kind.as_str())
        };
        let (raw, hash) = self.sign(request, tx.nonce as u64, gas_limit, fees).await?;
        let txn = store::begin_write(&me.db).await?;
        if !store::chain::holds_sender(
            &txn,
            me.chain_id as i64,
            &self.lane().address_key,
            owner,
            fence,
        )
        .await?
        {
            return Ok(()); // another process took over the sender; it decides
        }
        store::chain::insert_attempt(
            &txn,
            tx.id,
            kind,
            &hash,
            &raw,
            fees.max_fee_per_gas,
            fees.max_priority_fee_per_gas,
            self.now_ms(),
        )
        .await?;
        txn.commit().await?;
        metrics::counter!(telemetry::names::TX_FEE_BUMPS, "kind" => kind.to_owned()).increment(1);
        tracing::info!(tx = %tx.id, nonce = tx.nonce, hash, kind, max_fee = fees.max_fee_per_gas, "replacement signed");
        let attempts = store::chain::attempts(&me.db, tx.id).await?;
        let attempt = attempts
            .into_iter()
            .find(|a| a.hash == hash)
            .ok_or_else(|| ChainError::from(DbErr::RecordNotFound(hash.clone())))?;
        self.broadcast(tx, &attempt, head).await
    }
}

/// Refusals a fee bump cures: the transaction is fine, its fees are not.
fn is_underpriced(message: &str) -> bool {
    let m = message.to_lowercase();
    [
        "underpriced",
        "less than block base fee",
        "fee cap too low",
        "gas price too low",
        "max fee per gas less than",
    ]
    .iter()
    .any(|s| m.contains(s))
}

/// Node answers that mean the transaction (or one at its nonce) is already in the pool or mined.
fn is_already_there(message: &str) -> bool {
    let m = message.to_lowercase();
    [
        "already known",
        "known transaction",
        "already imported",
        "nonce too low",
        "replacement transaction underpriced",
        "transaction already exists",
    ]
    .iter()
    .any(|s| m.contains(s))
}
