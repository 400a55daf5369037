//! A settlement that did not land (its simulation or its transaction reverted, or it could
//! not be mined) may have lost a race: anyone holding the payer's signed authorization can
//! submit it first, and then the payer's funds reached us through their transaction. Such a
//! payment is paid: it confirms with the hash that moved the funds, and its children proceed.
//! An authorization the payer cancelled (`cancelAuthorization`) paid nothing: the payment
//! fails.
//!
//! An authorization nobody used yet may still be used: our reverted settlement published it
//! (a short balance can be topped up, and anyone may then submit it), so the payment is
//! final only once the chain can no longer take it. Until its `validBefore` passes, the
//! payment stays `checking` and is looked at again; then, unused, it fails.
//!
//! The search for the spending transaction is bounded: from the block at which the settlement
//! was first simulated (`checked_block`), less a margin for the time since the intake's own
//! simulation, and at most `MAX_SEARCH_BLOCKS` back from the head.
use alloy::primitives::B256;
use serde_json::json;

use uuid::Uuid;

use super::decide::{PaymentPlan, fail, paid};
use super::{PaymentData, PaymentState};
use crate::chain::authorization::{AuthorizationFate, Spending, Spent};
use crate::engine::{Step, StepError};

/// Blocks searched before `checked_block`: the authorization was unused when the payment was
/// accepted, at most this long before its first step read the head (1,000 blocks: over half an
/// hour at 2 s blocks).
const MARGIN_BLOCKS: u64 = 1_000;
/// The most blocks searched back from the head, whatever `checked_block` says (a payment whose
/// checkpoint predates it, or one that waited very long).
const MAX_SEARCH_BLOCKS: u64 = 50_000;
/// The longest wait between two looks at an authorization that can still be used (one that
/// stays valid for days is checked every ten minutes, each look a history event).
const RECHECK_MAX_MS: i64 = 10 * 60 * 1000;
/// The shortest wait: the node's clock may lag ours, so an authorization past its
/// `validBefore` by our clock may not be past it by the latest block's.
const RECHECK_MIN_MS: i64 = 5 * 1000;

/// The first block to search for the spending transaction, the head being `head`.
pub(super) fn search_from(checked_block: Option<u64>, head: u64) -> u64 {
    let floor = head.saturating_sub(MAX_SEARCH_BLOCKS);
    checked_block
        .map_or(floor, |b| b.saturating_sub(MARGIN_BLOCKS))
        .clamp(floor, head)
}

/// The settlement did not land and `fate` is what became of the authorization: what the
/// payment becomes, it being `now_ms`. A step of its own, so that what the chain says is read
/// again after a crash and acted on in one checkpoint.
pub(super) fn checked(
    workflow: Uuid,
    data: PaymentData,
    fate: &AuthorizationFate,
    confirmations: u64,
    now_ms: i64,
) -> Result<PaymentPlan, StepError> {
    match verdict(fate, &data, confirmations) {
        Verdict::Paid { tx, block } => Ok(paid(workflow, data, format!("{tx:#x}"), block as i64)),
        Verdict::Unpaid(reason) => Ok(fail(data, reason)),
        Verdict::Unknown(why) => Err(StepError::Transient(why)),
        Verdict::Usable { valid_before, why } => Err(StepError::Deferred {
            reason: why,
            until_ms: recheck_at(valid_before, now_ms),
        }),
    }
}

/// The settlement did not land, for `reason`: the next step checks whether the authorization
/// paid us anyway.
pub(super) fn unlanded(mut data: PaymentData, reason: String) -> PaymentPlan {
    let detail = json!({ "error": reason });
    data.settlement_error = Some(reason);
    Step::next(PaymentState::Checking, data).with_detail(detail)
}

/// When to look again at an authorization usable until `valid_before` (seconds), it being
/// `now` (ms): when it expires, or sooner if that is far off.
fn recheck_at(valid_before: u64, now: i64) -> i64 {
    let expiry = i64::try_from(valid_before)
        .ok()
        .and_then(|s| s.checked_mul(1000))
        .unwrap_or(i64::MAX);
    expiry.clamp(now + RECHECK_MIN_MS, now + RECHECK_MAX_MS)
}

/// What the payment becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    /// The authorization paid us in `tx`, deep enough: confirmed with it.
    Paid { tx: B256, block: u64 },
    /// Nothing paid us: the payment fails with this reason.
    Unpaid(String),
    /// Not known yet: ask again later (a transient step error).
    Unknown(String),
    /// Nobody used the authorization yet and it is valid until `valid_before` (seconds): it
    /// may still pay us, so the payment waits (a deferral, which counts no attempt).
    Usable { valid_before: u64, why: String },
}

/// Decides from what became of the authorization (`fate`) and the `confirmations` a
/// transaction needs. `data.settlement_error` says why our settlement did not land.
fn verdict(fate: &AuthorizationFate, data: &PaymentData, confirmations: u64) -> Verdict {
    let ours = data
        .settlement_error
        .as_deref()
        .unwrap_or("the settlement did not land");
    let spending = match fate {
        // Nobody used it: our settlement failed on its own (a short balance, an expiry...).
        AuthorizationFate::Unused { head_time } => {
            let valid_before = data
                .authorization
                .as_ref()
                .map_or(0, |a| u64::try_from(a.valid_before).unwrap_or(u64::MAX));
            if valid_before <= *head_time {
                return Verdict::Unpaid(ours.to_owned());
            }
            return Verdict::Usable {
                valid_before,
                why: format!(
                    "{ours}; the authorization is unused but valid until {valid_before} (unix \
                     seconds), so it may still pay: the payment stays checking until it is \
                     used, cancelled or expired"
                ),
            };
        }
        AuthorizationFate::NotFound { from, to } => {
            return Verdict::Unknown(format!(
                "{ours}; the token says the authorization is spent, but no log of it is in \
                 blocks {from} to {to} yet"
            ));
        }
        AuthorizationFate::Spent(s) => s,
    };
    let Spending {
        how,
        tx,
        block,
        depth,
    } = spending;
    match how {
        Spent::Canceled => Verdict::Unpaid(format!(
            "{ours}; the payer cancelled the authorization in {tx:#x}: nothing was paid"
        )),
        Spent::Used { .. } if *depth < confirmations => Verdict::Unknown(format!(
            "the authorization was used in {tx:#x}, {depth} blocks deep; waiting for \
             {confirmations}"
        )),
        Spent::Used { transfer } => match transfer {
            Some(t) if t.from == data.payer && t.to == data.pay_to && t.value >= data.amount => {
                Verdict::Paid {
                    tx: *tx,
                    block: *block,
                }
            }
            moved => Verdict::Unpaid(format!(
                "{ours}; the authorization was used in {tx:#x}, which did not pay {} from {:#x} \
                 to {:#x} (it moved {moved:?})",
                data.amount, data.payer, data.pay_to
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Address, U256};

    use super::*;
    use crate::chain::transfer::Transfer;
    use crate::workflows::payment::decide::tests::{self as decided, PAYER, TX, US};

    /// A payment whose settlement did not land, its authorization valid for ever.
    fn data() -> PaymentData {
        let mut data = PaymentData {
            checked_block: Some(5_000),
            settlement_error: Some("settlement reverted: AuthorizationUsedOrCanceled".into()),
            ..decided::data()
        };
        if let Some(a) = &mut data.authorization {
            a.valid_before = U256::from(u64::MAX);
        }
        data
    }

    fn spent(how: Spent, depth: u64) -> AuthorizationFate {
        AuthorizationFate::Spent(Spending {
            how,
            tx: TX,
            block: 42,
            depth,
        })
    }

    fn used(from: Address, to: Address, value: u64) -> Spent {
        Spent::Used {
            transfer: Some(Transfer {
                from,
                to,
                value: U256::from(value),
            }),
        }
    }

    #[test]
    fn a_use_that_paid_us_confirms_with_its_transaction() {
        let v = verdict(&spent(used(PAYER, US, 100), 1), &data(), 1);
        assert_eq!(v, Verdict::Paid { tx: TX, block: 42 });
    }

    #[test]
    fn a_use_waits_until_deep_enough() {
        let v = verdict(&spent(used(PAYER, US, 100), 0), &data(), 1);
        assert!(matches!(v, Verdict::Unknown(why) if why.contains("0 blocks deep")));
    }

    #[test]
    fn a_cancellation_paid_nothing() {
        let Verdict::Unpaid(why) = verdict(&spent(Spent::Canceled, 0), &data(), 1) else {
            panic!("a cancelled authorization must fail the payment");
        };
        assert!(why.contains("settlement reverted"), "{why}");
        assert!(
            why.contains("the payer cancelled the authorization"),
            "{why}"
        );
    }

    #[test]
    fn a_use_that_did_not_pay_us_the_amount_fails() {
        let other = Address::repeat_byte(3);
        for how in [
            used(PAYER, US, 99),
            used(PAYER, other, 100),
            used(other, US, 100),
            Spent::Used { transfer: None },
        ] {
            let v = verdict(&spent(how.clone(), 5), &data(), 1);
            assert!(
                matches!(&v, Verdict::Unpaid(why) if why.contains("did not pay")),
                "{how:?}: {v:?}"
            );
        }
    }

    fn valid_until(valid_before: u64) -> PaymentData {
        let mut d = data();
        if let Some(a) = d.authorization.as_mut() {
            a.valid_before = U256::from(valid_before);
        }
        d
    }

    #[test]
    fn an_expired_unused_authorization_fails_with_our_own_reason() {
        for head_time in [1_000, 1_001] {
            assert_eq!(
                verdict(
                    &AuthorizationFate::Unused { head_time },
                    &valid_until(1_000),
                    1
                ),
                Verdict::Unpaid("settlement reverted: AuthorizationUsedOrCanceled".into())
            );
        }
    }

    #[test]
    fn an_unused_authorization_still_valid_is_waited_for() {
        let fate = AuthorizationFate::Unused { head_time: 999 };
        let Verdict::Usable { valid_before, why } = verdict(&fate, &valid_until(1_000), 1) else {
            panic!("a usable authorization must keep the payment checking");
        };
        assert_eq!(valid_before, 1_000);
        assert!(why.contains("settlement reverted"), "{why}");
        // One valid "forever" (uint256 max) is waited for too, and looked at every 10 minutes.
        let forever = verdict(&fate, &data(), 1);
        assert!(matches!(
            forever,
            Verdict::Usable {
                valid_before: u64::MAX,
                ..
            }
        ));
    }

    #[test]
    fn an_usable_authorization_is_looked_at_again_at_its_expiry_within_bounds() {
        let now = 1_000_000;
        assert_eq!(recheck_at(1_100, now), 1_100_000);
        assert_eq!(recheck_at(1_000, now), now + RECHECK_MIN_MS);
        assert_eq!(recheck_at(u64::MAX, now), now + RECHECK_MAX_MS);
        assert_eq!(recheck_at(100_000, now), now + RECHECK_MAX_MS);
    }

    #[test]
    fn a_spent_authorization_without_its_log_is_asked_again() {
        let fate = AuthorizationFate::NotFound { from: 4, to: 9 };
        assert!(matches!(verdict(&fate, &data(), 1), Verdict::Unknown(_)));
    }

    #[test]
    fn the_search_starts_a_margin_before_the_simulation_and_is_bounded() {
        assert_eq!(search_from(Some(5_000), 6_000), 4_000);
        assert_eq!(search_from(Some(10), 6_000), 0);
        // Never after the head, never more than MAX_SEARCH_BLOCKS back.
        assert_eq!(search_from(Some(9_000), 6_000), 6_000);
        let head = 10 * MAX_SEARCH_BLOCKS;
        assert_eq!(search_from(None, head), head - MAX_SEARCH_BLOCKS);
        assert_eq!(search_from(Some(1), head), head - MAX_SEARCH_BLOCKS);
    }
}
