//! The step every workflow that sends a transaction shares (`mint_batch`, `payment`,
//! `deployment`): simulate the call, submit it under a key, wait for the pipeline to make it
//! final, read the outcome; and one policy for what the chain refuses. `ChainStep` is the
//! executor's half (it asks the chain); `answer` and `on_error` are the decision's half, pure,
//! so each kind's `decide` is too.
use serde_json::{Value as Json, json};
use uuid::Uuid;

use super::writes::{Plan, into_step};
use crate::chain::budget::OverBudget;
use crate::chain::{Call, Chain, ChainError, Submitted, TxOutcome};
use crate::config::Settings;
use crate::engine::workflow::StepError;
use crate::engine::{Step, StepCtx, Workflow};

#[cfg(test)]
mod tests;

/// How long a step waits when every signer has its cap of open transactions: about a block,
/// the time in which one of them usually confirms and makes room.
pub const PIPELINE_FULL_WAIT_MS: i64 = 1_000;

/// What the chain said to a simulation or a submit, once its errors went through the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer<T> {
    /// It goes through: the gas it needs, or the transaction submitted.
    Goes(T),
    /// It would revert, for this reason; nothing was signed. What that means is the kind's
    /// decision (fail, bisect, look for a front-runner).
    Reverts(String),
}

/// When a decision is made, and how long a local fault waits: what the error policy needs
/// besides the error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    pub now_ms: i64,
    /// How long a fault of this process's own key or configuration waits before the step runs
    /// again (the `retry_max_delay_ms` setting).
    pub local_fault_wait_ms: i64,
}

impl Retry {
    pub fn new(settings: &Settings, now_ms: i64) -> Retry {
        Retry {
            now_ms,
            local_fault_wait_ms: settings.retry_max_delay_ms,
        }
    }
}

/// The one policy for a chain call that failed without a revert:
/// - the gas budget is reached: wait until it allows (`OverBudget`), counting no attempt;
/// - the key cannot sign, or the node runs another chain: a fault of this process's own
///   configuration, which the record's owner cannot cure and an operator fixes; the step waits
///   `local_fault_wait_ms` and runs again, counting no attempt, so a financial record never
///   fails for it and the work resumes by itself once the configuration is fixed;
/// - every signer's pipeline is full (backpressure): this process's own capacity, not the
///   record's fault; the step waits `PIPELINE_FULL_WAIT_MS` and runs again, counting no
///   attempt, so a sustained load never fails a payment it accepted;
/// - anything else (the node or the database unavailable, the signer short of gas money):
///   transient, retried with the engine's backoff and counted against the kind's attempts (a
///   payment the engine gives up on cancels its mints until an operator retries it).
pub fn on_error(e: ChainError, retry: Retry) -> StepError {
    match e {
        ChainError::OverBudget(wait) => wait.into(),
        ChainError::Backpressure(_) => StepError::Deferred {
            reason: format!("{e}; waiting for room in the transaction pipeline"),
            until_ms: retry.now_ms.saturating_add(PIPELINE_FULL_WAIT_MS),
        },
        ChainError::Signing(_) | ChainError::WrongChain { .. } => StepError::Deferred {
            reason: format!("{e}; a local key or configuration fault: waiting for it to be fixed"),
            until_ms: retry.now_ms.saturating_add(retry.local_fault_wait_ms),
        },
        e => StepError::Transient(e.to_string()),
    }
}

/// A simulation's or a submit's result: what went through or reverted, or the policy's error.
pub fn answer<T>(result: Result<T, ChainError>, retry: Retry) -> Result<Answer<T>, StepError> {
    match result {
        Ok(t) => Ok(Answer::Goes(t)),
        Err(ChainError::Reverted(reason)) => Ok(Answer::Reverts(reason)),
        Err(e) => Err(on_error(e, retry)),
    }
}

/// What a kind's `decide` is given besides its state and data: whose step it is, when, and
/// what the executor observed (`O`, the kind's own enum of chain answers).
#[derive(Debug)]
pub struct Seen<O> {
    pub workflow: Uuid,
    pub retry: Retry,
    pub observed: O,
}

/// A kind's pure decision over what its step observed.
pub type Decide<K> = fn(
    <K as Workflow>::State,
    <K as Workflow>::Data,
    Seen<<K as ChainKind>::Observed>,
) -> Result<Plan<<K as Workflow>::State, <K as Workflow>::Data>, StepError>;

/// A kind that sends transactions, as the step they share (`step`) sees it: what it asks the
/// chain in a state, and its pure decision.
pub trait ChainKind: Workflow<State: Copy> {
    /// The kind's own enum of chain answers.
    type Observed;

    /// The kind's `decide`.
    const DECIDE: Decide<Self>;

    /// Asks the chain what `state` needs to decide.
    fn observe(
        &self,
        ctx: &StepCtx,
        state: Self::State,
        data: &Self::Data,
        retry: Retry,
    ) -> impl Future<Output = Result<Self::Observed, StepError>> + Send;
}

/// The step of every kind that sends transactions: observe what the state needs (with the
/// time the error policy waits from), decide, and hand the plan's writes to the engine.
pub async fn step<K: ChainKind>(
    kind: &K,
    ctx: &StepCtx,
    state: K::State,
    data: K::Data,
) -> Result<Step<K::State, K::Data>, StepError> {
    let retry = Retry::new(&ctx.settings, ctx.clock.now_ms());
    let observed = kind.observe(ctx, state, &data, retry).await?;
    let seen = Seen {
        workflow: ctx.workflow_id,
        retry,
        observed,
    };
    Ok(into_step(K::DECIDE(state, data, seen)?))
}

/// What a step records when its transaction was submitted: its id and hash.
pub fn sent_detail(submitted: &Submitted) -> Json {
    json!({ "tx_id": submitted.id, "tx_hash": submitted.hash })
}

/// The executor's half: the chain calls a workflow's step makes, on its behalf.
pub struct ChainStep<'a> {
    pub chain: &'a Chain,
    /// The workflow woken when its transaction is final.
    pub owner: Uuid,
}

impl ChainStep<'_> {
    /// Simulates `call`: whether it would go through, or why it reverts.
    pub async fn simulate(&self, call: &Call) -> Result<(), ChainError> {
        self.chain.simulate(call).await
    }

    /// Submits `call` under the idempotency `key` (the same key, the same transaction).
    pub async fn submit(
        &self,
        key: String,
        purpose: &str,
        call: Call,
    ) -> Result<Submitted, ChainError> {
        self.chain.submit_for(self.owner, key, purpose, call).await
    }

    /// Where the transaction `tx_id` the step sent is. A workflow waiting for a transaction
    /// it has no record of cannot go on.
    pub async fn outcome(&self, tx_id: Option<Uuid>) -> Result<TxOutcome, StepError> {
        let tx_id = tx_id.ok_or_else(|| {
            StepError::Permanent(format!("workflow {} sent no transaction", self.owner))
        })?;
        Ok(self.chain.outcome(tx_id).await?)
    }
}

/// A workflow whose transaction the budget refused runs the same step again later, without
/// spending one of its attempts: waiting for the budget never fails it.
impl From<OverBudget> for StepError {
    fn from(e: OverBudget) -> Self {
        StepError::Deferred {
            reason: e.to_string(),
            until_ms: e.retry_at_ms,
        }
    }
}
