//! What the workflows that send transactions share about the pipeline's answers.
use crate::chain::budget::OverBudget;
use crate::engine::workflow::StepError;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deferral_counts_no_attempt_and_says_why() {
        let refused = OverBudget {
            spent: 10,
            needed: 1,
            budget: 10,
            retry_at_ms: 5_000,
        };
        let StepError::Deferred { reason, until_ms } = StepError::from(refused) else {
            panic!("deferred");
        };
        assert_eq!(until_ms, 5_000);
        assert!(reason.contains("max_gas_spend_wei_per_hour"), "{reason}");
    }
}
