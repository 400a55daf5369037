//! The engine's one decision: a step's outcome (or error) turned into the checkpoint to write,
//! with its retry policy. Pure, so every branch is unit-tested without a database.
use serde_json::{Value as Json, json};

use super::retry::backoff_ms;
use super::workflow::{Effect, StepError, StepOutput, Transition, WriteCtx, Writes, Writing};
use crate::config::Settings;
use crate::store::held;
use crate::store::workflows::{Checkpoint, Status};

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
    // Where the workflow already is, with the step's outcome recorded as `event`.
    let unchanged = |status, event| base(status, prior.state.to_owned(), prior.data.clone(), event);
    // A step that did not go through: the workflow stays where it was (its checkpoint, in the
    // schema it was written in), with `attempt` spent so far and the reason kept.
    let not_stepped = |status, event, attempt, error: &String, detail: Json| Checkpoint {
        attempt,
        schema_version: prior.schema_version,
        last_error: Some(error.clone()),
        detail: Some(detail),
        ..unchanged(status, event)
    };
    // A step that stopped the workflow where it was (failed, or unreadable by this build):
    // its attempts as they were.
    let stopped = |status, event, error: &String| {
        not_stepped(
            status,
            event,
            prior.attempt,
            error,
            json!({ "error": error }),
        )
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
            let cp = if i64::from(attempt) >= limits.max_attempts {
                let reason = format!("gave up after {attempt} attempts: {error}");
                let detail = json!({ "error": reason });
                not_stepped(Status::Failed, "failed", attempt, &reason, detail)
            } else {
                let delay = backoff_ms(
                    prior.attempt.max(0) as u32,
                    limits.settings.retry_base_delay_ms,
                    limits.settings.retry_max_delay_ms,
                );
                let detail = json!({ "error": error, "retry_in_ms": delay });
                Checkpoint {
                    run_at_ms: Some(now + delay),
                    ..not_stepped(Status::Running, "retry_scheduled", attempt, &error, detail)
                }
            };
            (cp, Vec::new())
        }
        StepOutput::Failed(StepError::Deferred { reason, until_ms }) => {
            let detail = json!({ "deferred": reason, "until_ms": until_ms });
            let cp = Checkpoint {
                run_at_ms: Some(until_ms.max(now)),
                ..not_stepped(Status::Running, "deferred", prior.attempt, &reason, detail)
            };
            (cp, Vec::new())
        }
        StepOutput::Failed(StepError::Permanent(error)) => {
            (stopped(Status::Failed, "failed", &error), Vec::new())
        }
        StepOutput::Undecodable(error) => (
            stopped(Status::NeedsMigration, "needs_migration", &error),
            Vec::new(),
        ),
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
    Effect::new(CancelChildren { parent, reason })
}

struct CancelChildren {
    parent: uuid::Uuid,
    reason: String,
}

impl Writes for CancelChildren {
    /// One parent at a time: a workflow that gives up is rare.
    fn apply_all<'a>(ctx: WriteCtx<'a>, writes: Vec<&'a Self>) -> Writing<'a> {
        Box::pin(async move {
            for w in writes {
                held::cancel_children(ctx.txn, w.parent, &w.reason, None, ctx.now).await?;
            }
            Ok(())
        })
    }
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

    /// `decide` with the default settings, 3 attempts and a worker that keeps going.
    fn run(
        prior: Prior<'_>,
        schema: i32,
        output: StepOutput,
        now: i64,
    ) -> (Checkpoint, Vec<Effect>) {
        let settings = Settings::default();
        let limits = RetryLimits {
            max_attempts: 3,
            settings: &settings,
        };
        decide(prior, schema, output, limits, true, now)
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
        let (cp, effects) = run(
            prior(&data),
            1,
            StepOutput::Failed(StepError::Transient("rpc".into())),
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
        let (cp, effects) = run(
            last,
            1,
            StepOutput::Failed(StepError::Transient("rpc".into())),
            1000,
        );
        assert_eq!(cp.status, Status::Failed);
        assert!(cp.last_error.unwrap().contains("gave up after 3 attempts"));
        assert_eq!(effects.len(), 1, "giving up cancels the children it holds");
    }

    #[test]
    fn permanent_and_undecodable() {
        let data = json!({});
        let (cp, effects) = run(
            prior(&data),
            1,
            StepOutput::Failed(StepError::Permanent("bad".into())),
            0,
        );
        assert_eq!(
            (cp.status, cp.run_at_ms, cp.last_error.as_deref()),
            (Status::Failed, None, Some("bad"))
        );
        assert_eq!(effects.len(), 1);
        let (cp, _) = run(prior(&data), 2, StepOutput::Undecodable("v9".into()), 0);
        assert_eq!((cp.status, cp.schema_version), (Status::NeedsMigration, 1));
    }

    #[test]
    fn deferred_runs_again_later_without_spending_an_attempt() {
        let data = json!({});
        let mut at_last_attempt = prior(&data);
        at_last_attempt.attempt = 2;
        let (cp, effects) = run(
            at_last_attempt,
            1,
            StepOutput::Failed(StepError::Deferred {
                reason: "budget".into(),
                until_ms: 5_000,
            }),
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
        let (cp, _) = run(prior(&data), 1, done(Transition::Wait("sent".into())), 0);
        assert_eq!((cp.status, cp.run_at_ms), (Status::Waiting, None));
        let (cp, _) = run(
            prior(&data),
            1,
            done(Transition::WaitUntil("x".into(), 99)),
            0,
        );
        assert_eq!(
            (cp.status, cp.run_at_ms, cp.keep_lease),
            (Status::Running, Some(99), false)
        );
    }
}
