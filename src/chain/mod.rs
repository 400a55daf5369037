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
pub mod reconcile;
pub mod revert;
pub mod sender;
pub mod signer;
pub mod token;
pub mod transfer;

use std::sync::Arc;

use alloy::consensus::TxEnvelope;
use alloy::eips::Encodable2718;
use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::config::SettingsHandle;
use crate::store::{self, chain::TxRow};
use error::Redacted;
use fees::{FeeCaps, Fees};

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

/// Process settings of the pipeline. `Debug` leaves the RPC URL out: hosted nodes carry their
/// API key in it.
#[derive(Clone)]
pub struct ChainConfig {
    pub rpc_url: String,
    /// The chain the node must run (`CHAIN_ID`); a node answering another is refused.
    pub expected_chain_id: Option<u64>,
    /// How long one call to the node may take: a node that hangs fails the call as
    /// `rpc_unavailable` instead of holding a step, a sender pass or a request forever.
    pub rpc_timeout: std::time::Duration,
    /// Most non-final transactions per signer before `submit` pushes back.
    pub max_in_flight: usize,
    /// How often the sender looks at its transactions when nothing wakes it.
    pub poll_ms: u64,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            rpc_url: "http://127.0.0.1:8545".into(),
            expected_chain_id: None,
            rpc_timeout: DEFAULT_RPC_TIMEOUT,
            max_in_flight: 1024,
            poll_ms: 500,
        }
    }
}

/// The default of `ChainConfig::rpc_timeout` (`--rpc-timeout-secs`).
pub const DEFAULT_RPC_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl std::fmt::Debug for ChainConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainConfig")
            .field("rpc_url", &"***")
            .field("expected_chain_id", &self.expected_chain_id)
            .field("rpc_timeout", &self.rpc_timeout)
            .field("max_in_flight", &self.max_in_flight)
            .field("poll_ms", &self.poll_ms)
            .finish()
    }
}

/// An HTTP provider for the node at `rpc_url` whose every call gives up after `timeout` (also
/// what `mintflow doctor` reads the chain with: it needs no signer).
pub fn http_provider(
    rpc_url: &str,
    timeout: std::time::Duration,
) -> Result<RootProvider, ChainError> {
    use alloy::transports::http::{Http, reqwest};
    // The parse error would quote the URL, and with it any API key in it.
    let url: reqwest::Url = rpc_url
        .parse()
        .map_err(|_| ChainError::Failed("RPC_URL is not a valid URL".into()))?;
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| ChainError::Failed(format!("cannot build the node's HTTP client: {e}")))?;
    let is_local = alloy::transports::utils::guess_local_url(url.as_str());
    Ok(RootProvider::new(alloy::rpc::client::RpcClient::new(
        Http::with_client(client, url),
        is_local,
    )))
}

/// A handle on the pipeline of one signer on one chain. Cheap to clone.
#[derive(Clone)]
pub struct Chain {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    provider: RootProvider,
    wallet: EthereumWallet,
    address: Address,
    address_key: String,
    chain_id: u64,
    settings: SettingsHandle,
    config: ChainConfig,
    /// Wakes the sender when there is something to broadcast.
    sender_wake: Notify,
    /// Called when an owner workflow was woken: this process's engine claims it at once.
    on_owner_woken: Option<OnOwnerWoken>,
    quote: tokio::sync::Mutex<Option<Quote>>,
    /// Since when the sender has seen the signer's lowest unmined nonce as the lowest.
    lowest: std::sync::Mutex<Option<reconcile::Lowest>>,
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
    /// Connects to the node, learns the chain id and registers the signer with the node's
    /// pending nonce (never lowering a stored one).
    pub async fn connect(
        db: DatabaseConnection,
        settings: SettingsHandle,
        signer: PrivateKeySigner,
        config: ChainConfig,
        on_owner_woken: Option<OnOwnerWoken>,
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
        let address = signer.address();
        let address_key = signer::address_key(address);
        let pending = provider
            .get_transaction_count(address)
            .pending()
            .await
            .map_err(|e| rpc("the signer's pending nonce", e))?;
        store::chain::ensure_signer(
            &db,
            chain_id as i64,
            &address_key,
            pending as i64,
            store::now_ms(),
        )
        .await?;
        tracing::info!(chain_id, signer = %address, next_nonce = pending, "chain connected");
        Ok(Chain {
            inner: Arc::new(Inner {
                db,
                provider,
                wallet: EthereumWallet::from(signer),
                address,
                address_key,
                chain_id,
                settings,
                config,
                sender_wake: Notify::new(),
                on_owner_woken,
                quote: tokio::sync::Mutex::new(None),
                lowest: std::sync::Mutex::new(None),
            }),
        })
    }

    pub fn chain_id(&self) -> u64 {
        self.inner.chain_id
    }

    pub fn signer(&self) -> Address {
        self.inner.address
    }

    pub fn provider(&self) -> &RootProvider {
        &self.inner.provider
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    /// Simulates, signs and stores a transaction; the sender broadcasts it. Idempotent by
    /// `key`: after a crash the caller submits again and gets the same transaction back.
    /// Errors before signing (revert, funds, RPC) leave no trace and use no nonce.
    pub async fn submit(&self, req: Submit) -> Result<Uuid, ChainError> {
        let me = &self.inner;
        let chain_id = me.chain_id as i64;
        if let Some(existing) = store::chain::find_by_key(&me.db, chain_id, &req.key).await? {
            return Ok(existing.id);
        }
        let in_flight = store::chain::count_open(&me.db, chain_id, &me.address_key).await? as usize;
        if in_flight >= me.config.max_in_flight {
            return Err(ChainError::Backpressure(in_flight));
        }
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
                signer: me.address,
                balance,
                needed,
            });
        }

        // Nonce, signature and storage in one transaction: a crash leaves either nothing or a
        // stored transaction the sender will broadcast.
        let now = store::now_ms();
        let txn = store::begin_write(&me.db).await?;
        if let Some(existing) = store::chain::find_by_key(&txn, chain_id, &req.key).await? {
            return Ok(existing.id);
        }
        let nonce = store::chain::lock_next_nonce(&txn, chain_id, &me.address_key).await?;
        // Under the nonce lock, so concurrent submissions see each other's worst case.
        self.check_budget(&txn, gas_limit, fees, now).await?;
        let (raw, hash) = self.sign(tx.clone(), nonce as u64, gas_limit, fees).await?;
        let row = TxRow {
            id: Uuid::now_v7(),
            chain_id,
            signer: me.address_key.clone(),
            nonce,
            idempotency_key: req.key,
            owner_workflow_id: req.owner,
            purpose: req.purpose,
            to_address: req.call.to.map(signer::address_key),
            value: req.call.value.to_string(),
            input: req.call.input.to_vec(),
            gas_limit: gas_limit as i64,
            status: "signed".into(),
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
        store::chain::insert_tx(&txn, &row).await?;
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
        store::chain::set_next_nonce(&txn, chain_id, &me.address_key, nonce + 1, now).await?;
        txn.commit().await?;
        tracing::debug!(tx = %row.id, nonce, hash, "transaction signed and stored");
        me.sender_wake.notify_one();
        Ok(row.id)
    }

    /// Simulates `call` from the signer against the latest state: the gas it needs, or
    /// `Reverted` with the decoded reason.
    pub async fn estimate(&self, call: &Call) -> Result<u64, ChainError> {
        self.inner
            .provider
            .estimate_gas(self.request(call))
            .await
            .map_err(|e| match revert::reason(&e) {
                Some(reason) => ChainError::Reverted(reason),
                None => rpc("gas estimate", e),
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
            .with_from(self.inner.address)
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

    /// Signs `tx` at `nonce`: returns the raw EIP-2718 bytes and the hash.
    async fn sign(
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
            .build(&self.inner.wallet)
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
        let mut cached = self.inner.quote.lock().await;
        if let Some(q) = cached.as_ref().filter(|q| q.at.elapsed() < QUOTE_TTL) {
            return Ok(q.clone());
        }
        let (fees, balance) = tokio::try_join!(self.network_fees(), async {
            self.inner
                .provider
                .get_balance(self.inner.address)
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
            store::chain::spend_since(txn, me.chain_id as i64, &me.address_key, since).await?;
        let recent: Vec<budget::Spend> = rows.iter().map(spend_of).collect();
        let needed = u128::from(gas_limit).saturating_mul(fees.max_fee_per_gas);
        budget::admit(&recent, needed, budget, now).map_err(|refused| {
            metrics::counter!(crate::telemetry::names::TX_SPEND_BUDGET_REFUSALS).increment(1);
            tracing::warn!(signer = %me.address, spent = %refused.spent, budget = %refused.budget,
                "gas spend budget reached; new transactions wait");
            ChainError::from(refused)
        })
    }

    /// The highest fees any attempt may offer: the hot `max_fee_gwei` and
    /// `max_priority_fee_gwei` settings.
    fn fee_caps(&self) -> FeeCaps {
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

fn outcome_of(row: TxRow) -> TxOutcome {
    match row.status.as_str() {
        "confirmed" => TxOutcome::Confirmed {
            hash: row.winner_hash.unwrap_or_default(),
            block: row.mined_block.unwrap_or_default(),
            gas_used: row.gas_used.unwrap_or_default(),
            contract_address: row.contract_address,
        },
        "reverted" => TxOutcome::Reverted {
            hash: row.winner_hash.unwrap_or_default(),
            reason: row.error.unwrap_or_else(|| "reverted".into()),
        },
        "failed" => TxOutcome::Failed {
            reason: row.error.unwrap_or_else(|| "failed".into()),
        },
        other => TxOutcome::Pending {
            status: other.to_owned(),
        },
    }
}

/// A failed node call: logged with `context`, returned redacted.
pub(crate) fn rpc(
    context: impl std::fmt::Display,
    e: alloy::transports::RpcError<alloy::transports::TransportErrorKind>,
) -> ChainError {
    ChainError::Rpc(error::rpc(context, &e))
}
