//! Everything an operator needs to read what happened to one workflow: its row, its history,
//! its parent and children, and the transactions it sent with every signed attempt.
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, FromQueryResult, Order, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::chain::{self, AttemptRow, TxRow};
use super::entity::{workflow, workflow_event};
use super::events;

/// Another workflow, in brief.
#[derive(Clone, Debug, PartialEq, FromQueryResult)]
pub struct Related {
    pub id: Uuid,
    pub kind: String,
    pub state: String,
    pub status: String,
}

pub struct Timeline {
    pub workflow: workflow::Model,
    pub parent: Option<Related>,
    pub children: Vec<Related>,
    pub events: Vec<workflow_event::Model>,
    /// The transactions it sent, then the one that carries it (a mint's batch transaction),
    /// each with its attempts (the first signature and every fee bump).
    pub txs: Vec<(TxRow, Vec<AttemptRow>)>,
}

/// Children listed at most: a page of a big family is enough to follow the links.
const MAX_CHILDREN: u64 = 1_000;

pub async fn load(db: &DatabaseConnection, id: Uuid) -> Result<Option<Timeline>, DbErr> {
    let Some(workflow) = workflow::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    let related = || {
        workflow::Entity::find()
            .select_only()
            .column(workflow::Column::Id)
            .column(workflow::Column::Kind)
            .column(workflow::Column::State)
            .column(workflow::Column::Status)
    };
    let parent = match workflow.parent_id {
        Some(parent) => {
            related()
                .filter(workflow::Column::Id.eq(parent))
                .into_model::<Related>()
                .one(db)
                .await?
        }
        None => None,
    };
    let children = related()
        .filter(workflow::Column::ParentId.eq(id))
        .order_by(workflow::Column::Id, Order::Asc)
        .limit(MAX_CHILDREN)
        .into_model::<Related>()
        .all(db)
        .await?;
    let events = events::history(db, id).await?;
    let mut sent = chain::txs_of_owner(db, id).await?;
    // A workflow can be carried by another's transaction (a mint by its batch's `batchMint`):
    // its `tx_hash` links it.
    if let Some(hash) = &workflow.tx_hash
        && let Some(tx) = chain::tx_by_hash(db, hash).await?
        && !sent.iter().any(|t| t.id == tx.id)
    {
        sent.push(tx);
    }
    let mut txs = Vec::new();
    for tx in sent {
        let attempts = chain::attempts(db, tx.id).await?;
        txs.push((tx, attempts));
    }
    Ok(Some(Timeline {
        workflow,
        parent,
        children,
        events,
        txs,
    }))
}
