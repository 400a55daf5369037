//! The one error policy, for every refusal the chain can answer a step with.
use alloy::primitives::{Address, U256};

use super::*;
use crate::chain::error::Redacted;

const RETRY: Retry = Retry {
    now_ms: 1_000,
    local_fault_wait_ms: 300_000,
};

fn over_budget() -> OverBudget {
    OverBudget {
        spent: 10,
        needed: 1,
        budget: 10,
        retry_at_ms: 5_000,
    }
}

/// What the policy makes of an error: `Deferred` until when, or the kind of error.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    DeferredUntil(i64),
    Transient,
    Permanent,
}

fn verdict_of(e: StepError) -> Verdict {
    match e {
        StepError::Deferred { until_ms, .. } => Verdict::DeferredUntil(until_ms),
        StepError::Transient(_) => Verdict::Transient,
        StepError::Permanent(_) => Verdict::Permanent,
    }
}

fn verdict(e: ChainError) -> Verdict {
    verdict_of(on_error(e, RETRY))
}

#[test]
fn every_refusal_has_one_policy_and_none_is_permanent() {
    let table: Vec<(&str, ChainError, Verdict)> = vec![
        (
            "over budget: until the budget allows",
            ChainError::OverBudget(over_budget()),
            Verdict::DeferredUntil(5_000),
        ),
        (
            "signing: a local fault, waits without counting attempts",
            ChainError::Signing("no key".into()),
            Verdict::DeferredUntil(301_000),
        ),
        (
            "wrong chain: a local fault",
            ChainError::WrongChain {
                expected: 1,
                actual: 2,
            },
            Verdict::DeferredUntil(301_000),
        ),
        (
            "node unavailable",
            ChainError::Rpc(Redacted::RpcUnavailable),
            Verdict::Transient,
        ),
        (
            "node error",
            ChainError::Rpc(Redacted::RpcError),
            Verdict::Transient,
        ),
        (
            "backpressure: our own capacity, waits without counting attempts",
            ChainError::Backpressure(9),
            Verdict::DeferredUntil(1_000 + PIPELINE_FULL_WAIT_MS),
        ),
        (
            "the signer is short of gas money",
            ChainError::InsufficientFunds {
                signer: Address::ZERO,
                balance: U256::ZERO,
                needed: U256::from(1),
            },
            Verdict::Transient,
        ),
        (
            "our own words",
            ChainError::Failed("no latest block".into()),
            Verdict::Transient,
        ),
    ];
    for (case, error, expected) in table {
        assert_eq!(verdict(error), expected, "{case}");
    }
}

#[test]
fn a_local_fault_says_why_it_waits() {
    let StepError::Deferred { reason, .. } = on_error(ChainError::Signing("no key".into()), RETRY)
    else {
        panic!("deferred");
    };
    assert!(reason.contains("signing failed: no key"), "{reason}");
    assert!(reason.contains("configuration"), "{reason}");
}

#[test]
fn the_deferral_counts_no_attempt_and_says_why() {
    let StepError::Deferred { reason, until_ms } = StepError::from(over_budget()) else {
        panic!("deferred");
    };
    assert_eq!(until_ms, 5_000);
    assert!(reason.contains("max_gas_spend_wei_per_hour"), "{reason}");
}

/// A chain answer, and what the policy makes of it.
type AnswerRow = (Result<u64, ChainError>, Result<Answer<u64>, Verdict>);

#[test]
fn a_revert_is_an_answer_not_an_error() {
    let table: Vec<AnswerRow> = vec![
        (Ok(21_000), Ok(Answer::Goes(21_000))),
        (
            Err(ChainError::Reverted("Nope()".into())),
            Ok(Answer::Reverts("Nope()".into())),
        ),
        (
            Err(ChainError::Rpc(Redacted::RpcUnavailable)),
            Err(Verdict::Transient),
        ),
        (
            Err(ChainError::Signing("x".into())),
            Err(Verdict::DeferredUntil(301_000)),
        ),
    ];
    for (result, expected) in table {
        assert_eq!(answer(result, RETRY).map_err(verdict_of), expected);
    }
}
