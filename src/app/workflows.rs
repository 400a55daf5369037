//! Operators' reads of workflows (search, one workflow, its timeline) and their actions on them
//! (retry, cancel, bulk retry). The HTTP API and `mintflow workflows` both come here.
use std::fmt;

use sea_orm::{DatabaseConnection, DbErr};
use uuid::Uuid;

use super::paging::{self, Page};
use crate::engine::Client;
use crate::store::entity::workflow::Model;
use crate::store::timeline::{self, Timeline};
use crate::store::workflows::{self as rows, ActionOutcome, Actor, ListFilter, Status};

/// An operator's action on one workflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Retry,
    Cancel,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Retry => "retry",
            Action::Cancel => "cancel",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("no workflow {0}")]
    NotFound(Uuid),
    /// The action does not apply to a workflow in this status.
    #[error("cannot {action} workflow {id}: it is {}", status.as_str())]
    WrongStatus {
        id: Uuid,
        action: Action,
        status: Status,
    },
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// One page of `filter`, whose `limit` is the page size plus one, to learn if more follow;
/// the next page's cursor is the last id shown.
pub async fn list(
    db: &DatabaseConnection,
    filter: &ListFilter,
) -> Result<Page<Model, String>, DbErr> {
    let rows = rows::list(db, filter).await?;
    Ok(paging::cut(rows, filter.limit - 1, |w| w.id.to_string()))
}

/// Cuts rows fetched with `limit + 1` to one page; the cursor of the next page (the last id
/// shown) when there is one.
pub fn page(rows: Vec<Model>, limit: u64) -> (Vec<Model>, Option<String>) {
    let page = paging::cut(rows, limit, |w| w.id.to_string());
    (page.items, page.next)
}

pub async fn get(db: &DatabaseConnection, id: Uuid) -> Result<Model, WorkflowError> {
    rows::find(db, id).await?.ok_or(WorkflowError::NotFound(id))
}

/// Its transitions, family and transactions.
pub async fn timeline(db: &DatabaseConnection, id: Uuid) -> Result<Timeline, WorkflowError> {
    timeline::load(db, id)
        .await?
        .ok_or(WorkflowError::NotFound(id))
}

/// Resumes a failed, cancelled or parked workflow (and the children its end cancelled).
pub async fn retry(client: &Client, id: Uuid, who: &Actor) -> Result<Model, WorkflowError> {
    done(id, Action::Retry, client.retry(id, who).await?)
}

/// Cancels a running, waiting or parked workflow (and the children waiting for it).
pub async fn cancel(client: &Client, id: Uuid, who: &Actor) -> Result<Model, WorkflowError> {
    done(id, Action::Cancel, client.cancel(id, who).await?)
}

/// What a bulk retry did: the workflows retried, and why each of the others was not.
#[derive(Default)]
pub struct BulkRetry {
    pub retried: Vec<Uuid>,
    pub skipped: Vec<(Uuid, Skip)>,
}

/// Why a workflow of a bulk retry was left alone.
pub enum Skip {
    NotFound,
    WrongStatus(Status),
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::NotFound => f.write_str("not_found"),
            Skip::WrongStatus(status) => write!(f, "wrong_status: {}", status.as_str()),
        }
    }
}

/// Retries each of `ids` in turn; one that cannot be retried is skipped and the rest still go.
pub async fn retry_many(client: &Client, ids: &[Uuid], who: &Actor) -> Result<BulkRetry, DbErr> {
    let mut outcome = BulkRetry::default();
    for &id in ids {
        match client.retry(id, who).await? {
            ActionOutcome::Done(_) => outcome.retried.push(id),
            ActionOutcome::NotFound => outcome.skipped.push((id, Skip::NotFound)),
            ActionOutcome::WrongStatus(status) => {
                outcome.skipped.push((id, Skip::WrongStatus(status)))
            }
        }
    }
    Ok(outcome)
}

fn done(id: Uuid, action: Action, out: ActionOutcome) -> Result<Model, WorkflowError> {
    match out {
        ActionOutcome::Done(row) => Ok(*row),
        ActionOutcome::NotFound => Err(WorkflowError::NotFound(id)),
        ActionOutcome::WrongStatus(status) => {
            Err(WorkflowError::WrongStatus { id, action, status })
        }
    }
}
