//! The claim loop and the step runner of one worker process.
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use sea_orm::DatabaseConnection;
use serde_json::{Value as Json, json};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::decide::{Prior, RetryLimits, decide};
use super::registry::Registry;
use super::workflow::{StepCtx, StepError, StepOutput};
use super::writer::WriteRequest;
use super::{EngineConfig, Waker};
use crate::config::SettingsHandle;
use crate::store::events::{self, NewEvent};
use crate::store::time::Clock;
use crate::store::workflows::{self as rows, ClaimedWorkflow, Status};
use crate::telemetry;

/// How long the claim loop waits without any wake-up before it looks anyway. The recovery
/// sweep wakes it every second; this only guards against a stalled scheduler.
const IDLE_POLL: Duration = Duration::from_secs(5);

pub(crate) struct Shared {
    pub db: DatabaseConnection,
    pub registry: Registry,
    pub worker_id: Arc<str>,
    pub settings: SettingsHandle,
    /// The time of claims, leases, checkpoints and steps.
    pub clock: Clock,
    pub waker: Waker,
    pub writer: mpsc::Sender<WriteRequest>,
    /// Cancelled when the engine starts shutting down: claim nothing new, keep no lease.
    pub stopping: CancellationToken,
    pub config: EngineConfig,
}

/// Claims due workflows and runs them until `stopping`, then gives in-flight steps the grace
/// period to finish and aborts the rest.
pub(crate) async fn claim_loop(shared: Arc<Shared>) {
    let kinds = shared.registry.kinds();
    let mut steps: JoinSet<()> = JoinSet::new();
    while !shared.stopping.is_cancelled() {
        while let Some(done) = steps.try_join_next() {
            log_join(done);
        }
        let settings = shared.settings.get();
        let capacity = settings.max_concurrent_steps.max(1) as usize;
        let free = capacity.saturating_sub(steps.len());
        let want = free.min(settings.claim_batch_size.max(1) as usize);
        let mut more_due = false;
        if want > 0 {
            let now = shared.clock.now_ms();
            let lease_ms = settings.lease_seconds * 1000;
            match rows::claim_due(
                &shared.db,
                &shared.worker_id,
                &kinds,
                want as u32,
                now,
                lease_ms,
            )
            .await
            {
                Ok(claimed) => {
                    more_due = claimed.len() == want;
                    for row in claimed {
                        steps.spawn(run_workflow(shared.clone(), row));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "claim failed; backing off");
                    tokio::select! {
                        _ = shared.stopping.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                    continue;
                }
            }
        }
        let full = steps.len() >= capacity;
        if more_due && !full {
            continue;
        }
        tokio::select! {
            _ = shared.stopping.cancelled() => break,
            _ = shared.waker.woken(), if !full => {}
            // At capacity, a finished step frees the slot the next claim needs.
            Some(done) = steps.join_next(), if full => log_join(done),
            _ = tokio::time::sleep(IDLE_POLL) => {}
        }
    }
    let drained = tokio::time::timeout(shared.config.shutdown_grace, async {
        while let Some(done) = steps.join_next().await {
            log_join(done);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = steps.len(),
            "shutdown grace expired; abandoning in-flight steps"
        );
        steps.abort_all();
        while steps.join_next().await.is_some() {}
    }
}

fn log_join(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done
        && e.is_panic()
    {
        tracing::error!(error = %e, "step task panicked");
    }
}

/// Steps one claimed workflow for as long as it can go on at once (`Transition::Next`) under
/// the same lease, checkpointing after every step.
async fn run_workflow(shared: Arc<Shared>, row: ClaimedWorkflow) {
    let id = row.id;
    if let Some(previous) = row
        .previous_owner
        .as_deref()
        .filter(|p| **p != *shared.worker_id)
    {
        tracing::info!(workflow = %id, previous, "taking over an expired lease");
        let takeover = NewEvent {
            workflow_id: id,
            event: "takeover".into(),
            from_state: Some(row.state.clone()),
            to_state: row.state.clone(),
            status: Status::Running.as_str().into(),
            attempt: row.attempt,
            worker: Some(shared.worker_id.to_string()),
            detail: Some(json!({ "previous_owner": previous })),
            at_ms: shared.clock.now_ms(),
        };
        if let Err(e) = events::insert(&shared.db, &[takeover]).await {
            tracing::warn!(workflow = %id, error = %e, "could not record takeover");
        }
    }
    let Some(kind) = shared.registry.get(&row.kind) else {
        tracing::error!(workflow = %id, kind = row.kind, "claimed a kind this worker does not know");
        return;
    };
    let mut state = row.state;
    let mut data = row.data;
    let mut schema_version = row.schema_version;
    let mut attempt = row.attempt;
    let step_duration =
        metrics::histogram!(telemetry::names::STEP_DURATION, "kind" => row.kind.clone());
    loop {
        let settings = shared.settings.get();
        let ctx = StepCtx {
            workflow_id: id,
            attempt,
            worker_id: shared.worker_id.clone(),
            db: shared.db.clone(),
            settings: settings.clone(),
            clock: shared.clock.clone(),
        };
        let started = std::time::Instant::now();
        let output = AssertUnwindSafe(kind.run(&ctx, &state, data.clone(), schema_version))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| {
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "step panicked".into());
                // A panic message can quote anything (an unwrapped database or node error):
                // it goes to the log, the history gets a fixed text.
                tracing::error!(workflow = %id, panic = msg, "step panicked");
                StepOutput::Failed(StepError::Transient(
                    "panic: the step panicked; see the server log".into(),
                ))
            });
        let step_time = started.elapsed();
        step_duration.record(step_time);
        let limits = RetryLimits {
            max_attempts: kind
                .max_attempts()
                .map(i64::from)
                .unwrap_or(settings.retry_max_attempts),
            settings: &settings,
        };
        let keep_going = !shared.stopping.is_cancelled();
        let (mut checkpoint, effects) = decide(
            Prior {
                id,
                kind: &row.kind,
                version: row.version,
                state: &state,
                data: &data,
                schema_version,
                attempt,
            },
            kind.schema_version(),
            output,
            limits,
            keep_going,
            shared.clock.now_ms(),
        );
        if let Some(detail) = checkpoint.detail.as_mut().and_then(Json::as_object_mut) {
            detail.insert("step_ms".into(), json!(step_time.as_millis() as u64));
        }
        let next = checkpoint.keep_lease.then(|| {
            (
                checkpoint.state.clone(),
                checkpoint.data.clone(),
                checkpoint.schema_version,
            )
        });
        let run_at = checkpoint.run_at_ms;
        let (reply, written) = oneshot::channel();
        let request = WriteRequest {
            checkpoint,
            effects,
            reply,
        };
        if shared.writer.send(request).await.is_err() {
            return; // the engine is going away; the lease expires and another worker resumes
        }
        match written.await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                tracing::info!(workflow = %id, "lease lost; discarding this step's result");
                return;
            }
            Ok(Err(e)) => {
                // Nothing was written; the lease runs out and the step is run again.
                tracing::warn!(workflow = %id, error = %e, "checkpoint failed");
                return;
            }
            Err(_) => return,
        }
        match next {
            Some((s, d, v)) => {
                state = s;
                data = d;
                schema_version = v;
                attempt = 0;
            }
            None => {
                if let Some(at) = run_at {
                    shared.waker.wake_at(at, shared.clock.now_ms());
                }
                return;
            }
        }
    }
}

/// Keeps this worker's leases alive while its steps run.
pub(crate) async fn heartbeat(shared: Arc<Shared>) {
    loop {
        let settings = shared.settings.get();
        let lease_ms = settings.lease_seconds * 1000;
        tokio::time::sleep(Duration::from_millis((lease_ms / 3).max(100) as u64)).await;
        let until = shared.clock.now_ms() + lease_ms;
        if let Err(e) = rows::renew_leases(&shared.db, &shared.worker_id, until).await {
            tracing::warn!(error = %e, "lease renewal failed");
        }
    }
}
