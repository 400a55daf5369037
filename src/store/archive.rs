//! Pages of finished records for `mintflow archive`, which writes them out before deleting
//! them. Their receipts are never deleted.
use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, Order, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

use super::entity::{payment_receipt, workflow, workflow_event};
use super::workflows::Status;

/// A workflow as archived: its row and its history.
#[derive(Clone, Debug, Serialize)]
pub struct Record {
    pub workflow: workflow::Model,
    pub events: Vec<workflow_event::Model>,
}

/// What to archive: completed and cancelled workflows of `kinds` finished before `before_ms`
/// (failed ones stay for operators). A workflow of kind `payment_kind` without a receipt (made
/// before the ledger existed) is left: its workflow key is its only reservation.
pub struct Selection<'a> {
    pub kinds: &'a [&'a str],
    pub payment_kind: &'a str,
    pub before_ms: i64,
}

/// The oldest `limit` workflows of `selection`, with their history.
pub async fn page<C: ConnectionTrait>(
    conn: &C,
    selection: &Selection<'_>,
    limit: u64,
) -> Result<Vec<Record>, DbErr> {
    let receipted = Query::select()
        .column(payment_receipt::Column::PaymentId)
        .from(payment_receipt::Entity)
        .to_owned();
    let rows = workflow::Entity::find()
        .filter(workflow::Column::Kind.is_in(selection.kinds.iter().copied()))
        .filter(
            workflow::Column::Status
                .is_in([Status::Completed.as_str(), Status::Cancelled.as_str()]),
        )
        .filter(workflow::Column::FinishedAtMs.lt(selection.before_ms))
        .filter(
            Condition::any()
                .add(workflow::Column::Kind.ne(selection.payment_kind))
                .add(workflow::Column::Id.in_subquery(receipted)),
        )
        .order_by(workflow::Column::Id, Order::Asc)
        .limit(limit)
        .all(conn)
        .await?;
    let ids: Vec<Uuid> = rows.iter().map(|w| w.id).collect();
    let mut events = workflow_event::Entity::find()
        .filter(workflow_event::Column::WorkflowId.is_in(ids))
        .order_by(workflow_event::Column::Id, Order::Asc)
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|w| {
            let (own, rest) = events.drain(..).partition(|e| e.workflow_id == w.id);
            events = rest;
            Record {
                workflow: w,
                events: own,
            }
        })
        .collect())
}

/// Deletes the workflows `ids` with their history (the foreign key cascades).
pub async fn delete<C: ConnectionTrait>(conn: &C, ids: &[Uuid]) -> Result<u64, DbErr> {
    let res = workflow::Entity::delete_many()
        .filter(workflow::Column::Id.is_in(ids.iter().copied()))
        .exec(conn)
        .await?;
    Ok(res.rows_affected)
}
