//! A settlement batch's decisions: every item's event maps to its payment's outcome.
use alloy::primitives::{Address, B256, Bytes, U256};

use super::*;
use crate::workflows::chain_step::Retry;
use crate::workflows::payment::SignedAuthorization;
use crate::workflows::settlement_batch::SettlementItem;

const BATCH: Uuid = Uuid::from_u128(1);
const RETRY: Retry = Retry {
    now_ms: 1_000,
    local_fault_wait_ms: 60_000,
};

fn item(n: u8) -> SettlementItem {
    SettlementItem {
        payment: Uuid::from_u128(100 + n as u128),
        from: Address::repeat_byte(n),
        to: Address::repeat_byte(0xee),
        value: U256::from(1),
        authorization: SignedAuthorization {
            valid_after: U256::ZERO,
            valid_before: U256::MAX,
            nonce: B256::repeat_byte(n),
            signature: Bytes::new(),
        },
    }
}

fn batch() -> SettlementData {
    SettlementData {
        tx_id: Some(Uuid::from_u128(9)),
        ..SettlementData::new(
            Address::repeat_byte(0xaa),
            Address::repeat_byte(0xbb),
            vec![item(1), item(2), item(3), item(4)],
        )
    }
}

fn event(n: u8, result: Result<(), &str>) -> ItemEvent {
    ItemEvent {
        from: Address::repeat_byte(n),
        nonce: B256::repeat_byte(n),
        result: result.map_err(str::to_owned),
    }
}

fn seen(observed: Observed) -> Seen<Observed> {
    Seen {
        workflow: BATCH,
        retry: RETRY,
        observed,
    }
}

#[test]
fn each_item_gets_its_own_event_and_a_missing_event_fails_alone() {
    let events = vec![
        event(1, Ok(())),
        event(2, Err("AuthorizationExpired()")),
        event(3, Ok(())),
    ];
    let plan = decide(
        SettlementState::Sent,
        batch(),
        seen(Observed::Settled {
            hash: "0xh".into(),
            block: 7,
            gas_used: 100,
            events,
        }),
    )
    .unwrap();
    assert_eq!(
        plan.transition,
        Transition::Complete(SettlementState::Confirmed)
    );
    assert_eq!(plan.data.block, Some(7));
    let settled = BatchOutcome::Settled {
        hash: "0xh".into(),
        block: 7,
    };
    let failed = |reason: &str| BatchOutcome::Failed {
        reason: reason.into(),
    };
    let hand = |payments: Vec<SettlementItem>, outcome| Write::HandOutcome {
        batch: BATCH,
        payments: payments.iter().map(|i| i.payment).collect(),
        outcome,
    };
    assert_eq!(
        plan.effects,
        vec![
            hand(vec![item(1), item(3)], settled),
            hand(
                vec![item(4)],
                failed("the settlement batch 0xh reported nothing for it")
            ),
            hand(
                vec![item(2)],
                failed("the settlement failed in batch 0xh: AuthorizationExpired()")
            ),
        ]
    );
}

#[test]
fn a_batch_that_does_not_land_hands_every_payment_the_reason() {
    let plan = decide(
        SettlementState::Sent,
        batch(),
        seen(Observed::Outcome(TxOutcome::Failed {
            reason: "dropped".into(),
        })),
    )
    .unwrap();
    let reason = "settlement could not land: dropped".to_owned();
    assert_eq!(
        plan.transition,
        Transition::Fail(SettlementState::Failed, reason.clone())
    );
    assert_eq!(
        plan.effects,
        vec![Write::HandOutcome {
            batch: BATCH,
            payments: batch().items.iter().map(|i| i.payment).collect(),
            outcome: BatchOutcome::Failed { reason },
        }]
    );
}

#[test]
fn a_pending_transaction_keeps_the_batch_waiting() {
    let plan = decide(
        SettlementState::Sent,
        batch(),
        seen(Observed::Outcome(TxOutcome::Pending {
            status: "sent".into(),
        })),
    )
    .unwrap();
    assert_eq!(plan.transition, Transition::Wait(SettlementState::Sent));
    assert!(plan.effects.is_empty());
}
