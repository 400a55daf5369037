//! Group insert of new workflows: one task per process creates the workflows that
//! `Client::start` is asked for. Whatever queued while the previous insert ran goes into the
//! next one, so under load (thousands of API requests a second) one statement and one commit
//! carry many new workflows, and when idle a workflow is created at once. Each caller still
//! gets its answer only after its workflow is committed.
use sea_orm::{DatabaseConnection, DbBackend, DbErr};
use tokio::sync::{mpsc, oneshot};

use crate::store::{
    self,
    time::Clock,
    workflows::{self as rows, Inserted, NewWorkflow},
};

/// Most workflows one insert carries.
const MAX_GROUP: usize = 512;

pub(crate) struct StartRequest {
    pub workflow: NewWorkflow,
    pub reply: oneshot::Sender<Result<Inserted, DbErr>>,
}

/// Runs until every sender is gone, stamping each group with `clock`'s time.
pub(crate) async fn run(
    db: DatabaseConnection,
    clock: Clock,
    mut rx: mpsc::Receiver<StartRequest>,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        let (workflows, replies): (Vec<_>, Vec<_>) = std::mem::take(&mut group)
            .into_iter()
            .map(|r| (r.workflow, r.reply))
            .unzip();
        match insert(&db, &workflows, clock.now_ms()).await {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            Err(e) if workflows.len() > 1 => {
                // One bad row must not fail the others: insert each alone.
                tracing::warn!(error = %e, size = workflows.len(), "group insert failed; inserting one by one");
                for (workflow, reply) in workflows.into_iter().zip(replies) {
                    let result = insert(&db, std::slice::from_ref(&workflow), clock.now_ms()).await;
                    let _ = reply.send(result.map(|mut r| r.remove(0)));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Inserts and commits `workflows`, created at `now`: one statement on PostgreSQL, one
/// transaction on SQLite.
async fn insert(
    db: &DatabaseConnection,
    workflows: &[NewWorkflow],
    now: i64,
) -> Result<Vec<Inserted>, DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        return rows::insert_workflows(db, workflows, now).await;
    }
    let txn = store::begin_write(db).await?;
    let results = rows::insert_workflows(&txn, workflows, now).await?;
    txn.commit().await?;
    Ok(results)
}
