//! The read queries behind the API: one workflow, filtered pages, children.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, Order,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::store::entity::workflow;

use super::Status;

pub async fn find(db: &DatabaseConnection, id: Uuid) -> Result<Option<workflow::Model>, DbErr> {
    workflow::Entity::find_by_id(id).one(db).await
}

/// Filters for `list`; every field narrows the result.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub kind: Option<String>,
    pub status: Option<Status>,
    pub state: Option<String>,
    /// Lowercase 0x address.
    pub payer: Option<String>,
    /// Lowercase 0x address.
    pub token: Option<String>,
    /// A transaction hash: the workflow's own, or any attempt of a transaction it sent.
    pub tx_hash: Option<String>,
    pub idempotency_key: Option<String>,
    /// Only failed and parked (`needs_migration`) workflows: the dead letters.
    pub dead_letters: bool,
    /// Only workflows that have not finished (running, waiting or parked).
    pub unfinished: bool,
    pub created_after_ms: Option<i64>,
    pub created_before_ms: Option<i64>,
    /// Only rows older than this id (ids are UUIDv7, so ordered by creation): the page cursor.
    pub before_id: Option<Uuid>,
    pub limit: u64,
}

/// Newest first, `limit` rows at most.
pub async fn list(db: &DatabaseConnection, f: &ListFilter) -> Result<Vec<workflow::Model>, DbErr> {
    let mut q = workflow::Entity::find();
    if let Some(kind) = &f.kind {
        q = q.filter(workflow::Column::Kind.eq(kind.clone()));
    }
    if let Some(status) = f.status {
        q = q.filter(workflow::Column::Status.eq(status.as_str()));
    }
    if let Some(state) = &f.state {
        q = q.filter(workflow::Column::State.eq(state.clone()));
    }
    if let Some(payer) = &f.payer {
        q = q.filter(workflow::Column::Payer.eq(payer.clone()));
    }
    if let Some(token) = &f.token {
        q = q.filter(workflow::Column::Token.eq(token.clone()));
    }
    if let Some(hash) = &f.tx_hash {
        let senders = Query::select()
            .column(Alias::new("owner_workflow_id"))
            .from(Alias::new("chain_txs"))
            .inner_join(
                Alias::new("chain_tx_attempts"),
                Expr::col((Alias::new("chain_tx_attempts"), Alias::new("tx_id")))
                    .equals((Alias::new("chain_txs"), Alias::new("id"))),
            )
            .and_where(
                Expr::col((Alias::new("chain_tx_attempts"), Alias::new("hash"))).eq(hash.clone()),
            )
            .to_owned();
        q = q.filter(
            Condition::any()
                .add(workflow::Column::TxHash.eq(hash.clone()))
                .add(workflow::Column::Id.in_subquery(senders)),
        );
    }
    if let Some(key) = &f.idempotency_key {
        q = q.filter(workflow::Column::IdempotencyKey.eq(key.clone()));
    }
    if f.dead_letters {
        q = q.filter(
            workflow::Column::Status
                .is_in([Status::Failed.as_str(), Status::NeedsMigration.as_str()]),
        );
    }
    if f.unfinished {
        q = q.filter(workflow::Column::FinishedAtMs.is_null());
    }
    if let Some(after) = f.created_after_ms {
        q = q.filter(workflow::Column::CreatedAtMs.gte(after));
    }
    if let Some(before) = f.created_before_ms {
        q = q.filter(workflow::Column::CreatedAtMs.lt(before));
    }
    if let Some(cursor) = f.before_id {
        q = q.filter(workflow::Column::Id.lt(cursor));
    }
    q.order_by(workflow::Column::Id, Order::Desc)
        .limit(f.limit)
        .all(db)
        .await
}

/// The children of workflow `parent`, with their kinds.
pub async fn children<C: ConnectionTrait>(
    conn: &C,
    parent: Uuid,
) -> Result<Vec<(Uuid, String)>, DbErr> {
    workflow::Entity::find()
        .select_only()
        .column(workflow::Column::Id)
        .column(workflow::Column::Kind)
        .filter(workflow::Column::ParentId.eq(parent))
        .order_by(workflow::Column::Id, Order::Asc)
        .into_tuple()
        .all(conn)
        .await
}

/// The children (id, kind) of each of `parents`, oldest first, in one query: a page of
/// payments shows its mints without a query per row.
pub async fn children_of_each<C: ConnectionTrait>(
    conn: &C,
    parents: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Vec<(Uuid, String)>>, DbErr> {
    let mut children: std::collections::HashMap<Uuid, Vec<(Uuid, String)>> =
        std::collections::HashMap::with_capacity(parents.len());
    if parents.is_empty() {
        return Ok(children);
    }
    let rows: Vec<(Uuid, String, Option<Uuid>)> = workflow::Entity::find()
        .select_only()
        .column(workflow::Column::Id)
        .column(workflow::Column::Kind)
        .column(workflow::Column::ParentId)
        .filter(workflow::Column::ParentId.is_in(parents.iter().copied()))
        .order_by(workflow::Column::Id, Order::Asc)
        .into_tuple()
        .all(conn)
        .await?;
    for (id, kind, parent) in rows {
        if let Some(parent) = parent {
            children.entry(parent).or_default().push((id, kind));
        }
    }
    Ok(children)
}
