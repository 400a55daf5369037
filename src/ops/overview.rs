//! The operator overview: workflows by kind, state and status, the mint queue, and the signer
//! (its balance, its nonces as we store them and as the node sees them, its open
//! transactions). Taken by the service's `SharedSnapshot` (at most once a second) from its
//! own database and node, so two services in one process never see each other's figures.
use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr};

use super::ask_chain;
use super::counts::Tally;
use crate::chain::Chain;
use crate::chain::signer::address_key;
use crate::store::workflows::Status;
use crate::store::{self, mints, overview::WorkflowCount, time::Clock};

pub struct Overview {
    pub workflows: Vec<WorkflowCount>,
    pub mint_queue: MintQueue,
    pub events: EventBacklog,
    /// The primary signer; `None` when no chain is configured.
    pub signer: Option<SignerOverview>,
    /// Every signer of the pool (the primary first); empty without a chain.
    pub signers: Vec<PoolSigner>,
    pub generated_at: DateTime<Utc>,
}

/// One signer of the pool: its load and health as lane choice sees them, and what the node says.
pub struct PoolSigner {
    pub address: Address,
    pub chain_id: u64,
    /// Its transactions not final yet (at most `max_in_flight_per_signer`).
    pub in_flight: u64,
    /// New work skips it: a submit found its balance too low not long ago.
    pub unfunded: bool,
    /// New work skips it: its oldest unmined transaction waited past `signer_stuck_after_secs`.
    pub stuck: bool,
    /// `None` when the node did not answer.
    pub balance_wei: Option<U256>,
    /// The node's pending transaction count; `None` when it did not answer.
    pub chain_pending_nonce: Option<u64>,
}

pub struct MintQueue {
    /// Mints waiting to be taken into a batch.
    pub pending: u64,
    pub oldest_pending_age_ms: Option<i64>,
}

/// Events on their way to streams and webhooks.
pub struct EventBacklog {
    /// Outbox rows not ordered yet (above a few hundred for long: the sequencer is failing).
    pub outbox_unordered: u64,
    /// Webhook deliveries not delivered yet (nor given up).
    pub webhook_pending: u64,
    pub oldest_webhook_age_ms: Option<i64>,
    /// Webhook deliveries given up, waiting for an operator's redelivery.
    pub webhook_failed: u64,
}

pub struct SignerOverview {
    pub address: Address,
    pub chain_id: u64,
    /// `None` when the node did not answer.
    pub balance_wei: Option<U256>,
    /// The nonce the next transaction will get (stored).
    pub next_nonce: u64,
    /// The node's pending transaction count for the signer; `None` when it did not answer.
    pub chain_pending_nonce: Option<u64>,
    /// `next_nonce - chain_pending_nonce`: the transactions signed and not yet in the node's
    /// pool. Above the open transactions for long, the sender is not broadcasting; below zero,
    /// someone else sends with this key.
    pub nonce_drift: Option<i64>,
    pub open_txs: u64,
    pub oldest_unconfirmed_age_ms: Option<i64>,
}

/// Takes the snapshot: the workflow counts (`tally` keeps the finished ones), the backlog,
/// and two node calls (at once, bounded by `CHAIN_TIMEOUT`) when a chain is configured. Only
/// a database failure is an error; a silent node leaves its figures out. Ages are measured on
/// `clock`.
pub async fn snapshot(
    db: &DatabaseConnection,
    chain: Option<&Chain>,
    tally: &mut Tally,
    clock: &Clock,
) -> Result<Overview, DbErr> {
    let signer_key = chain.map(|c| (c.chain_id() as i64, address_key(c.signer())));
    let signer_ref = signer_key.as_ref().map(|(id, a)| (*id, a.as_str()));
    let (workflows, backlog, node, signers) = tokio::join!(
        tally.counts(db, clock.now_ms()),
        store::overview::backlog(db, signer_ref),
        async {
            match chain {
                Some(chain) => Some(node_view(chain).await),
                None => None,
            }
        },
        pool_view(chain),
    );
    let (workflows, backlog, signers) = (workflows?, backlog?, signers?);
    let now = clock.now_ms();
    let age = |since: Option<i64>| since.map(|ms| (now - ms).max(0));
    let pending = workflows
        .iter()
        .filter(|w| {
            w.kind == mints::MINT
                && w.state == mints::MintState::Pending.as_str()
                && w.status == Status::Waiting.as_str()
        })
        .map(|w| w.count as u64)
        .sum();
    let signer = chain.zip(node).map(|(chain, node)| {
        let next_nonce = backlog.next_nonce.unwrap_or_default().max(0) as u64;
        SignerOverview {
            address: chain.signer(),
            chain_id: chain.chain_id(),
            balance_wei: node.balance,
            next_nonce,
            chain_pending_nonce: node.pending_nonce,
            nonce_drift: node
                .pending_nonce
                .map(|chain_nonce| next_nonce as i64 - chain_nonce as i64),
            open_txs: backlog.open_txs.max(0) as u64,
            oldest_unconfirmed_age_ms: age(backlog.oldest_open_tx_ms),
        }
    });
    Ok(Overview {
        workflows,
        mint_queue: MintQueue {
            pending,
            oldest_pending_age_ms: age(backlog.oldest_pending_mint_ms),
        },
        events: EventBacklog {
            outbox_unordered: backlog.outbox_unordered.max(0) as u64,
            webhook_pending: backlog.webhook_pending.max(0) as u64,
            oldest_webhook_age_ms: age(backlog.oldest_webhook_ms),
            webhook_failed: backlog.webhook_failed.max(0) as u64,
        },
        signer,
        signers,
        generated_at: Utc::now(),
    })
}

/// Every signer of the pool, with the node's view of each (asked at once).
async fn pool_view(chain: Option<&Chain>) -> Result<Vec<PoolSigner>, DbErr> {
    let Some(chain) = chain else {
        return Ok(Vec::new());
    };
    let loads = chain
        .signer_loads()
        .await
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    let lanes = chain.lanes();
    let nodes = futures::future::join_all(lanes.iter().map(node_view)).await;
    Ok(loads
        .into_iter()
        .zip(nodes)
        .map(|(load, node)| PoolSigner {
            address: load.address,
            chain_id: chain.chain_id(),
            in_flight: load.in_flight.max(0) as u64,
            unfunded: load.health.unfunded,
            stuck: load.health.stuck,
            balance_wei: node.balance,
            chain_pending_nonce: node.pending_nonce,
        })
        .collect())
}

/// What the node says of the signer; each part `None` when it did not answer.
struct NodeView {
    balance: Option<U256>,
    pending_nonce: Option<u64>,
}

async fn node_view(chain: &Chain) -> NodeView {
    let signer = chain.signer();
    let provider = chain.provider();
    let (balance, pending_nonce) = tokio::join!(
        ask_chain(provider.get_balance(signer)),
        ask_chain(provider.get_transaction_count(signer).pending()),
    );
    let report = |part: &str, e: &String| {
        tracing::warn!(error = %e, part, "overview: the node did not answer for the signer");
    };
    NodeView {
        balance: balance.inspect_err(|e| report("balance", e)).ok(),
        pending_nonce: pending_nonce
            .inspect_err(|e| report("pending nonce", e))
            .ok(),
    }
}
