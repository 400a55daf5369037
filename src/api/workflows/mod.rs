//! Operators' view of workflows: list, inspect, read history, retry and cancel. The handlers
//! parse and authorize; `app::workflows` does the rest.
mod views;

use chrono::{DateTime, Utc};
use poem::Request;
use poem_openapi::{
    OpenApi, Tags,
    param::{Header, Path, Query},
    payload::Json,
};
use uuid::Uuid;

use poem::web::Data;

use super::AppState;
use super::auth::{Access, Admin, Read};
use super::declared::{Declared, UuidText};
use super::error::{
    ApiError, Errors, KeyedById, KeyedByIdInState, KeyedList, errors_from, parse_uuid,
};
use super::names::{KINDS, KindName, STATES, StateName, check_query};
use crate::app::workflows::{self, WorkflowError};
use crate::engine::outbox::event::WorkflowStatus;
use crate::store::workflows::{Actor, ListFilter, Status};
pub use views::{
    History, HistoryEvent, RelatedWorkflow, TxAttempt, Workflow, WorkflowPage, WorkflowTx,
};

/// What a domain view (mint, payment, deployment) shows as its status: the kind's state `S`,
/// unless the engine ended the workflow otherwise before it was confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown<S> {
    /// The stored state (`None`: a name this build does not know).
    State(Option<S>),
    /// The engine gave up on it (a payment failed in `pending` is `failed`, not `pending`).
    Failed,
    /// An operator (or its parent's end) cancelled it.
    Cancelled,
}

/// What a row with engine `status` and the kind's `state` shows: `parse` reads the kind's
/// state, `confirmed` is its state of success, which an engine end after it does not undo.
pub fn shown_status<S: Copy + PartialEq>(
    status: &str,
    state: &str,
    parse: fn(&str) -> Option<S>,
    confirmed: S,
) -> Shown<S> {
    let state = parse(state);
    match Status::parse(status) {
        _ if state == Some(confirmed) => Shown::State(state),
        Some(Status::Failed) => Shown::Failed,
        Some(Status::Cancelled) => Shown::Cancelled,
        _ => Shown::State(state),
    }
}

#[derive(Tags)]
pub enum WorkflowsTag {
    /// Durable workflows and their histories, for operators.
    Workflows,
}

impl From<WorkflowError> for ApiError {
    fn from(e: WorkflowError) -> Self {
        match e {
            WorkflowError::NotFound(_) => ApiError::not_found("workflow_not_found", e.to_string()),
            WorkflowError::WrongStatus { .. } => ApiError::conflict("wrong_status", e.to_string()),
            WorkflowError::Database(e) => e.into(),
        }
    }
}

errors_from!(WorkflowError);

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
        Ok(Json(workflows::get(&app.db, id).await?.into()))
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
        Ok(Json(workflows::timeline(&app.read_db, id).await?.into()))
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
        Ok(Json(workflows::retry(&app.client, id, &who).await?.into()))
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
        Ok(Json(workflows::cancel(&app.client, id, &who).await?.into()))
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
    let page = workflows::list(db, &filter).await?;
    Ok(Json(WorkflowPage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next,
    }))
}

pub fn actor_of(actor: String, reason: Option<String>) -> Actor {
    Actor {
        actor,
        via: "api".into(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::workflows::Action;
    use crate::store::workflows::Status;

    #[test]
    fn an_action_on_a_workflow_in_the_wrong_status_is_a_conflict_naming_both() {
        let id = Uuid::nil();
        let e = WorkflowError::WrongStatus {
            id,
            action: Action::Retry,
            status: Status::Completed,
        };
        assert_eq!(
            e.to_string(),
            format!("cannot retry workflow {id}: it is completed")
        );
        assert_eq!(ApiError::from(e).status(), 409);
        assert_eq!(ApiError::from(WorkflowError::NotFound(id)).status(), 404);
    }

    #[test]
    fn an_engine_end_shows_unless_the_state_is_confirmed() {
        use crate::workflows::payment::PaymentState as P;
        let shown = |status: Status, state: &str| {
            shown_status(status.as_str(), state, P::parse, P::Confirmed)
        };
        let table = [
            (
                Status::Waiting,
                P::Sent.as_str(),
                Shown::State(Some(P::Sent)),
            ),
            (Status::Failed, P::Pending.as_str(), Shown::Failed),
            (Status::Cancelled, P::Sent.as_str(), Shown::Cancelled),
            (Status::Failed, P::Failed.as_str(), Shown::Failed),
            (
                Status::Completed,
                P::Failed.as_str(),
                Shown::State(Some(P::Failed)),
            ),
            (
                Status::Failed,
                P::Confirmed.as_str(),
                Shown::State(Some(P::Confirmed)),
            ),
            (
                Status::Cancelled,
                P::Confirmed.as_str(),
                Shown::State(Some(P::Confirmed)),
            ),
            (Status::Running, "renamed", Shown::State(None)),
            (Status::Cancelled, "renamed", Shown::Cancelled),
        ];
        for (status, state, expected) in table {
            assert_eq!(shown(status, state), expected, "{status:?} in {state}");
        }
    }
}
