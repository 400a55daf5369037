//! `GET /v1/stats`: the operator overview the dashboard polls. Its field names are a contract
//! with the dashboard; `/metrics` renders the same snapshot for Prometheus.
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, Tags, payload::Json};

use super::AppState;
use super::auth::{Access, Read};
use super::error::{Errors, KeyedRead};
use super::names::{KindName, StateName};
use crate::engine::outbox::event::WorkflowStatus;
use crate::ops::overview::Overview;
use crate::spec::nullable::Nullable;

#[derive(Tags)]
pub enum OperationsTag {
    /// What operators watch.
    Operations,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct Stats {
    /// Workflows by kind, state and status.
    pub workflows: Vec<WorkflowStat>,
    pub mint_queue: MintQueueStats,
    pub events: EventStats,
    /// The primary signer; `null` when no chain is configured.
    pub signer: Nullable<SignerStats>,
    /// Every signer of the pool, the primary first; empty without a chain.
    pub signers: Vec<PoolSignerStats>,
    pub generated_at: DateTime<Utc>,
}

/// One signer of the pool: its load and health as new work sees them.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct PoolSignerStats {
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{40}$"))]
    pub address: String,
    pub chain_id: u64,
    /// Transactions not final yet (at most the `max_in_flight_per_signer` setting).
    pub in_flight: u64,
    /// Whether new work may go to it (neither unfunded nor stuck).
    pub healthy: bool,
    /// A submit found its balance too low not long ago: new work skips it.
    pub unfunded: bool,
    /// Its oldest unmined transaction waited past `signer_stuck_after_secs`: new work skips it.
    pub stuck: bool,
    /// Its balance in wei, as a decimal string; `null` when the node did not answer.
    #[oai(nullable)]
    pub balance_wei: Option<String>,
    /// The node's pending transaction count for it; `null` when the node did not answer.
    #[oai(nullable)]
    pub chain_pending_nonce: Option<u64>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct WorkflowStat {
    pub kind: KindName,
    pub state: StateName,
    pub status: WorkflowStatus,
    pub count: u64,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct MintQueueStats {
    /// Mints waiting to be taken into a batch.
    pub pending: u64,
    /// How long the oldest of them has waited; `null` when none waits.
    #[oai(nullable)]
    pub oldest_pending_age_ms: Option<i64>,
}

/// Events on their way to streams and webhooks.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct EventStats {
    /// Outbox rows not ordered yet (not yet visible to streams and webhooks); stays near 0.
    pub outbox_unordered: u64,
    /// Webhook deliveries not delivered (nor given up) yet.
    pub webhook_pending: u64,
    /// How long the oldest of them has waited; `null` when none waits.
    #[oai(nullable)]
    pub oldest_webhook_age_ms: Option<i64>,
    /// Webhook deliveries given up after `webhook_max_attempts`, waiting for
    /// `POST /v1/webhooks/{id}/redeliver`.
    pub webhook_failed: u64,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct SignerStats {
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{40}$"))]
    pub address: String,
    pub chain_id: u64,
    /// The signer's balance in wei, as a decimal string; `null` when the node did not answer.
    #[oai(nullable)]
    pub balance_wei: Option<String>,
    /// The nonce the next transaction gets, as stored.
    pub next_nonce: u64,
    /// The node's pending transaction count for the signer; `null` when it did not answer.
    #[oai(nullable)]
    pub chain_pending_nonce: Option<u64>,
    /// `next_nonce - chain_pending_nonce`: transactions signed and not yet in the node's pool.
    /// Negative: someone else sends with this key.
    #[oai(nullable)]
    pub nonce_drift: Option<i64>,
    /// Transactions not final yet (`signed`, `sent`, `mined`).
    pub open_txs: u64,
    /// How long the oldest of them has been open; `null` when none is.
    #[oai(nullable)]
    pub oldest_unconfirmed_age_ms: Option<i64>,
}

impl From<&Overview> for Stats {
    fn from(o: &Overview) -> Stats {
        Stats {
            workflows: o
                .workflows
                .iter()
                .map(|w| WorkflowStat {
                    kind: w.kind.clone().into(),
                    state: w.state.clone().into(),
                    status: WorkflowStatus::stored(&w.status),
                    count: w.count.max(0) as u64,
                })
                .collect(),
            mint_queue: MintQueueStats {
                pending: o.mint_queue.pending,
                oldest_pending_age_ms: o.mint_queue.oldest_pending_age_ms,
            },
            events: EventStats {
                outbox_unordered: o.events.outbox_unordered,
                webhook_pending: o.events.webhook_pending,
                oldest_webhook_age_ms: o.events.oldest_webhook_age_ms,
                webhook_failed: o.events.webhook_failed,
            },
            signer: o
                .signer
                .as_ref()
                .map(|s| SignerStats {
                    address: s.address.to_string(),
                    chain_id: s.chain_id,
                    balance_wei: s.balance_wei.map(|b| b.to_string()),
                    next_nonce: s.next_nonce,
                    chain_pending_nonce: s.chain_pending_nonce,
                    nonce_drift: s.nonce_drift,
                    open_txs: s.open_txs,
                    oldest_unconfirmed_age_ms: s.oldest_unconfirmed_age_ms,
                })
                .into(),
            signers: o
                .signers
                .iter()
                .map(|s| PoolSignerStats {
                    address: s.address.to_string(),
                    chain_id: s.chain_id,
                    in_flight: s.in_flight,
                    healthy: !s.unfunded && !s.stuck,
                    unfunded: s.unfunded,
                    stuck: s.stuck,
                    balance_wei: s.balance_wei.map(|b| b.to_string()),
                    chain_pending_nonce: s.chain_pending_nonce,
                })
                .collect(),
            generated_at: o.generated_at,
        }
    }
}

pub struct StatsApi;

#[OpenApi(prefix_path = "/v1", tag = "OperationsTag::Operations")]
impl StatsApi {
    /// Get the operator overview
    ///
    /// Who may call: a key with the `read` scope (or `admin`).
    ///
    /// Workflows by kind, state and status, the mint queue, the event outbox and webhook
    /// backlog, and the signer's balance, nonces and open transactions (`null` without a
    /// chain). A snapshot at most a second old (see its generation time), shared by every caller.
    #[oai(path = "/stats", method = "get", operation_id = "stats")]
    async fn stats(
        &self,
        app: Data<&AppState>,
        _auth: Access<Read>,
    ) -> Result<Json<Stats>, Errors<KeyedRead>> {
        let snapshot = app.snapshot.get().await?;
        Ok(Json((&snapshot.overview).into()))
    }
}
