//! A deployment's decisions, pure: from its state, its data and what the executor observed of
//! the chain, what comes next and what to write.
use alloy::primitives::Address;
use serde_json::json;

use super::{DeploymentData, DeploymentState};
use crate::chain::{ChainError, Submitted, TxOutcome};
use crate::engine::{Step, StepError, Transition};
use crate::workflows::chain_step::{Answer, Seen, answer, sent_detail};
use crate::workflows::writes::{Plan, Write};

/// What the executor asked the chain for the state.
#[derive(Debug)]
pub enum Observed {
    /// The state needs nothing of the chain.
    Nothing,
    /// `pending`: the deployment's simulation.
    Simulation(Result<(), ChainError>),
    /// `processing`: the submit's answer.
    Submit(Result<Submitted, ChainError>),
    /// `sent`: where the transaction is, on chain `chain_id`.
    Outcome { outcome: TxOutcome, chain_id: u64 },
}

type DeploymentPlan = Plan<DeploymentState, DeploymentData>;

/// What a deployment does next. A revert, simulated or mined, fails it (the request is what
/// reverts: a new one is needed); the chain's other refusals follow `chain_step::on_error`.
pub fn decide(
    state: DeploymentState,
    mut data: DeploymentData,
    seen: Seen<Observed>,
) -> Result<DeploymentPlan, StepError> {
    match (state, seen.observed) {
        (DeploymentState::AwaitingPayment, _) => Ok(Step::new(Transition::Wait(state), data)),
        (DeploymentState::Pending, Observed::Simulation(simulated)) => {
            Ok(match answer(simulated, seen.retry)? {
                Answer::Goes(_) => Step::next(DeploymentState::Processing, data),
                Answer::Reverts(why) => fail(data, why),
            })
        }
        (DeploymentState::Processing, Observed::Submit(submitted)) => {
            Ok(match answer(submitted, seen.retry)? {
                Answer::Goes(submitted) => {
                    data.tx_hash = submitted.hash.clone();
                    data.tx_id = Some(submitted.id);
                    Step::new(Transition::Wait(DeploymentState::Sent), data)
                        .with_detail(sent_detail(&submitted))
                }
                Answer::Reverts(why) => fail(data, why),
            })
        }
        (DeploymentState::Sent, Observed::Outcome { outcome, chain_id }) => match outcome {
            TxOutcome::Pending { .. } => Ok(Step::new(Transition::Wait(state), data)),
            TxOutcome::Confirmed {
                hash,
                block,
                contract_address,
                ..
            } => {
                let address: Address = contract_address
                    .as_deref()
                    .and_then(|a| a.parse().ok())
                    .ok_or_else(|| {
                        StepError::Permanent("confirmed without a contract address".into())
                    })?;
                data.tx_hash = Some(hash.clone());
                data.block = Some(block);
                data.address = Some(address);
                let register = Write::RegisterToken {
                    chain_id,
                    token: data.clone(),
                    address,
                };
                let detail = json!({ "address": address, "tx_hash": hash, "block": block });
                Ok(Step::complete(DeploymentState::Confirmed, data)
                    .with_effect(register)
                    .with_detail(detail))
            }
            TxOutcome::Reverted { reason, .. } => {
                Ok(fail(data, format!("deployment reverted: {reason}")))
            }
            TxOutcome::Failed { reason } => {
                Ok(fail(data, format!("deployment could not land: {reason}")))
            }
        },
        (DeploymentState::Confirmed | DeploymentState::Cancelled, _) => {
            Ok(Step::complete(state, data))
        }
        (DeploymentState::Failed, _) => Err(StepError::Permanent(
            "a failed deployment is not retried; request a new one".into(),
        )),
        (state, observed) => Err(StepError::Permanent(format!(
            "a deployment in {state:?} cannot act on {observed:?}"
        ))),
    }
}

fn fail(data: DeploymentData, reason: String) -> DeploymentPlan {
    Step::new(Transition::Fail(DeploymentState::Failed, reason), data)
}

#[cfg(test)]
mod tests {
    use alloy::primitives::U256;
    use uuid::Uuid;

    use super::*;
    use crate::chain::error::Redacted;
    use crate::workflows::chain_step::Retry;

    const TOKEN: Address = Address::repeat_byte(0x7E);

    fn data() -> DeploymentData {
        DeploymentData {
            name: "Token".into(),
            symbol: "TOK".into(),
            amount_per_mint: U256::from(1),
            max_supply: U256::from(100),
            owner: Address::repeat_byte(1),
            tx_id: None,
            tx_hash: None,
            block: None,
            address: None,
        }
    }

    fn seen(observed: Observed) -> Seen<Observed> {
        Seen {
            workflow: Uuid::nil(),
            retry: Retry {
                now_ms: 1_000,
                local_fault_wait_ms: 60_000,
            },
            observed,
        }
    }

    fn outcome(outcome: TxOutcome) -> Observed {
        Observed::Outcome {
            outcome,
            chain_id: 31337,
        }
    }

    fn confirmed(contract_address: Option<String>) -> TxOutcome {
        TxOutcome::Confirmed {
            hash: "0xabc".into(),
            block: 7,
            gas_used: 1,
            contract_address,
        }
    }

    fn submitted() -> Submitted {
        Submitted {
            id: Uuid::from_u128(5),
            hash: Some("0xabc".into()),
        }
    }

    fn failed(reason: &str) -> Result<DeploymentPlan, StepError> {
        Ok(fail(data(), reason.into()))
    }

    #[test]
    fn every_state_and_answer() {
        use DeploymentState::*;
        let deployed = DeploymentData {
            tx_hash: Some("0xabc".into()),
            block: Some(7),
            address: Some(TOKEN),
            ..data()
        };
        let sent = DeploymentData {
            tx_id: Some(Uuid::from_u128(5)),
            tx_hash: Some("0xabc".into()),
            ..data()
        };
        let table: Vec<(
            &str,
            DeploymentState,
            Observed,
            Result<DeploymentPlan, StepError>,
        )> = vec![
            (
                "unpaid: parked",
                AwaitingPayment,
                Observed::Nothing,
                Ok(Step::new(Transition::Wait(AwaitingPayment), data())),
            ),
            (
                "simulates: submit it",
                Pending,
                Observed::Simulation(Ok(())),
                Ok(Step::next(Processing, data())),
            ),
            (
                "the simulation reverts: fails",
                Pending,
                Observed::Simulation(Err(ChainError::Reverted("Nope()".into()))),
                failed("Nope()"),
            ),
            (
                "the node is down: transient",
                Pending,
                Observed::Simulation(Err(ChainError::Rpc(Redacted::RpcUnavailable))),
                Err(StepError::Transient(
                    ChainError::Rpc(Redacted::RpcUnavailable).to_string(),
                )),
            ),
            (
                "submitted: waits for the sender",
                Processing,
                Observed::Submit(Ok(submitted())),
                Ok(Step::new(Transition::Wait(Sent), sent.clone())
                    .with_detail(sent_detail(&submitted()))),
            ),
            (
                "the submit reverts: fails",
                Processing,
                Observed::Submit(Err(ChainError::Reverted("Nope()".into()))),
                failed("Nope()"),
            ),
            (
                "not final yet: waits",
                Sent,
                outcome(TxOutcome::Pending {
                    status: "sent".into(),
                }),
                Ok(Step::new(Transition::Wait(Sent), data())),
            ),
            (
                "confirmed: registers the token",
                Sent,
                outcome(confirmed(Some(format!("{TOKEN:#x}")))),
                Ok(Step::complete(Confirmed, deployed.clone())
                    .with_effect(Write::RegisterToken {
                        chain_id: 31337,
                        token: deployed.clone(),
                        address: TOKEN,
                    })
                    .with_detail(json!({ "address": TOKEN, "tx_hash": "0xabc", "block": 7 }))),
            ),
            (
                "confirmed without an address: cannot register",
                Sent,
                outcome(confirmed(None)),
                Err(StepError::Permanent(
                    "confirmed without a contract address".into(),
                )),
            ),
            (
                "reverted on chain: fails",
                Sent,
                outcome(TxOutcome::Reverted {
                    hash: "0xabc".into(),
                    reason: "Nope()".into(),
                }),
                failed("deployment reverted: Nope()"),
            ),
            (
                "could not land: fails",
                Sent,
                outcome(TxOutcome::Failed {
                    reason: "nonce taken".into(),
                }),
                failed("deployment could not land: nonce taken"),
            ),
            (
                "done",
                Confirmed,
                Observed::Nothing,
                Ok(Step::complete(Confirmed, data())),
            ),
            (
                "cancelled with its payment",
                Cancelled,
                Observed::Nothing,
                Ok(Step::complete(Cancelled, data())),
            ),
            (
                "a failed deployment is not retried",
                Failed,
                Observed::Nothing,
                Err(StepError::Permanent(
                    "a failed deployment is not retried; request a new one".into(),
                )),
            ),
        ];
        for (case, state, observed, expected) in table {
            assert_eq!(decide(state, data(), seen(observed)), expected, "{case}");
        }
    }

    #[test]
    fn a_signing_error_waits_for_the_key_and_never_fails_the_deployment() {
        for state in [DeploymentState::Pending, DeploymentState::Processing] {
            let observed = match state {
                DeploymentState::Pending => {
                    Observed::Simulation(Err(ChainError::Signing("no key".into())))
                }
                _ => Observed::Submit(Err(ChainError::Signing("no key".into()))),
            };
            let got = decide(state, data(), seen(observed));
            assert!(
                matches!(
                    got,
                    Err(StepError::Deferred {
                        until_ms: 61_000,
                        ..
                    })
                ),
                "{state:?}: {got:?}"
            );
        }
    }
}
