//! The contract between the engine and a kind of workflow: a typed state machine whose `step`
//! says what comes next. The engine persists the answer; the kind never touches leases,
//! versions or history.
use std::any::{Any, TypeId};
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value as Json;
use uuid::Uuid;

use crate::config::Settings;
use crate::store::time::Clock;

/// What a step decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition<S> {
    /// Go to `S` and run its step now.
    Next(S),
    /// Go to `S` and run its step at this time (unix ms): a durable timer.
    WaitUntil(S, i64),
    /// Go to `S` and park until something wakes the workflow (`Client::wake`).
    Wait(S),
    /// Finished successfully in `S`.
    Complete(S),
    /// Finished unsuccessfully in `S`, for this reason (kept in history and `last_error`).
    Fail(S, String),
}

impl<S> Transition<S> {
    pub fn state(&self) -> &S {
        match self {
            Transition::Next(s)
            | Transition::WaitUntil(s, _)
            | Transition::Wait(s)
            | Transition::Complete(s)
            | Transition::Fail(s, _) => s,
        }
    }

    fn map_state<T>(self, f: impl FnOnce(S) -> T) -> Transition<T> {
        match self {
            Transition::Next(s) => Transition::Next(f(s)),
            Transition::WaitUntil(s, at) => Transition::WaitUntil(f(s), at),
            Transition::Wait(s) => Transition::Wait(f(s)),
            Transition::Complete(s) => Transition::Complete(f(s)),
            Transition::Fail(s, why) => Transition::Fail(f(s), why),
        }
    }
}

/// A kind of database write that commits with steps' checkpoints. A group commit hands every
/// write of one type it carries to one `apply_all`, so the writes of hundreds of checkpoints
/// cost a few statements instead of a few per checkpoint (a lock held meanwhile on every row of
/// the group).
pub trait Writes: Any + Send + Sync {
    /// Applies `writes` (in the order their checkpoints were queued) as `ctx` says. It may run
    /// more than once (a group commit that fails is retried checkpoint by checkpoint), inside a
    /// transaction that is rolled back each time but the last.
    fn apply_all<'a>(ctx: WriteCtx<'a>, writes: Vec<&'a Self>) -> Writing<'a>
    where
        Self: Sized;
}

/// Where and as whom a group commit applies its writes.
#[derive(Clone, Copy)]
pub struct WriteCtx<'a> {
    pub txn: &'a DatabaseTransaction,
    /// The worker whose steps wrote the checkpoints, for the history.
    pub worker: &'a str,
    /// The commit's time.
    pub now: i64,
}

/// What `Writes::apply_all` returns.
pub type Writing<'a> = BoxFuture<'a, Result<(), DbErr>>;

/// A database write that must commit atomically with the step's checkpoint, and only if the
/// checkpoint's fence holds: one value of a `Writes` type.
#[derive(Clone)]
pub struct Effect {
    write: Arc<dyn Any + Send + Sync>,
    apply: ApplyAll,
}

/// `Writes::apply_all` of the effect's type, taking the writes as `Any`.
type ApplyAll = for<'a> fn(WriteCtx<'a>, &[&'a (dyn Any + Send + Sync)]) -> Writing<'a>;

impl Effect {
    pub fn new<W: Writes>(write: W) -> Effect {
        Effect {
            write: Arc::new(write),
            apply: apply_as::<W>,
        }
    }
}

fn apply_as<'a, W: Writes>(
    ctx: WriteCtx<'a>,
    writes: &[&'a (dyn Any + Send + Sync)],
) -> Writing<'a> {
    let typed = writes
        .iter()
        .map(|w| w.downcast_ref::<W>().expect("effects are grouped by type"))
        .collect();
    W::apply_all(ctx, typed)
}

/// Runs `effects` in `txn`: every effect of one type in one `apply_all`, the types in the order
/// they first appear.
pub(crate) async fn apply_effects<'a>(
    ctx: WriteCtx<'a>,
    effects: impl IntoIterator<Item = &'a Effect>,
) -> Result<(), DbErr> {
    let mut groups: Vec<(TypeId, ApplyAll, Vec<&'a (dyn Any + Send + Sync)>)> = Vec::new();
    for effect in effects {
        let write: &'a (dyn Any + Send + Sync) = &*effect.write;
        let kind = write.type_id();
        match groups.iter_mut().find(|(k, _, _)| *k == kind) {
            Some((_, _, writes)) => writes.push(write),
            None => groups.push((kind, effect.apply, vec![write])),
        }
    }
    for (_, apply, writes) in groups {
        apply(ctx, &writes).await?;
    }
    Ok(())
}

/// The outcome of a step: the transition, the new checkpoint data, and what to persist with it.
/// A kind's pure decision may name its writes as data (`E`, its own enum, which tests compare)
/// and turn them into `Effect`s once, with `map_effects`; the engine runs `Effect`s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step<S, D, E = Effect> {
    pub transition: Transition<S>,
    pub data: D,
    pub effects: Vec<E>,
    /// Extra facts for the history event (a tx hash, a batch id...).
    pub detail: Option<Json>,
}

impl<S, D, E> Step<S, D, E> {
    pub fn new(transition: Transition<S>, data: D) -> Self {
        Step {
            transition,
            data,
            effects: Vec::new(),
            detail: None,
        }
    }

    pub fn next(state: S, data: D) -> Self {
        Step::new(Transition::Next(state), data)
    }

    pub fn complete(state: S, data: D) -> Self {
        Step::new(Transition::Complete(state), data)
    }

    /// Adds a write that commits with the checkpoint.
    pub fn with_effect(mut self, effect: E) -> Self {
        self.effects.push(effect);
        self
    }

    pub fn with_detail(mut self, detail: Json) -> Self {
        self.detail = Some(detail);
        self
    }

    /// The same step with each write turned into another form (a kind's write enum into the
    /// engine's `Effect`).
    pub fn map_effects<F>(self, f: impl FnMut(E) -> F) -> Step<S, D, F> {
        Step {
            transition: self.transition,
            data: self.data,
            effects: self.effects.into_iter().map(f).collect(),
            detail: self.detail,
        }
    }
}

/// Why a step did not produce a transition.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// Worth retrying later (RPC down, lock timeout): retried with backoff up to the limit.
    #[error("transient: {0}")]
    Transient(String),
    /// Retrying cannot help (invalid input, revert): the workflow fails with this reason.
    #[error("permanent: {0}")]
    Permanent(String),
    /// Not now, by policy (the signer's gas spend budget is reached): the same state runs again
    /// at `until_ms`. Counts no attempt, so waiting never fails the workflow.
    #[error("deferred: {reason}")]
    Deferred { reason: String, until_ms: i64 },
}

impl From<DbErr> for StepError {
    /// The database's words go to the log only: they can name hosts or stored values, and
    /// this text is kept in `last_error` and the history.
    fn from(e: DbErr) -> Self {
        StepError::Transient(crate::telemetry::redact::database("workflow step", &e).to_string())
    }
}

/// What a step may look at.
pub struct StepCtx {
    pub workflow_id: Uuid,
    /// 0 on the first try of this state, then the number of transient failures so far.
    pub attempt: i32,
    pub worker_id: Arc<str>,
    pub db: DatabaseConnection,
    pub settings: Settings,
    /// The engine's clock: the time a step decides by and its writes are stamped with.
    pub clock: Clock,
}

/// A kind of workflow. Implement it in one file under `workflows/` and register it.
pub trait Workflow: Send + Sync + 'static {
    /// The domain states; serialized as strings (use `#[serde(rename_all = "snake_case")]`).
    type State: Serialize + DeserializeOwned + Clone + Debug + PartialEq + Send + Sync;
    /// The typed checkpoint data.
    type Data: Serialize + DeserializeOwned + Send + Sync;

    const KIND: &'static str;
    /// Bump when `Data` changes shape, and teach `upcast` the old shape.
    const SCHEMA_VERSION: i32 = 1;

    /// Converts checkpoint data written at `from_version` to `SCHEMA_VERSION`; `None` when
    /// that version is unknown, which parks the workflow as `needs_migration`.
    fn upcast(&self, _from_version: i32, _data: Json) -> Option<Json> {
        None
    }

    /// Attempts per state before transient errors fail the workflow; `None` uses the
    /// `retry_max_attempts` setting.
    fn max_attempts(&self) -> Option<u32> {
        None
    }

    fn step(
        &self,
        ctx: &StepCtx,
        state: Self::State,
        data: Self::Data,
    ) -> impl Future<Output = Result<Step<Self::State, Self::Data>, StepError>> + Send;
}

/// The name a state is stored under.
pub fn state_name<S: Serialize>(state: &S) -> String {
    match serde_json::to_value(state) {
        Ok(Json::String(s)) => s,
        other => panic!("workflow states must serialize to strings, got {other:?}"),
    }
}

/// A step's outcome with the kind's types erased, as the engine handles it.
pub(crate) enum StepOutput {
    Done {
        transition: Transition<String>,
        data: Json,
        effects: Vec<Effect>,
        detail: Option<Json>,
    },
    Failed(StepError),
    /// The stored checkpoint cannot be read by this code.
    Undecodable(String),
}

/// Object-safe view of a `Workflow`, so one registry holds every kind.
pub(crate) trait DynWorkflow: Send + Sync {
    fn schema_version(&self) -> i32;
    fn max_attempts(&self) -> Option<u32>;
    fn run<'a>(
        &'a self,
        ctx: &'a StepCtx,
        state: &'a str,
        data: Json,
        stored_version: i32,
    ) -> BoxFuture<'a, StepOutput>;
}

impl<W: Workflow> DynWorkflow for W {
    fn schema_version(&self) -> i32 {
        W::SCHEMA_VERSION
    }

    fn max_attempts(&self) -> Option<u32> {
        Workflow::max_attempts(self)
    }

    fn run<'a>(
        &'a self,
        ctx: &'a StepCtx,
        state: &'a str,
        data: Json,
        stored_version: i32,
    ) -> BoxFuture<'a, StepOutput> {
        Box::pin(async move {
            let data = match stored_version {
                v if v == W::SCHEMA_VERSION => data,
                v if v < W::SCHEMA_VERSION => match self.upcast(v, data) {
                    Some(d) => d,
                    None => {
                        return StepOutput::Undecodable(format!(
                            "no upcaster from schema version {v} to {}",
                            W::SCHEMA_VERSION
                        ));
                    }
                },
                v => {
                    return StepOutput::Undecodable(format!(
                        "schema version {v} is newer than this build's {}",
                        W::SCHEMA_VERSION
                    ));
                }
            };
            let state: W::State = match serde_json::from_value(Json::String(state.to_owned())) {
                Ok(s) => s,
                Err(e) => return StepOutput::Undecodable(format!("unknown state `{state}`: {e}")),
            };
            let data: W::Data = match serde_json::from_value(data) {
                Ok(d) => d,
                Err(e) => return StepOutput::Undecodable(format!("checkpoint data: {e}")),
            };
            match self.step(ctx, state, data).await {
                Ok(step) => StepOutput::Done {
                    transition: step.transition.map_state(|s| state_name(&s)),
                    data: serde_json::to_value(&step.data).expect("checkpoint data serializes"),
                    effects: step.effects,
                    detail: step.detail,
                },
                Err(e) => StepOutput::Failed(e),
            }
        })
    }
}
