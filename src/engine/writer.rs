//! Group commit: one task per process writes the checkpoints of all its steps. Whatever queued
//! while the previous commit ran goes into the next one, so under load one round trip carries
//! many transitions, and when idle a checkpoint is written at once.
use std::collections::HashSet;

use sea_orm::{DatabaseConnection, DbBackend, DbErr};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::workflow::{Effect, WriteCtx, apply_effects};
use crate::store::{self, time::Clock, workflows::Checkpoint};

/// Most checkpoints one commit carries.
const MAX_GROUP: usize = 512;

pub(crate) struct WriteRequest {
    pub checkpoint: Checkpoint,
    pub effects: Vec<Effect>,
    /// `Ok(true)`: written; `Ok(false)`: the fence failed and nothing was written.
    pub reply: oneshot::Sender<Result<bool, DbErr>>,
}

/// Runs until every sender is gone.
pub(crate) async fn run(
    db: DatabaseConnection,
    owner: String,
    clock: Clock,
    mut rx: mpsc::Receiver<WriteRequest>,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        let requests = std::mem::take(&mut group);
        let t0 = std::time::Instant::now();
        let res = commit(&db, &owner, clock.now_ms(), &requests).await;
        tracing::debug!(
            size = requests.len(),
            ms = t0.elapsed().as_secs_f64() * 1000.0,
            "group commit"
        );
        match res {
            Ok(won) => reply_all(requests, |id| Ok(won.contains(&id))),
            Err(e) if requests.len() > 1 => {
                // One checkpoint's effect may have failed the whole group: commit each alone so
                // the others are not held back by it.
                tracing::warn!(error = %e, size = requests.len(), "group commit failed; committing one by one");
                for request in requests {
                    let result =
                        commit(&db, &owner, clock.now_ms(), std::slice::from_ref(&request))
                            .await
                            .map(|won| won.contains(&request.checkpoint.id));
                    let _ = request.reply.send(result);
                }
            }
            Err(e) => reply_all(requests, |_| Err(e.clone())),
        }
    }
}

fn reply_all(requests: Vec<WriteRequest>, result: impl Fn(Uuid) -> Result<bool, DbErr>) {
    for request in requests {
        let _ = request.reply.send(result(request.checkpoint.id));
    }
}

/// Writes `requests` atomically: the fenced checkpoints with their history events, then the
/// effects of those whose fence held. A checkpoint that lost its fence neither writes nor runs
/// its effects, and does not undo the others.
async fn commit(
    db: &DatabaseConnection,
    owner: &str,
    now: i64,
    requests: &[WriteRequest],
) -> Result<HashSet<Uuid>, DbErr> {
    let checkpoints: Vec<Checkpoint> = requests.iter().map(|r| r.checkpoint.clone()).collect();
    let has_effects = requests.iter().any(|r| !r.effects.is_empty());
    if !has_effects && db.get_database_backend() == DbBackend::Postgres {
        // A single statement is atomic by itself: skip BEGIN/COMMIT round trips.
        return store::workflows::apply_checkpoints(db, owner, now, &checkpoints).await;
    }
    let txn = store::begin_write(db).await?;
    let won = store::workflows::apply_checkpoints(&txn, owner, now, &checkpoints).await?;
    let effects = requests
        .iter()
        .filter(|r| won.contains(&r.checkpoint.id))
        .flat_map(|r| &r.effects);
    let ctx = WriteCtx {
        txn: &txn,
        worker: owner,
        now,
    };
    apply_effects(ctx, effects).await?;
    txn.commit().await?;
    Ok(won)
}
