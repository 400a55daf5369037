//! `workflow_events`: the append-only history of every workflow.
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};
use serde_json::Value as Json;
use uuid::Uuid;

use super::entity::workflow_event;

/// One history entry to append.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub workflow_id: Uuid,
    /// What happened: `created`, `step`, `retry_scheduled`, `completed`, `failed`, `takeover`...
    pub event: String,
    pub from_state: Option<String>,
    pub to_state: String,
    /// The workflow's status after the event.
    pub status: String,
    pub attempt: i32,
    /// The worker that wrote it; `None` for API and operator writes.
    pub worker: Option<String>,
    pub detail: Option<Json>,
    pub at_ms: i64,
}

pub async fn insert<C: ConnectionTrait>(conn: &C, events: &[NewEvent]) -> Result<(), DbErr> {
    if events.is_empty() {
        return Ok(());
    }
    let models = events.iter().map(|e| workflow_event::ActiveModel {
        workflow_id: Set(e.workflow_id),
        event: Set(e.event.clone()),
        from_state: Set(e.from_state.clone()),
        to_state: Set(e.to_state.clone()),
        status: Set(e.status.clone()),
        attempt: Set(e.attempt),
        worker: Set(e.worker.clone()),
        detail: Set(e.detail.clone()),
        at_ms: Set(e.at_ms),
        ..Default::default()
    });
    workflow_event::Entity::insert_many(models)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// A workflow's history, oldest first.
pub async fn history(
    db: &DatabaseConnection,
    workflow_id: Uuid,
) -> Result<Vec<workflow_event::Model>, DbErr> {
    workflow_event::Entity::find()
        .filter(workflow_event::Column::WorkflowId.eq(workflow_id))
        .order_by_asc(workflow_event::Column::Id)
        .all(db)
        .await
}
