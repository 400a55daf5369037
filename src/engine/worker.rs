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

use super::registry::Registry;
use super::retry::backoff_ms;
use super::workflow::{Effect, StepCtx, StepError, StepOutput, Transition};
use super::writer::WriteRequest;
use super::{EngineConfig, Waker};
use crate::config::{Settings, SettingsHandle};
use crate::store::events::{self, NewEvent};
use crate::store::held;
use crate::store::workflows::{self as rows, Checkpoint, ClaimedWorkflow, Status};
use crate::store::{self};
use crate::telemetry;

/// How long the claim loop waits without any wake-up before it looks anyway. The recovery
/// sweep wakes it every second; this only guards against a stalled scheduler.
const IDLE_POLL: Duration = Duration::from_secs(5);

pub(crate) struct Shared {
    pub db: DatabaseConnection,
    pub registry: Registry,
    pub worker_id: Arc<str>,
    pub settings: SettingsHandle,
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
            let now = store::now_ms();
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
            at_ms: store::now_ms(),
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
            store::now_ms(),
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
                    shared.waker.wake_at(at);
                }
                return;
            }
        }
    }
}

/// What was checkpointed before the step ran.
pub(crate) struct Prior<'a> {
    pub id: uuid::Uuid,
    pub kind: &'a str,
    pub version: i64,
    pub state: &'a str,
    pub data: &'a Json,
    pub schema_version: i32,
    pub attempt: i32,
}

pub(crate) struct RetryLimits<'a> {
    pub max_attempts: i64,
    pub settings: &'a Settings,
}

/// Turns a step's outcome into the checkpoint to write: a pure function of its inputs.
/// `keep_going` lets a `Next` transition keep the lease and run on in this worker.
pub(crate) fn decide(
    prior: Prior<'_>,
    current_schema: i32,
    output: StepOutput,
    limits: RetryLimits<'_>,
    keep_going: bool,
    now: i64,
) -> (Checkpoint, Vec<Effect>) {
    let base = |status: Status, state: String, data: Json, event: &str| Checkpoint {
        id: prior.id,
        version: prior.version,
        status,
        state,
        data,
        schema_version: current_schema,
        run_at_ms: None,
        attempt: 0,
        keep_lease: false,
        last_error: None,
        event: event.into(),
        from_state: prior.state.to_owned(),
        detail: None,
    };
    let (checkpoint, mut effects) = match output {
        StepOutput::Done {
            transition,
            data,
            effects,
            detail,
        } => {
            let mut cp = match transition {
                Transition::Next(s) => Checkpoint {
                    run_at_ms: Some(now),
                    keep_lease: keep_going,
                    ..base(Status::Running, s, data, "step")
                },
                Transition::WaitUntil(s, at) => Checkpoint {
                    run_at_ms: Some(at),
                    ..base(Status::Running, s, data, "sleep")
                },
                Transition::Wait(s) => base(Status::Waiting, s, data, "wait"),
                Transition::Complete(s) => base(Status::Completed, s, data, "completed"),
                Transition::Fail(s, reason) => Checkpoint {
                    last_error: Some(reason.clone()),
                    ..base(Status::Failed, s, data, "failed")
                },
            };
            cp.detail = Some(merge_detail(detail, cp.last_error.as_deref()));
            (cp, effects)
        }
        StepOutput::Failed(StepError::Transient(error)) => {
            let attempt = prior.attempt + 1;
            let unchanged =
                |status, event| base(status, prior.state.to_owned(), prior.data.clone(), event);
            let cp = if i64::from(attempt) >= limits.max_attempts {
                let reason = format!("gave up after {attempt} attempts: {error}");
                Checkpoint {
                    attempt,
                    schema_version: prior.schema_version,
                    last_error: Some(reason.clone()),
                    detail: Some(json!({ "error": reason })),
                    ..unchanged(Status::Failed, "failed")
                }
            } else {
                let delay = backoff_ms(
                    prior.attempt.max(0) as u32,
                    limits.settings.retry_base_delay_ms,
                    limits.settings.retry_max_delay_ms,
                );
                Checkpoint {
                    attempt,
                    schema_version: prior.schema_version,
                    run_at_ms: Some(now + delay),
                    last_error: Some(error.clone()),
                    detail: Some(json!({ "error": error, "retry_in_ms": delay })),
                    ..unchanged(Status::Running, "retry_scheduled")
                }
            };
            (cp, Vec::new())
        }
        StepOutput::Failed(StepError::Deferred { reason, until_ms }) => {
            let cp = Checkpoint {
                attempt: prior.attempt,
                schema_version: prior.schema_version,
                run_at_ms: Some(until_ms.max(now)),
                last_error: Some(reason.clone()),
                detail: Some(json!({ "deferred": reason, "until_ms": until_ms })),
                ..base(
                    Status::Running,
                    prior.state.to_owned(),
                    prior.data.clone(),
                    "deferred",
                )
            };
            (cp, Vec::new())
        }
        StepOutput::Failed(StepError::Permanent(error)) => {
            let cp = Checkpoint {
                attempt: prior.attempt,
                schema_version: prior.schema_version,
                last_error: Some(error.clone()),
                detail: Some(json!({ "error": error })),
                ..base(
                    Status::Failed,
                    prior.state.to_owned(),
                    prior.data.clone(),
                    "failed",
                )
            };
            (cp, Vec::new())
        }
        StepOutput::Undecodable(error) => {
            let cp = Checkpoint {
                attempt: prior.attempt,
                schema_version: prior.schema_version,
                last_error: Some(error.clone()),
                detail: Some(json!({ "error": error })),
                ..base(
                    Status::NeedsMigration,
                    prior.state.to_owned(),
                    prior.data.clone(),
                    "needs_migration",
                )
            };
            (cp, Vec::new())
        }
    };
    // However it failed (its step, its retries, a permanent error), the children it holds are
    // cancelled with it in its checkpoint transaction.
    if checkpoint.status == Status::Failed {
        let reason = format!(
            "{} {} failed: {}",
            prior.kind,
            prior.id,
            checkpoint.last_error.as_deref().unwrap_or_default()
        );
        effects.push(cancel_children(prior.id, reason));
    }
    (checkpoint, effects)
}

/// The effect that cancels the children `parent` holds (`store::held`).
fn cancel_children(parent: uuid::Uuid, reason: String) -> Effect {
    let reason: Arc<str> = reason.into();
    Arc::new(move |txn| {
        let reason = reason.clone();
        Box::pin(async move {
            held::cancel_children(txn, parent, &reason, None, store::now_ms()).await?;
            Ok(())
        })
    })
}

fn merge_detail(detail: Option<Json>, error: Option<&str>) -> Json {
    let mut obj = match detail {
        Some(Json::Object(map)) => map,
        Some(other) => {
            let mut map = serde_json::Map::new();
            map.insert("detail".into(), other);
            map
        }
        None => serde_json::Map::new(),
    };
    if let Some(e) = error {
        obj.insert("error".into(), json!(e));
    }
    Json::Object(obj)
}

/// Keeps this worker's leases alive while its steps run.
pub(crate) async fn heartbeat(shared: Arc<Shared>) {
    loop {
        let settings = shared.settings.get();
        let lease_ms = settings.lease_seconds * 1000;
        tokio::time::sleep(Duration::from_millis((lease_ms / 3).max(100) as u64)).await;
        let until = store::now_ms() + lease_ms;
        if let Err(e) = rows::renew_leases(&shared.db, &shared.worker_id, until).await {
            tracing::warn!(error = %e, "lease renewal failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prior(data: &Json) -> Prior<'_> {
        Prior {
            id: uuid::Uuid::nil(),
            kind: "probe",
            version: 7,
            state: "first",
            data,
            schema_version: 1,
            attempt: 0,
        }
    }

    fn done(t: Transition<String>) -> StepOutput {
        StepOutput::Done {
            transition: t,
            data: json!({"n": 2}),
            effects: vec![],
            detail: None,
        }
    }

    #[test]
    fn next_keeps_lease_only_while_running() {
        let data = json!({"n": 1});
        let s = Settings::default();
        let limits = || RetryLimits {
            max_attempts: 3,
            settings: &s,
        };
        let (cp, _) = decide(
            prior(&data),
            1,
            done(Transition::Next("second".into())),
            limits(),
            true,
            100,
        );
        assert!(cp.keep_lease);
        assert_eq!(
            (cp.status, cp.state.as_str(), cp.run_at_ms, cp.version),
            (Status::Running, "second", Some(100), 7)
        );
        assert_eq!(cp.data, json!({"n": 2}));
        let (cp, _) = decide(
            prior(&data),
            1,
            done(Transition::Next("second".into())),
            limits(),
            false,
            100,
        );
        assert!(!cp.keep_lease, "a stopping worker releases the lease");
    }

    #[test]
    fn transient_errors_back_off_then_fail() {
        let data = json!({"n": 1});
        let s = Settings::default();
        let (cp, effects) = decide(
            prior(&data),
            1,
            StepOutput::Failed(StepError::Transient("rpc".into())),
            RetryLimits {
                max_attempts: 3,
                settings: &s,
            },
            true,
            1000,
        );
        assert!(effects.is_empty(), "a retry leaves the children waiting");
        assert_eq!(cp.status, Status::Running);
        assert_eq!(cp.state, "first");
        assert_eq!(cp.data, data, "a failed step keeps the old checkpoint");
        assert_eq!(cp.attempt, 1);
        assert!(cp.run_at_ms.unwrap() > 1000);
        assert_eq!(cp.event, "retry_scheduled");
        let last = Prior {
            attempt: 2,
            ..prior(&data)
        };
        let (cp, effects) = decide(
            last,
            1,
            StepOutput::Failed(StepError::Transient("rpc".into())),
            RetryLimits {
                max_attempts: 3,
                settings: &s,
            },
            true,
            1000,
        );
        assert_eq!(cp.status, Status::Failed);
        assert!(cp.last_error.unwrap().contains("gave up after 3 attempts"));
        assert_eq!(effects.len(), 1, "giving up cancels the children it holds");
    }

    #[test]
    fn permanent_and_undecodable() {
        let data = json!({});
        let s = Settings::default();
        let (cp, effects) = decide(
            prior(&data),
            1,
            StepOutput::Failed(StepError::Permanent("bad".into())),
            RetryLimits {
                max_attempts: 3,
                settings: &s,
            },
            true,
            0,
        );
        assert_eq!(
            (cp.status, cp.run_at_ms, cp.last_error.as_deref()),
            (Status::Failed, None, Some("bad"))
        );
        assert_eq!(effects.len(), 1);
        let (cp, _) = decide(
            prior(&data),
            2,
            StepOutput::Undecodable("v9".into()),
            RetryLimits {
                max_attempts: 3,
                settings: &s,
            },
            true,
            0,
        );
        assert_eq!((cp.status, cp.schema_version), (Status::NeedsMigration, 1));
    }

    #[test]
    fn deferred_runs_again_later_without_spending_an_attempt() {
        let data = json!({});
        let s = Settings::default();
        let mut at_last_attempt = prior(&data);
        at_last_attempt.attempt = 2;
        let (cp, effects) = decide(
            at_last_attempt,
            1,
            StepOutput::Failed(StepError::Deferred {
                reason: "budget".into(),
                until_ms: 5_000,
            }),
            RetryLimits {
                max_attempts: 3,
                settings: &s,
            },
            true,
            1_000,
        );
        assert_eq!(
            (
                cp.status,
                cp.run_at_ms,
                cp.attempt,
                cp.last_error.as_deref()
            ),
            (Status::Running, Some(5_000), 2, Some("budget"))
        );
        assert_eq!(cp.event, "deferred");
        assert!(effects.is_empty(), "nothing is cancelled");
    }

    #[test]
    fn wait_and_timer() {
        let data = json!({});
        let s = Settings::default();
        let (cp, _) = decide(
            prior(&data),
            1,
            done(Transition::Wait("sent".into())),
            RetryLimits {
                max_attempts: 3,
                settings: &s,
            },
            true,
            0,
        );
        assert_eq!((cp.status, cp.run_at_ms), (Status::Waiting, None));
        let (cp, _) = decide(
            prior(&data),
            1,
            done(Transition::WaitUntil("x".into(), 99)),
            RetryLimits {
                max_attempts: 3,
                settings: &s,
            },
            true,
            0,
        );
        assert_eq!(
            (cp.status, cp.run_at_ms, cp.keep_lease),
            (Status::Running, Some(99), false)
        );
    }
}
