//! What the workflow routes answer: a workflow, a page of them, a timeline.
use chrono::{DateTime, Utc};
use poem_openapi::Object;
use serde_json::Value as Json_;
use uuid::Uuid;

use crate::api::names::{EventName, KindName, StateName};
use crate::engine::outbox::event::WorkflowStatus;
use crate::spec::nullable::Nullable;
use crate::store::entity::workflow;
use crate::store::time::{from_ms, opt_from_ms};
use crate::store::timeline::{Related, Timeline};
use crate::workflows::payment;

/// A workflow: where it is, its checkpoint, and who holds it.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
#[oai(example)]
pub struct Workflow {
    pub id: Uuid,
    pub kind: KindName,
    pub status: WorkflowStatus,
    pub state: StateName,
    /// The typed checkpoint data of its kind. A payment's signed authorization is left out
    /// until the payment is confirmed: whoever holds it could submit it first.
    pub data: Json_,
    pub schema_version: i32,
    pub priority: i16,
    /// Transient failures of the current state so far.
    pub attempt: i32,
    /// Fencing epoch: bumped on every claim and operator action.
    pub version: i64,
    /// When it is next due; absent while waiting or finished.
    #[oai(nullable)]
    pub run_at: Option<DateTime<Utc>>,
    /// The worker holding its lease, if any.
    #[oai(nullable)]
    pub lease_owner: Option<String>,
    #[oai(nullable)]
    pub lease_until: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub idempotency_key: Option<String>,
    #[oai(nullable)]
    pub parent_id: Option<Uuid>,
    #[oai(nullable)]
    pub payer: Option<String>,
    #[oai(nullable)]
    pub token: Option<String>,
    #[oai(nullable)]
    pub tx_hash: Option<String>,
    #[oai(nullable)]
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<workflow::Model> for Workflow {
    fn from(m: workflow::Model) -> Self {
        Workflow {
            id: m.id,
            data: payment::shown::checkpoint(&m.kind, &m.state, m.data),
            kind: m.kind.into(),
            status: WorkflowStatus::stored(&m.status),
            state: m.state.into(),
            schema_version: m.schema_version,
            priority: m.priority,
            attempt: m.attempt,
            version: m.version,
            run_at: opt_from_ms(m.run_at_ms),
            lease_owner: m.lease_owner,
            lease_until: opt_from_ms(m.lease_until_ms),
            idempotency_key: m.idempotency_key,
            parent_id: m.parent_id,
            payer: m.payer,
            token: m.token,
            tx_hash: m.tx_hash,
            last_error: m.last_error,
            created_at: from_ms(m.created_at_ms),
            updated_at: from_ms(m.updated_at_ms),
            finished_at: opt_from_ms(m.finished_at_ms),
        }
    }
}

/// One page of workflows, newest first.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct WorkflowPage {
    pub items: Vec<Workflow>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// One transition in a workflow's history.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct HistoryEvent {
    /// Global, increasing event id.
    pub id: i64,
    pub event: EventName,
    // `Nullable`, not `#[oai(nullable)]`: a nullable enum must list `null` among its values
    // for generators (openapi-python-client) to take it.
    pub from_state: Nullable<StateName>,
    pub to_state: StateName,
    // The workflow's status after this event.
    // (A plain comment: a described $ref becomes an `allOf` that generators refuse.)
    pub status: WorkflowStatus,
    pub attempt: i32,
    /// The worker that wrote it; absent for API and operator actions.
    #[oai(nullable)]
    pub worker: Option<String>,
    /// The error this event records, if any (also in `detail`).
    #[oai(nullable)]
    pub error: Option<String>,
    /// Facts of the event: errors, retry delays, the operator and reason...
    pub detail: Option<Json_>,
    pub at: DateTime<Utc>,
    /// Milliseconds since the previous event: the time spent in the previous state.
    #[oai(nullable)]
    pub since_previous_ms: Option<i64>,
}

/// Another workflow, in brief: a parent or a child.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct RelatedWorkflow {
    pub id: Uuid,
    pub kind: KindName,
    pub state: StateName,
    pub status: WorkflowStatus,
}

impl From<Related> for RelatedWorkflow {
    fn from(r: Related) -> Self {
        RelatedWorkflow {
            id: r.id,
            kind: r.kind.into(),
            state: r.state.into(),
            status: WorkflowStatus::stored(&r.status),
        }
    }
}

/// One signed variant of a transaction: the first, a fee bump, or a nonce filler.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct TxAttempt {
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{64}$"))]
    pub hash: String,
    /// `tx`, or `filler` (a self-transfer that freed the nonce).
    pub kind: String,
    /// `signed`, `broadcast`, `mined` (the winner) or `replaced`.
    pub status: String,
    /// Wei, decimal.
    pub max_fee_per_gas: String,
    pub max_priority_fee_per_gas: String,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub broadcast_at: Option<DateTime<Utc>>,
}

/// A transaction the workflow sent.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct WorkflowTx {
    pub id: Uuid,
    /// What it is for (`batch_mint`, `transfer_with_authorization`, `deploy`...).
    pub purpose: String,
    pub nonce: i64,
    /// `signed`, `sent`, `mined`, `confirmed`, `reverted` or `failed`.
    pub status: String,
    /// The hash that was mined, once one was.
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{64}$"), nullable)]
    pub hash: Option<String>,
    #[oai(nullable)]
    pub block: Option<i64>,
    #[oai(nullable)]
    pub gas_used: Option<i64>,
    #[oai(nullable)]
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Every signed attempt, oldest first, with its fees.
    pub attempts: Vec<TxAttempt>,
}

/// A workflow's timeline: the row, every transition, its family and its transactions.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct History {
    pub workflow_id: Uuid,
    pub workflow: Workflow,
    pub parent: Nullable<RelatedWorkflow>,
    /// Its children (first 1000).
    pub children: Vec<RelatedWorkflow>,
    pub events: Vec<HistoryEvent>,
    /// The transactions it sent, and the one that carries it (a mint's batch transaction).
    pub txs: Vec<WorkflowTx>,
}

impl From<Timeline> for History {
    fn from(t: Timeline) -> Self {
        let mut previous: Option<i64> = None;
        let events = t
            .events
            .into_iter()
            .map(|e| {
                let since = previous.map(|p| e.at_ms - p);
                previous = Some(e.at_ms);
                let error = e
                    .detail
                    .as_ref()
                    .and_then(|d| d.get("error"))
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
                HistoryEvent {
                    id: e.id,
                    event: e.event.into(),
                    from_state: e.from_state.map(Into::into).into(),
                    to_state: e.to_state.into(),
                    status: WorkflowStatus::stored(&e.status),
                    attempt: e.attempt,
                    worker: e.worker,
                    error,
                    detail: e.detail,
                    at: from_ms(e.at_ms),
                    since_previous_ms: since,
                }
            })
            .collect();
        let txs = t
            .txs
            .into_iter()
            .map(|(tx, attempts)| WorkflowTx {
                id: tx.id,
                purpose: tx.purpose,
                nonce: tx.nonce,
                status: tx.status,
                hash: tx.winner_hash,
                block: tx.mined_block,
                gas_used: tx.gas_used,
                error: tx.error,
                created_at: from_ms(tx.created_at_ms),
                confirmed_at: opt_from_ms(tx.confirmed_at_ms),
                attempts: attempts
                    .into_iter()
                    .map(|a| TxAttempt {
                        hash: a.hash,
                        kind: a.kind,
                        status: a.status,
                        max_fee_per_gas: a.max_fee_per_gas,
                        max_priority_fee_per_gas: a.max_priority_fee_per_gas,
                        created_at: from_ms(a.created_at_ms),
                        broadcast_at: opt_from_ms(a.broadcast_at_ms),
                    })
                    .collect(),
            })
            .collect();
        History {
            workflow_id: t.workflow.id,
            workflow: t.workflow.into(),
            parent: t.parent.map(Into::into).into(),
            children: t.children.into_iter().map(Into::into).collect(),
            events,
            txs,
        }
    }
}
