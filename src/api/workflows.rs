//! Operators' view of workflows: list, inspect, read history, retry and cancel.
use chrono::{DateTime, Utc};
use poem::Request;
use poem_openapi::{
    Object, OpenApi, Tags,
    param::{Header, Path, Query},
    payload::Json,
};
use serde_json::Value as Json_;
use uuid::Uuid;

use poem::web::Data;

use super::AppState;
use super::auth::{Access, Admin, Read};
use super::declared::{Declared, UuidText};
use super::error::{ApiError, Errors, KeyedById, KeyedByIdInState, KeyedList, parse_uuid};
use super::names::{EventName, KINDS, KindName, STATES, StateName, check_query};
use crate::engine::outbox::event::WorkflowStatus;
use crate::spec::nullable::Nullable;
use crate::store::entity::workflow;
use crate::store::time::{from_ms, opt_from_ms};
use crate::store::timeline::{self, Related, Timeline};
use crate::store::workflows::{self as rows, ActionOutcome, Actor, ListFilter};
use crate::workflows::payment;

/// What a domain view (payment, deployment) shows as its status: the domain state, unless the
/// engine ended the workflow otherwise. A payment the engine gave up on in `pending` is
/// `failed`, not `pending`; one an operator cancelled is `cancelled`.
pub fn shown_status<'a>(status: &'a str, state: &'a str) -> &'a str {
    match status {
        "failed" | "cancelled" if state != "confirmed" => status,
        _ => state,
    }
}

#[derive(Tags)]
pub enum WorkflowsTag {
    /// Durable workflows and their histories, for operators.
    Workflows,
}

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

const LIST_PARAMS: &[&str] = &[
    "kind",
    "status",
    "state",
    "payer",
    "token",
    "txHash",
    "idempotencyKey",
    "olderThanSeconds",
    "createdAfter",
    "createdBefore",
    "limit",
    "cursor",
];

pub struct WorkflowsApi;

#[OpenApi(prefix_path = "/v1/workflows", tag = "WorkflowsTag::Workflows")]
impl WorkflowsApi {
    /// Search workflows
    ///
    /// Who may call: a key with the `read` scope (or `admin`).
    ///
    /// Workflows of every kind, newest first, narrowed by any of the filters (an unknown
    /// query parameter is 400 `unknown_filter`). `tx_hash` finds a workflow by its own hash or
    /// by any signed attempt (fee bumps included) of a transaction it sent. Paged: pass the
    /// answer's next cursor back as `cursor` for the next page.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/", method = "get", operation_id = "list_workflows")]
    async fn list(
        &self,
        app: Data<&AppState>,
        _auth: Access<Read>,
        req: &Request,
        /// Only this kind.
        kind: Query<Option<KindName>>,
        /// Only this engine status.
        status: Query<Option<WorkflowStatus>>,
        /// Only this domain state.
        state: Query<Option<StateName>>,
        /// Only this payer (0x address).
        payer: Query<Option<String>>,
        /// Only this token contract (0x address).
        token: Query<Option<String>>,
        /// Only the workflow(s) of this transaction hash: their own, or any signed attempt of a
        /// transaction they sent.
        #[oai(name = "txHash")]
        tx_hash: Query<Option<String>>,
        /// Only the workflow with this idempotency key.
        #[oai(name = "idempotencyKey")]
        idempotency_key: Query<Option<String>>,
        /// Only workflows created at least this many seconds ago.
        #[oai(
            name = "olderThanSeconds",
            validator(minimum(value = "0"), maximum(value = "315360000"))
        )]
        older_than_secs: Query<Option<u64>>,
        /// Created at or after this time (RFC 3339).
        #[oai(name = "createdAfter")]
        created_after: Query<Option<DateTime<Utc>>>,
        /// Created before this time (RFC 3339).
        #[oai(name = "createdBefore")]
        created_before: Query<Option<DateTime<Utc>>>,
        /// Page size, 1 to 500.
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "500"))
        )]
        limit: Query<u64>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<UuidText>>,
    ) -> Result<Json<WorkflowPage>, Errors<KeyedList>> {
        if let Some(unknown) = req
            .uri()
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split('=').next().unwrap_or_default())
            .find(|name| !LIST_PARAMS.contains(name))
        {
            return Err(ApiError::bad_request(
                "unknown_filter",
                format!(
                    "unknown filter `{unknown}`; known: {}",
                    LIST_PARAMS.join(", ")
                ),
            )
            .into());
        }
        let before_id = parse_cursor(cursor.0)?;
        let older_than = older_than_secs.0.map(crate::store::ms_ago);
        let created_before_ms = match (created_before.0.map(|t| t.timestamp_millis()), older_than) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        check_query("kind", KINDS, kind.as_deref().map(String::as_str))?;
        check_query("state", STATES, state.as_deref().map(String::as_str))?;
        let filter = ListFilter {
            kind: kind.0.map(Declared::into_inner),
            status: status.0.map(Into::into),
            state: state.0.map(Declared::into_inner),
            payer: payer.0.map(|a| a.to_lowercase()),
            token: token.0.map(|a| a.to_lowercase()),
            tx_hash: tx_hash.0.map(|h| h.to_lowercase()),
            idempotency_key: idempotency_key.0,
            created_after_ms: created_after.0.map(|t| t.timestamp_millis()),
            created_before_ms,
            before_id,
            limit: limit.0 + 1,
            ..Default::default()
        };
        Ok(list_page(&app.read_db, filter).await?)
    }

    /// Get one workflow
    ///
    /// Who may call: a key with the `read` scope (or `admin`).
    ///
    /// Its status, state, checkpoint data, lease and last error. A payment's signed
    /// authorization is left out of its data until the payment is confirmed. 404
    /// `workflow_not_found` for an unknown id.
    #[oai(path = "/:id", method = "get", operation_id = "get_workflow")]
    async fn get(
        &self,
        app: Data<&AppState>,
        _auth: Access<Read>,
        id: Path<UuidText>,
    ) -> Result<Json<Workflow>, Errors<KeyedById>> {
        let id = parse_uuid("id", &id.0)?;
        let row = rows::find(&app.db, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        Ok(Json(row.into()))
    }

    /// Get a workflow's timeline
    ///
    /// Who may call: a key with the `read` scope (or `admin`).
    ///
    /// Every transition, oldest first (time, milliseconds in the previous state, attempt,
    /// worker, error, detail), the workflow, its parent and children, and the transactions it
    /// sent with every signed attempt and its fees. 404 `workflow_not_found` for an unknown
    /// id.
    #[oai(
        path = "/:id/history",
        method = "get",
        operation_id = "get_workflow_history"
    )]
    async fn history(
        &self,
        app: Data<&AppState>,
        _auth: Access<Read>,
        id: Path<UuidText>,
    ) -> Result<Json<History>, Errors<KeyedById>> {
        let id = parse_uuid("id", &id.0)?;
        let timeline = timeline::load(&app.read_db, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        Ok(Json(timeline.into()))
    }

    /// Retry a failed or cancelled workflow
    ///
    /// Who may call: `admin` (a key with that scope, or `ADMIN_TOKEN`).
    /// Recorded in its history with who asked (`X-Actor`) and why (`reason`).
    ///
    /// A failed, cancelled or parked (`needs_migration`) workflow resumes from the state it
    /// stopped in, with a fresh count of attempts. The children its end cancelled (a payment's
    /// mints or deployment) go back to waiting for it in the same transaction. A workflow
    /// that is running, waiting or completed is 409 `wrong_status`, so a repeated retry does
    /// nothing twice.
    #[oai(path = "/:id/retry", method = "post", operation_id = "retry_workflow")]
    async fn retry(
        &self,
        app: Data<&AppState>,
        auth: Access<Admin>,
        id: Path<UuidText>,
        /// Why; kept in the history.
        reason: Query<Option<String>>,
        /// Who is acting; kept in the history (default `admin`).
        #[oai(name = "X-Actor")]
        actor: Header<Option<String>>,
    ) -> Result<Json<Workflow>, Errors<KeyedByIdInState>> {
        let id = parse_uuid("id", &id.0)?;
        let who = actor_of(auth.actor(actor.0), reason.0);
        Ok(outcome(id, "retry", app.client.retry(id, &who).await?)?)
    }

    /// Cancel a workflow
    ///
    /// Who may call: `admin` (a key with that scope, or `ADMIN_TOKEN`).
    /// Recorded in its history with who asked (`X-Actor`) and why (`reason`).
    ///
    /// A running, waiting or parked (`needs_migration`) workflow is cancelled: a step in
    /// flight loses its lease and its result is discarded (a transaction already broadcast
    /// may still land). The children still waiting for it (a payment's mints or deployment)
    /// are cancelled in the same transaction, with the reason. A workflow that already ended
    /// is 409 `wrong_status`; `POST /v1/workflows/{id}/retry` resumes a cancelled one.
    #[oai(
        path = "/:id/cancel",
        method = "post",
        operation_id = "cancel_workflow"
    )]
    async fn cancel(
        &self,
        app: Data<&AppState>,
        auth: Access<Admin>,
        id: Path<UuidText>,
        /// Why; kept in the history.
        reason: Query<Option<String>>,
        /// Who is acting; kept in the history (default `admin`).
        #[oai(name = "X-Actor")]
        actor: Header<Option<String>>,
    ) -> Result<Json<Workflow>, Errors<KeyedByIdInState>> {
        let id = parse_uuid("id", &id.0)?;
        let who = actor_of(auth.actor(actor.0), reason.0);
        Ok(outcome(id, "cancel", app.client.cancel(id, &who).await?)?)
    }
}

fn default_limit() -> u64 {
    50
}

/// The workflow id a `cursor` parameter names.
pub fn parse_cursor(cursor: Option<UuidText>) -> Result<Option<Uuid>, ApiError> {
    cursor
        .as_deref()
        .map(|c| parse_uuid("cursor", c))
        .transpose()
}

/// One page of `filter` (whose `limit` is the page size plus one, to learn if more follow).
pub async fn list_page(
    db: &sea_orm::DatabaseConnection,
    filter: ListFilter,
) -> Result<Json<WorkflowPage>, ApiError> {
    let (items, next_cursor) = super::page(rows::list(db, &filter).await?, filter.limit - 1);
    Ok(Json(WorkflowPage {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::not_found("workflow_not_found", format!("no workflow {id}"))
}

pub fn actor_of(actor: String, reason: Option<String>) -> Actor {
    Actor {
        actor,
        via: "api".into(),
        reason,
    }
}

fn outcome(id: Uuid, action: &str, out: ActionOutcome) -> Result<Json<Workflow>, ApiError> {
    match out {
        ActionOutcome::Done(row) => Ok(Json((*row).into())),
        ActionOutcome::NotFound => Err(not_found(id)),
        ActionOutcome::WrongStatus(status) => Err(ApiError::conflict(
            "wrong_status",
            format!("cannot {action} workflow {id}: it is {}", status.as_str()),
        )),
    }
}
