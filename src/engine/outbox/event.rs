//! One outbox event as clients receive it: the `data` of a server-sent event
//! (`GET /v1/events`) and the body of a webhook delivery. It lives with the outbox that both
//! read, so the API and the webhook dispatcher share it without depending on each other.
use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use serde_json::Value as Json_;
use uuid::Uuid;

use crate::spec::names::{EventName, KindName, StateName};
use crate::spec::nullable::Nullable;
use crate::store::outbox::OutboxEvent;
use crate::store::time::from_ms;
use crate::store::workflows::Status;

/// The engine-level status of a workflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum WorkflowStatus {
    /// Due now or at `runAt`, or being stepped by the worker holding its lease.
    Running,
    /// Parked until something wakes it: a child, a transaction, its parent, an operator.
    Waiting,
    /// Ended in its kind's final state.
    Completed,
    /// Ended in failure (`lastError` says why); an operator may retry it.
    Failed,
    /// Ended by an operator or by its parent's end; an operator may retry it.
    Cancelled,
    /// Parked: its checkpoint has a schema version no running code understands.
    NeedsMigration,
}

impl WorkflowStatus {
    /// The status a row stores. A status this build does not know was written by a newer
    /// one: to this build the workflow is as good as parked.
    pub fn stored(status: &str) -> WorkflowStatus {
        match Status::parse(status) {
            Some(Status::Running) => WorkflowStatus::Running,
            Some(Status::Waiting) => WorkflowStatus::Waiting,
            Some(Status::Completed) => WorkflowStatus::Completed,
            Some(Status::Failed) => WorkflowStatus::Failed,
            Some(Status::Cancelled) => WorkflowStatus::Cancelled,
            Some(Status::NeedsMigration) | None => WorkflowStatus::NeedsMigration,
        }
    }
}

impl From<WorkflowStatus> for Status {
    fn from(s: WorkflowStatus) -> Status {
        match s {
            WorkflowStatus::Running => Status::Running,
            WorkflowStatus::Waiting => Status::Waiting,
            WorkflowStatus::Completed => Status::Completed,
            WorkflowStatus::Failed => Status::Failed,
            WorkflowStatus::Cancelled => Status::Cancelled,
            WorkflowStatus::NeedsMigration => Status::NeedsMigration,
        }
    }
}

/// One transition of one workflow, as streamed and as posted to webhooks.
#[derive(Clone, Debug, Object)]
#[oai(rename_all = "camelCase")]
#[oai(example)]
pub struct TransitionEvent {
    /// The outbox position: the SSE `id`, increasing, the same on every instance.
    pub position: i64,
    /// The history event's id (`GET /v1/workflows/{id}/history`).
    pub event_id: i64,
    pub workflow_id: Uuid,
    pub kind: KindName,
    pub event: EventName,
    // `Nullable`: a nullable enum lists `null` among its values, which generators need.
    pub from_state: Nullable<StateName>,
    pub to_state: StateName,
    // The workflow's engine status after the event.
    // (A plain comment: a described $ref becomes an `allOf` that generators refuse.)
    pub status: WorkflowStatus,
    pub attempt: i32,
    #[oai(nullable)]
    pub worker: Option<String>,
    pub detail: Option<Json_>,
    pub at: DateTime<Utc>,
}

impl From<OutboxEvent> for TransitionEvent {
    fn from(e: OutboxEvent) -> Self {
        TransitionEvent {
            position: e.position,
            event_id: e.event_id,
            workflow_id: e.workflow_id,
            kind: e.kind.into(),
            event: e.event.into(),
            from_state: e.from_state.map(Into::into).into(),
            to_state: e.to_state.into(),
            status: WorkflowStatus::stored(&e.status),
            attempt: e.attempt,
            worker: e.worker,
            detail: e.detail,
            at: from_ms(e.at_ms),
        }
    }
}
