//! The transaction pipeline: every on-chain effect goes through here, exactly once.
//!
//! `submit` simulates the call, then in one database transaction allocates the signer's next
//! nonce, signs locally and stores the raw bytes and hash. Only then is anything broadcast, by
//! the signer's single `sender` (a lease held by one process at a time), which also follows
//! receipts to `confirmations` depth, re-broadcasts dropped or reorged transactions from their
//! stored bytes and replaces stuck ones with higher fees at the same nonce. Owners are woken
//! with the outcome.
pub mod authorization;
pub mod budget;
pub mod contracts;
pub mod deploy;
pub mod error;
pub mod fees;
pub mod local;
pub mod mintable;
mod node;
mod pool;
pub mod reconcile;
pub mod revert;
pub mod sender;
pub mod settler;
pub mod signer;
mod submit;
pub mod token;
pub mod transfer;

pub use node::{ChainConfig, DEFAULT_RPC_TIMEOUT, http_provider};
pub use pool::SignerLoad;

use std::sync::Arc;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use sea_orm::{DatabaseConnection, DbErr};
use uuid::Uuid;

use crate::config::SettingsHandle;
use crate::store::{
    self,
    chain::{TxRow, TxStatus},
    time::Clock,
};
use error::Redacted;
use fees::Fees;

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The call would revert; nothing was signed and no nonce was used.
    #[error("the call reverts: {0}")]
    Reverted(String),
    /// The signer cannot pay for the transaction; no nonce was used.
    #[error("signer {signer} has {balance} wei but the transaction needs up to {needed} wei")]
    InsufficientFunds {
        signer: Address,
        balance: U256,
        needed: U256,
    },
    /// Too many transactions of this signer are not final yet.
    #[error("{0} transactions are in flight for this signer; try again shortly")]
    Backpressure(usize),
    /// The signer's gas spend budget is reached; nothing was signed and no nonce was used.
    /// Not an error of the caller's: workflows wait (`StepError::from`) until it allows.
    #[error(transparent)]
    OverBudget(#[from] budget::OverBudget),
    /// The RPC node did not answer or answered with an error (retry later; nothing was
    /// lost). Its own words are in the server log only (see `error`).
    #[error("{0}")]
    Rpc(Redacted),
    /// The database failed; its words are in the server log only.
    #[error("{0}")]
    Db(Redacted),
    #[error("signing failed: {0}")]
    Signing(String),
    /// What went wrong (a transaction that did not land, an unusable setting), in our own
    /// words: safe to show.
    #[error("{0}")]
    Failed(String),
    /// The node runs another chain than the one pinned with `CHAIN_ID`.
    #[error("the node at RPC_URL runs chain {actual}, but CHAIN_ID is {expected}")]
    WrongChain { expected: u64, actual: u64 },
}

impl From<DbErr> for ChainError {
    fn from(e: DbErr) -> Self {
        ChainError::Db(crate::telemetry::redact::database(
            "transaction pipeline",
            &e,
        ))
    }
}

impl ChainError {
    /// Worth retrying later (the node or the database was unavailable, or backpressure).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ChainError::Rpc(_) | ChainError::Db(_) | ChainError::Backpressure(_)
        )
    }
}

/// A call (or, with `to: None`, a contract creation) to send.
#[derive(Clone, Debug)]
pub struct Call {
    pub to: Option<Address>,
    pub input: Bytes,
    pub value: U256,
    /// Gas limit; estimated (+20%) when absent.
    pub gas_limit: Option<u64>,
}

/// A request to send `call` once: the same `key` always returns the same transaction.
#[derive(Clone, Debug)]
pub struct Submit {
    pub key: String,
    /// The workflow woken when the transaction is final.
    pub owner: Option<Uuid>,
    /// What it is for (`mint_batch`, `deploy`, ...), for operators.
    pub purpose: String,
    pub call: Call,
}

/// A submitted transaction: its id in the pipeline and its current hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    pub id: Uuid,
    pub hash: Option<String>,
}

/// Where a transaction is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxOutcome {
    /// Not final yet: `signed`, `sent` or `mined` (not deep enough).
    Pending {
        status: String,
    },
    Confirmed {
        hash: String,
        block: i64,
        gas_used: i64,
        contract_address: Option<String>,
    },
    Reverted {
        hash: String,
        reason: String,
    },
    Failed {
        reason: String,
    },
}

/// A handle on the pipeline of a pool of signers on one chain. Cheap to clone. New work goes
/// to the least-loaded healthy signer (`pool`); a handle from `lanes` or `primary` is pinned
/// to one signer: what it submits is signed by that signer, and its sender broadcasts for it.
#[derive(Clone)]
pub struct Chain {
    inner: Arc<Inner>,
    /// The lane this handle is pinned to; `None`: the pool chooses.
    pin: Option<usize>,
}

struct Inner {
    db: DatabaseConnection,
    provider: RootProvider,
    chain_id: u64,
    settings: SettingsHandle,
    config: ChainConfig,
    /// One per signer, the first being the primary (the admin of what `deploy` creates).
    lanes: Vec<pool::Lane>,
    /// Called when an owner workflow was woken: this process's engine claims it at once.
    on_owner_woken: Option<OnOwnerWoken>,
    /// The time the pipeline's rows are stamped with and its timing rules compare.
    clock: Clock,
}

/// What the pipeline calls after a transaction's final outcome has woken the workflow that owns
/// it (the row is woken in the database either way): the engine of this process passes its
/// waker here, so the chain does not depend on the engine.
pub type OnOwnerWoken = Arc<dyn Fn() + Send + Sync>;

/// How long a fee and balance quote serves new submits.
const QUOTE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Clone, Debug)]
struct Quote {
    at: std::time::Instant,
    fees: Fees,
    /// The signer's balance; a submit refuses what it clearly cannot pay (the exact check is
    /// the node's, at broadcast).
    balance: U256,
}

impl Chain {
    /// Connects to the node with one signer (a pool of one). Its rows are stamped by the
    /// system clock.
    pub async fn connect(
        db: DatabaseConnection,
        settings: SettingsHandle,
        signer: PrivateKeySigner,
        config: ChainConfig,
        on_owner_woken: Option<OnOwnerWoken>,
    ) -> Result<Chain, ChainError> {
        let clock = Clock::system();
        Chain::connect_with_clock(db, settings, vec![signer], config, on_owner_woken, clock).await
    }

    /// Connects to the node with a pool of `signers` (the first is the primary), on the
    /// system clock.
    pub async fn connect_pool(
        db: DatabaseConnection,
        settings: SettingsHandle,
        signers: Vec<PrivateKeySigner>,
        config: ChainConfig,
        on_owner_woken: Option<OnOwnerWoken>,
    ) -> Result<Chain, ChainError> {
        let clock = Clock::system();
        Chain::connect_with_clock(db, settings, signers, config, on_owner_woken, clock).await
    }

    /// Connects to the node, learns the chain id and registers every signer with the node's
    /// pending nonce (never lowering a stored one), with the clock its transactions, attempts
    /// and sender leases are stamped by (the process's one).
    pub async fn connect_with_clock(
        db: DatabaseConnection,
        settings: SettingsHandle,
        signers: Vec<PrivateKeySigner>,
        config: ChainConfig,
        on_owner_woken: Option<OnOwnerWoken>,
        clock: Clock,
    ) -> Result<Chain, ChainError> {
        let provider = http_provider(&config.rpc_url, config.rpc_timeout)?;
        let chain_id = provider
            .get_chain_id()
            .await
            .map_err(|e| rpc("eth_chainId", e))?;
        if let Some(expected) = config.expected_chain_id.filter(|e| *e != chain_id) {
            return Err(ChainError::WrongChain {
                expected,
                actual: chain_id,
            });
        }
        pool::check_distinct(&signers)?;
        let mut lanes = Vec::with_capacity(signers.len());
        for signer in signers {
            let address = signer.address();
            let pending = provider
                .get_transaction_count(address)
                .pending()
                .await
                .map_err(|e| rpc("the signer's pending nonce", e))?;
            let lane = pool::Lane::new(signer);
            store::chain::ensure_signer(
                &db,
                chain_id as i64,
                &lane.address_key,
                pending as i64,
                clock.now_ms(),
            )
            .await?;
            tracing::info!(chain_id, signer = %address, next_nonce = pending, "signer connected");
            lanes.push(lane);
        }
        Ok(Chain {
            inner: Arc::new(Inner {
                db,
                provider,
                chain_id,
                settings,
                config,
                lanes,
                on_owner_woken,
                clock,
            }),
            pin: None,
        })
    }

    pub fn chain_id(&self) -> u64 {
        self.inner.chain_id
    }

    /// The `Settler` contract payments are settled in batches through, if configured.
    pub fn settler(&self) -> Option<Address> {
        self.inner.config.settler
    }

    /// The signer of this handle's lane: the pinned one, else the primary.
    pub fn signer(&self) -> Address {
        self.lane().address
    }

    pub fn provider(&self) -> &RootProvider {
        &self.inner.provider
    }

    /// The latest block's gas limit (30M when the node names no latest block): what a batch
    /// is capped by.
    pub async fn block_gas_limit(&self) -> Result<u64, ChainError> {
        Ok(self
            .inner
            .provider
            .get_block_by_number(Default::default())
            .await
            .map_err(|e| rpc("the latest block", e))?
            .map_or(30_000_000, |b| b.header.gas_limit))
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Now, on the pipeline's clock.
    fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Simulates `call` from the signer against the latest state: the gas it needs, or
    /// `Reverted` with the decoded reason. Tries `fast_estimate` (two executions) first: the
    /// node's `eth_estimateGas` searches for the least gas by executing the call again and
    /// again (about 25 times on anvil: 2.4 s of the node's CPU for a 1,000-payment settlement),
    /// and a batch is estimated each time it is sent.
    pub async fn estimate(&self, call: &Call) -> Result<u64, ChainError> {
        if let Some(gas) = self.fast_estimate(call).await {
            return Ok(gas);
        }
        self.inner
            .provider
            .estimate_gas(self.request(call))
            .await
            .map_err(|e| match revert::reason(&e) {
                Some(reason) => ChainError::Reverted(reason),
                None => rpc("gas estimate", e),
            })
    }

    /// The gas `call` used in one execution (`eth_createAccessList` reports it) with room for
    /// refunds and the gas a call must keep back for its callees, once a second execution with
    /// exactly that limit (`eth_call`) proved it enough. `None` whenever that is not so (the
    /// call reverts, the node lacks the method, the limit is short): `estimate` then asks the
    /// node's own search, for its answer and its revert reason.
    async fn fast_estimate(&self, call: &Call) -> Option<u64> {
        let provider = &self.inner.provider;
        let request = self.request(call);
        let listed = provider.create_access_list(&request).await.ok()?;
        if listed.error.is_some() {
            return None;
        }
        let used = u64::try_from(listed.gas_used).ok()?;
        let limit = gas_with_room(used);
        provider
            .call(request.with_gas_limit(limit))
            .await
            .ok()
            .map(|_| limit)
    }

    /// Executes `call` from the signer against the latest state, once (`eth_call`): whether it
    /// would go through, or `Reverted` with the decoded reason. Cheaper for the node than
    /// `estimate`, which executes a call many times to search for its gas; for checks that
    /// need no gas figure.
    pub async fn simulate(&self, call: &Call) -> Result<(), ChainError> {
        self.inner
            .provider
            .call(self.request(call))
            .await
            .map(drop)
            .map_err(|e| match revert::reason(&e) {
                Some(reason) => ChainError::Reverted(reason),
                None => rpc("simulation", e),
            })
    }

    /// The node's newest block number.
    pub async fn head(&self) -> Result<u64, ChainError> {
        self.inner
            .provider
            .get_block_number()
            .await
            .map_err(|e| rpc("the head block", e))
    }

    /// The unsigned request for `call`, from the signer.
    fn request(&self, call: &Call) -> TransactionRequest {
        let tx = TransactionRequest::default()
            .with_from(self.lane().address)
            .with_input(call.input.clone())
            .with_value(call.value);
        match call.to {
            Some(to) => tx.with_to(to),
            None => tx.into_create(),
        }
    }

    /// The hash of the newest signed attempt of transaction `id` (the one the network sees).
    pub async fn latest_hash(&self, id: Uuid) -> Result<Option<String>, DbErr> {
        Ok(store::chain::attempts(&self.inner.db, id)
            .await?
            .into_iter()
            .rfind(|a| a.kind == "tx")
            .map(|a| a.hash))
    }

    /// `submit` on behalf of workflow `owner` (woken when the transaction is final), with the
    /// hash the network sees, which the owner records with its checkpoint.
    pub async fn submit_for(
        &self,
        owner: Uuid,
        key: String,
        purpose: &str,
        call: Call,
    ) -> Result<Submitted, ChainError> {
        let id = self
            .submit(Submit {
                key,
                owner: Some(owner),
                purpose: purpose.to_owned(),
                call,
            })
            .await?;
        let hash = self.latest_hash(id).await?;
        Ok(Submitted { id, hash })
    }

    /// Where transaction `id` is.
    pub async fn outcome(&self, id: Uuid) -> Result<TxOutcome, DbErr> {
        let row = store::chain::find(&self.inner.db, id)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("transaction {id}")))?;
        Ok(outcome_of(row))
    }
}

fn outcome_of(row: TxRow) -> TxOutcome {
    match row.tx_status() {
        Some(TxStatus::Confirmed) => TxOutcome::Confirmed {
            hash: row.winner_hash.unwrap_or_default(),
            block: row.mined_block.unwrap_or_default(),
            gas_used: row.gas_used.unwrap_or_default(),
            contract_address: row.contract_address,
        },
        Some(TxStatus::Reverted) => TxOutcome::Reverted {
            hash: row.winner_hash.unwrap_or_default(),
            reason: row
                .error
                .unwrap_or_else(|| TxStatus::Reverted.as_str().into()),
        },
        Some(TxStatus::Failed) => TxOutcome::Failed {
            reason: row
                .error
                .unwrap_or_else(|| TxStatus::Failed.as_str().into()),
        },
        _ => TxOutcome::Pending { status: row.status },
    }
}

/// A gas limit for a call that used `used` gas in one execution: a tenth more (the gas it was
/// refunded is spent before the refund, and a cold access costs a little more without the
/// access list it was measured with) and `CALLEE_RESERVE` (what the 63/64 rule keeps back from
/// the last call it makes, and our Settler's `MIN_ITEM_GAS` for its last item).
fn gas_with_room(used: u64) -> u64 {
    let refunds = used / 10;
    used.saturating_add(refunds).saturating_add(CALLEE_RESERVE)
}

/// See `gas_with_room`.
const CALLEE_RESERVE: u64 = 100_000;

/// A failed node call: logged with `context`, returned redacted.
pub(crate) fn rpc(
    context: impl std::fmt::Display,
    e: alloy::transports::RpcError<alloy::transports::TransportErrorKind>,
) -> ChainError {
    ChainError::Rpc(error::rpc(context, &e))
}
