//! New transactions: simulated, checked against the signer's balance and gas budget, then
//! signed at the signer's next nonce and stored, in one database transaction, for the sender
//! to broadcast.
use alloy::consensus::TxEnvelope;
use alloy::eips::Encodable2718;
use alloy::network::{NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::U256;
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use uuid::Uuid;

use super::fees::{FeeCaps, Fees};
use super::{Chain, ChainError, QUOTE_TTL, Quote, Submit, budget, rpc, signer};
use crate::store::{
    self,
    chain::{TxRow, TxStatus},
};

impl Chain {
    /// Simulates, signs and stores a transaction; the sender broadcasts it. Idempotent by
    /// `key`, across every signer of the pool: after a crash the caller submits again and gets
    /// the same transaction back, on the lane it was signed for. Errors before signing
    /// (revert, funds, RPC) leave no trace and use no nonce.
    pub async fn submit(&self, req: Submit) -> Result<Uuid, ChainError> {
        let me = &self.inner;
        if let Some(existing) =
            store::chain::find_by_key(&me.db, me.chain_id as i64, &req.key).await?
        {
            return Ok(existing.id);
        }
        if self.pin.is_some() {
            return self.submit_on_lane(&req).await;
        }
        let mut tried = Vec::new();
        let mut last = None;
        while let Some(lane) = self.choose_lane(&tried).await? {
            tried.push(lane);
            let on = self.on_lane(lane);
            let err = match on.submit_on_lane(&req).await {
                Err(e @ ChainError::InsufficientFunds { .. }) => {
                    on.mark_unfunded();
                    e
                }
                // Only the primary may be allowed the call (a token deployed before the pool
                // grew, or registered, with it as its sole minter): it is asked before the
                // revert counts.
                Err(e @ ChainError::Reverted(_)) if !tried.contains(&0) => {
                    tried.push(0);
                    match self.primary().submit_on_lane(&req).await {
                        Err(ChainError::Reverted(_)) => return Err(e),
                        other => return other,
                    }
                }
                other => return other,
            };
            last = Some(err);
        }
        Err(last.unwrap_or_else(|| ChainError::Failed("no signer can take the transaction".into())))
    }

    /// `submit` on this handle's lane.
    async fn submit_on_lane(&self, req: &Submit) -> Result<Uuid, ChainError> {
        let me = &self.inner;
        let lane = self.lane();
        let chain_id = me.chain_id as i64;
        let tx = self.request(&req.call);
        let gas_limit = match req.call.gas_limit {
            Some(g) => g,
            None => {
                let estimate = self.estimate(&req.call).await?;
                estimate + estimate / 5
            }
        };
        let Quote { fees, balance, .. } = self.quote().await?;
        let needed = U256::from(gas_limit) * U256::from(fees.max_fee_per_gas) + req.call.value;
        if balance < needed {
            return Err(ChainError::InsufficientFunds {
                signer: lane.address,
                balance,
                needed,
            });
        }

        // Nonce, signature and storage in one transaction: a crash leaves either nothing or a
        // stored transaction the sender will broadcast.
        let now = self.now_ms();
        let txn = store::begin_write(&me.db).await?;
        if let Some(existing) = store::chain::find_by_key(&txn, chain_id, &req.key).await? {
            return Ok(existing.id);
        }
        let nonce = store::chain::lock_next_nonce(&txn, chain_id, &lane.address_key).await?;
        // Counted under the lane's nonce lock: concurrent submits never pass the cap together.
        let in_flight = store::chain::count_open(&txn, chain_id, &lane.address_key).await?;
        if in_flight >= me.settings.get().max_in_flight_per_signer {
            return Err(ChainError::Backpressure(in_flight as usize));
        }
        // Under the nonce lock, so concurrent submissions see each other's worst case.
        self.check_budget(&txn, gas_limit, fees, now).await?;
        let (raw, hash) = self.sign(tx.clone(), nonce as u64, gas_limit, fees).await?;
        let row = TxRow {
            id: Uuid::now_v7(),
            chain_id,
            signer: lane.address_key.clone(),
            nonce,
            idempotency_key: req.key.clone(),
            owner_workflow_id: req.owner,
            purpose: req.purpose.clone(),
            to_address: req.call.to.map(signer::address_key),
            value: req.call.value.to_string(),
            input: req.call.input.to_vec(),
            gas_limit: gas_limit as i64,
            status: TxStatus::Signed.as_str().into(),
            mined_block: None,
            mined_block_hash: None,
            winner_hash: None,
            contract_address: None,
            gas_used: None,
            error: None,
            created_at_ms: now,
            updated_at_ms: now,
            confirmed_at_ms: None,
            nonce_taken_reads: 0,
        };
        if let Err(e) = store::chain::insert_tx(&txn, &row).await {
            // The same key signed on another lane at the same moment (each lane locks only its
            // own nonce): the unique key index lets one through; this one gives its nonce back.
            txn.rollback().await?;
            if let Some(existing) = store::chain::find_by_key(&me.db, chain_id, &req.key).await? {
                return Ok(existing.id);
            }
            return Err(e.into());
        }
        store::chain::insert_attempt(
            &txn,
            row.id,
            "tx",
            &hash,
            &raw,
            fees.max_fee_per_gas,
            fees.max_priority_fee_per_gas,
            now,
        )
        .await?;
        store::chain::set_next_nonce(&txn, chain_id, &lane.address_key, nonce + 1, now).await?;
        txn.commit().await?;
        tracing::debug!(tx = %row.id, signer = %lane.address, nonce, hash, "transaction signed and stored");
        lane.sender_wake.notify_one();
        Ok(row.id)
    }

    /// Signs `tx` at `nonce`: returns the raw EIP-2718 bytes and the hash.
    pub(super) async fn sign(
        &self,
        tx: TransactionRequest,
        nonce: u64,
        gas_limit: u64,
        fees: Fees,
    ) -> Result<(Vec<u8>, String), ChainError> {
        let request = tx
            .with_nonce(nonce)
            .with_chain_id(self.inner.chain_id)
            .with_gas_limit(gas_limit)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        let envelope: TxEnvelope = request
            .build(&self.lane().wallet)
            .await
            .map_err(|e| ChainError::Signing(e.to_string()))?;
        Ok((
            envelope.encoded_2718(),
            format!("{:#x}", envelope.tx_hash()),
        ))
    }

    /// Fees and balance for new transactions, asked of the node at most once per `QUOTE_TTL`:
    /// under load, one answer serves every submit in that window instead of two RPC calls each.
    async fn quote(&self) -> Result<Quote, ChainError> {
        let mut cached = self.lane().quote.lock().await;
        if let Some(q) = cached.as_ref().filter(|q| q.at.elapsed() < QUOTE_TTL) {
            return Ok(q.clone());
        }
        let (fees, balance) = tokio::try_join!(self.network_fees(), async {
            self.inner
                .provider
                .get_balance(self.lane().address)
                .await
                .map_err(|e| rpc("the signer's balance", e))
        })?;
        let fresh = Quote {
            at: std::time::Instant::now(),
            fees,
            balance,
        };
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    /// Refuses a transaction of at most `gas_limit` gas at `fees` when the signer's spend in the
    /// last hour, with it, would pass `max_gas_spend_wei_per_hour` (see `budget`).
    async fn check_budget(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        gas_limit: u64,
        fees: Fees,
        now: i64,
    ) -> Result<(), ChainError> {
        let me = &self.inner;
        let budget = u128::try_from(me.settings.get().max_gas_spend_wei_per_hour).unwrap_or(0);
        if budget == 0 {
            return Ok(());
        }
        let since = now - budget::WINDOW_MS;
        let rows =
            store::chain::spend_since(txn, me.chain_id as i64, &self.lane().address_key, since)
                .await?;
        let recent: Vec<budget::Spend> = rows.iter().map(spend_of).collect();
        let needed = u128::from(gas_limit).saturating_mul(fees.max_fee_per_gas);
        budget::admit(&recent, needed, budget, now).map_err(|refused| {
            metrics::counter!(crate::telemetry::names::TX_SPEND_BUDGET_REFUSALS).increment(1);
            tracing::warn!(signer = %self.lane().address, spent = %refused.spent, budget = %refused.budget,
                "gas spend budget reached; new transactions wait");
            ChainError::from(refused)
        })
    }

    /// The highest fees any attempt may offer: the hot `max_fee_gwei` and
    /// `max_priority_fee_gwei` settings.
    pub(super) fn fee_caps(&self) -> FeeCaps {
        let settings = self.inner.settings.get();
        let wei = |gwei: i64| u128::try_from(gwei).unwrap_or_default() * 1_000_000_000;
        FeeCaps {
            max_fee_per_gas: wei(settings.max_fee_gwei),
            max_priority_fee_per_gas: wei(settings.max_priority_fee_gwei),
        }
    }

    /// What the network asks for now, within `max_fee_gwei` and `max_priority_fee_gwei`: the
    /// fees a new transaction offers.
    pub async fn network_fees(&self) -> Result<Fees, ChainError> {
        let estimate = self
            .inner
            .provider
            .estimate_eip1559_fees()
            .await
            .map_err(|e| rpc("fee estimate", e))?;
        Ok(self.fee_caps().limit(Fees {
            max_fee_per_gas: estimate.max_fee_per_gas,
            max_priority_fee_per_gas: estimate.max_priority_fee_per_gas,
        }))
    }
}

/// A stored transaction's share of the spend: what it paid once mined, else its worst case.
/// Amounts the store cannot read count as the most they could be.
fn spend_of(row: &store::chain::SpendRow) -> budget::Spend {
    let wei = |v: &Option<String>| v.as_deref().map(|v| v.parse().unwrap_or(u128::MAX));
    let paid = match (row.gas_used, wei(&row.effective_gas_price), row.mined_at_ms) {
        (Some(gas), Some(price), Some(at)) => Some(budget::Paid {
            wei: u128::try_from(gas)
                .unwrap_or_default()
                .saturating_mul(price),
            mined_at_ms: at,
        }),
        _ => None,
    };
    budget::Spend {
        paid,
        gas_limit: u64::try_from(row.gas_limit).unwrap_or_default(),
        max_fee_per_gas: wei(&row.max_fee_per_gas).unwrap_or(0),
    }
}
