//! `payment`: a USDC payment for mints, settled with the payer's signed EIP-3009
//! authorization (`x402`, or `gasless` through the JSON API).
//!
//! `pending -> processing -> sent -> confirmed`, or `failed`. The payment and its mints (in
//! `awaiting_payment`) are created in one transaction; the payment's idempotency key is the
//! authorization itself (`eip3009:{chain}:{asset}:{from}:{nonce}`), so the unique index on
//! workflow keys reserves each authorization once. `pending` simulates the settlement (the
//! nonce unused, the balance there, the signature valid for the token); `processing` submits
//! `transferWithAuthorization` to the transaction pipeline under the key `payment:{id}`; `sent`
//! is woken when it is final. A settlement that reverts (simulated or mined) or cannot land goes
//! to `checking`: anyone holding the signed authorization can submit it before us, and then the
//! payer's funds reached us through their transaction (`front_run`). Confirmed (by our
//! settlement or theirs): the mints go to `pending` (the batcher takes them) in
//! the payment's checkpoint transaction. Ended otherwise (its step failed it, the engine gave
//! up retrying, an operator cancelled it): the engine cancels them in that transaction, with
//! the reason, and an operator's retry puts them back (`store::held`).
//!
//! The workflow key reserves an authorization only while the workflow row exists; the
//! permanent reservation is the payment's receipt (`receipt`), written in the same
//! transaction and never deleted.
use alloy::primitives::{Address, B256, Bytes, Signature, U256};
use alloy::sol_types::SolCall;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::chain_step::{self, ChainKind, ChainStep, Decide, Retry, on_error};
use crate::chain::contracts::MockUSDC;
use crate::chain::{Call, Chain, TxOutcome};
use crate::engine::{Step, StepCtx, StepError, Workflow};

mod batched;
mod create;
pub mod custom;
mod decide;
pub mod exposure;
mod front_run;
pub mod receipt;
pub mod shown;

pub use batched::BatchOutcome;
pub use create::{CreateError, Created, Purchase, create};
pub use decide::{Observed, decide};

pub const PAYMENT: &str = "payment";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentState {
    /// Accepted; its settlement is being simulated.
    Pending,
    /// Verified on chain; the settlement is being submitted.
    Processing,
    /// The settlement transaction is with the sender.
    Sent,
    /// The settlement reverted or could not land: whether the authorization paid us through
    /// someone else's transaction is being checked.
    Checking,
    Confirmed,
    Failed,
}

state_names!(PaymentState {
    Pending => "pending",
    Processing => "processing",
    Sent => "sent",
    Checking => "checking",
    Confirmed => "confirmed",
    Failed => "failed",
});

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
    X402,
    Gasless,
    /// A USDC transfer the payer already sent; its receipt is checked, nothing is sent.
    Custom,
}

impl PaymentKind {
    /// The name it is stored under (as serde writes it).
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentKind::X402 => "x402",
            PaymentKind::Gasless => "gasless",
            PaymentKind::Custom => "custom",
        }
    }
}

/// A payment's checkpoint: what was paid, and where its settlement is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentData {
    pub kind: PaymentKind,
    pub asset: Address,
    pub payer: Address,
    pub pay_to: Address,
    pub amount: U256,
    /// The signed EIP-3009 authorization (`x402`, `gasless`).
    #[serde(default)]
    pub authorization: Option<SignedAuthorization>,
    /// The payer's own transfer (`custom`).
    #[serde(default)]
    pub transfer_tx: Option<B256>,
    #[serde(default)]
    pub tx_id: Option<Uuid>,
    #[serde(default)]
    pub tx_hash: Option<String>,
    #[serde(default)]
    pub block: Option<i64>,
    /// The head block when the settlement was simulated: the authorization was unused at
    /// intake, shortly before, so whoever spent it did so after about this block.
    /// (Skipped when absent: the creation fingerprint of a payment must not change.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_block: Option<u64>,
    /// Why the settlement did not land, while `checking`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement_error: Option<String>,
    /// The `settlement_batch` that carries the settlement (with a settler configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement_batch: Option<Uuid>,
    /// What that batch reported for this payment, once final.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_outcome: Option<BatchOutcome>,
}

/// The parts of an EIP-3009 authorization beyond payer, payee and amount.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedAuthorization {
    pub valid_after: U256,
    pub valid_before: U256,
    pub nonce: B256,
    pub signature: Bytes,
}

impl SignedAuthorization {
    /// The signature as `(v, r, s)`, as the tokens' `(v, r, s)` overload of
    /// `transferWithAuthorization` takes it. Intake accepts 65-byte ECDSA signatures only; any
    /// other is sent as zeros, which the token refuses like any bad signature.
    pub fn vrs(&self) -> (u8, B256, B256) {
        match Signature::from_raw(&self.signature) {
            Ok(sig) => (27 + u8::from(sig.v()), sig.r().into(), sig.s().into()),
            Err(_) => (0, B256::ZERO, B256::ZERO),
        }
    }
}

impl PaymentData {
    /// A payment of `amount` of `asset` from `payer` to `pay_to`, nothing sent for it yet; what
    /// pays it (`authorization` or `transfer_tx`) is the caller's to set.
    pub fn new(
        kind: PaymentKind,
        asset: Address,
        payer: Address,
        pay_to: Address,
        amount: U256,
    ) -> PaymentData {
        PaymentData {
            kind,
            asset,
            payer,
            pay_to,
            amount,
            authorization: None,
            transfer_tx: None,
            tx_id: None,
            tx_hash: None,
            block: None,
            checked_block: None,
            settlement_error: None,
            settlement_batch: None,
            batch_outcome: None,
        }
    }

    /// The settlement call, `transferWithAuthorization` with the signature as bytes; `None`
    /// for a custom payment, which is settled already.
    pub fn settlement(&self) -> Option<Call> {
        let a = self.authorization.as_ref()?;
        let call = MockUSDC::transferWithAuthorization_0Call {
            from: self.payer,
            to: self.pay_to,
            value: self.amount,
            validAfter: a.valid_after,
            validBefore: a.valid_before,
            nonce: a.nonce,
            signature: a.signature.clone(),
        };
        Some(Call {
            to: Some(self.asset),
            input: call.abi_encode().into(),
            value: U256::ZERO,
            gas_limit: None,
        })
    }

    /// The payment's idempotency key: what the chain says can pay only once (the
    /// authorization, or the transfer).
    pub fn key(&self, chain_id: u64) -> String {
        match (&self.authorization, self.transfer_tx) {
            (Some(a), _) => format!(
                "eip3009:{chain_id}:{:#x}:{:#x}:{:#x}",
                self.asset, self.payer, a.nonce
            ),
            (None, Some(tx)) => format!("transfer:{chain_id}:{tx:#x}"),
            (None, None) => unreachable!("a payment has an authorization or a transfer"),
        }
    }
}

/// The `payment` kind.
pub struct Payment {
    chain: Chain,
}

impl Payment {
    pub fn new(chain: Chain) -> Self {
        Payment { chain }
    }
}

impl Workflow for Payment {
    type State = PaymentState;
    type Data = PaymentData;
    const KIND: &'static str = PAYMENT;

    /// The step every kind that sends transactions takes (`chain_step::step`).
    async fn step(
        &self,
        ctx: &StepCtx,
        state: PaymentState,
        data: PaymentData,
    ) -> Result<Step<PaymentState, PaymentData>, StepError> {
        chain_step::step(self, ctx, state, data).await
    }
}

impl ChainKind for Payment {
    type Observed = Observed;
    const DECIDE: Decide<Self> = decide;

    /// Asks the chain what `state` needs to decide. A question that could not be asked fails
    /// the step by the one policy (`on_error`); the answers, errors included, go to `decide`.
    async fn observe(
        &self,
        ctx: &StepCtx,
        state: PaymentState,
        data: &PaymentData,
        retry: Retry,
    ) -> Result<Observed, StepError> {
        let chain = ChainStep {
            chain: &self.chain,
            owner: ctx.workflow_id,
        };
        let confirmations = ctx.settings.confirmations.max(0) as u64;
        let settlement = data.settlement();
        Ok(match (state, settlement) {
            (PaymentState::Pending | PaymentState::Processing, None) => {
                let tx = data.transfer_tx.ok_or_else(|| {
                    StepError::Permanent("custom payment without a transfer".into())
                })?;
                Observed::Transfer {
                    check: self
                        .chain
                        .check_transfer(tx, data.asset, confirmations)
                        .await,
                    confirmations,
                }
            }
            (PaymentState::Pending, Some(call)) => {
                // Read before the simulation, so that a spending it sees is at or before
                // about this block: `checking` searches from a margin before it.
                let head = self.chain.head().await.map_err(|e| on_error(e, retry))?;
                Observed::Simulation {
                    head,
                    result: chain.simulate(&call).await,
                    batched: self.chain.settler().is_some(),
                }
            }
            (PaymentState::Processing, Some(call)) => {
                let key = format!("payment:{}", ctx.workflow_id);
                Observed::Submit(chain.submit(key, PAYMENT, call).await)
            }
            // Settled in a batch: its outcome, once the batch handed it over.
            (PaymentState::Sent, _) if data.settlement_batch.is_some() => {
                Observed::Batched(data.batch_outcome.clone())
            }
            (PaymentState::Sent, _) => match chain.outcome(data.tx_id).await? {
                TxOutcome::Confirmed { hash, block, .. } => {
                    let tx: B256 = hash.parse().map_err(|e| {
                        StepError::Permanent(format!("settlement hash {hash}: {e}"))
                    })?;
                    let check = self.chain.check_transfer(tx, data.asset, 0).await;
                    Observed::Settled { hash, block, check }
                }
                outcome => Observed::Outcome(outcome),
            },
            (PaymentState::Checking, _) => {
                let nonce = data
                    .authorization
                    .as_ref()
                    .map(|a| a.nonce)
                    .ok_or_else(|| {
                        StepError::Permanent("checking a payment without an authorization".into())
                    })?;
                let checked = data.checked_block;
                let fate = self
                    .chain
                    .authorization_fate(data.asset, data.payer, nonce, |head| {
                        front_run::search_from(checked, head)
                    })
                    .await;
                Observed::Fate {
                    fate,
                    confirmations,
                }
            }
            _ => Observed::Nothing,
        })
    }
}

#[cfg(test)]
mod tests {
    use alloy::signers::SignerSync;
    use alloy::signers::local::PrivateKeySigner;

    use super::*;

    fn signed(signature: Bytes) -> SignedAuthorization {
        SignedAuthorization {
            valid_after: U256::ZERO,
            valid_before: U256::MAX,
            nonce: B256::repeat_byte(7),
            signature,
        }
    }

    #[test]
    fn a_signature_splits_into_the_tokens_v_r_s() {
        let sig = PrivateKeySigner::random()
            .sign_hash_sync(&B256::repeat_byte(1))
            .unwrap();
        let (v, r, s) = signed(Bytes::from(sig.as_bytes())).vrs();
        assert_eq!(v, 27 + u8::from(sig.v()));
        assert_eq!((r, s), (sig.r().into(), sig.s().into()));
        // The same signature with v as 0/1 (some wallets sign so) splits the same.
        let mut raw = sig.as_bytes();
        raw[64] -= 27;
        assert_eq!(signed(Bytes::from(raw)).vrs(), (v, r, s));
    }

    #[test]
    fn an_unreadable_signature_is_sent_as_zeros_for_the_token_to_refuse() {
        let zeros = (0, B256::ZERO, B256::ZERO);
        assert_eq!(signed(Bytes::from(vec![1; 64])).vrs(), zeros);
        assert_eq!(signed(Bytes::new()).vrs(), zeros);
    }
}
