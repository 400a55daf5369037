//! A payment's receipt in the permanent ledger (`store::receipts`): what it reserves, written
//! with the payment (its settlement is recorded by `writes::Write::RecordSettlement`).
use uuid::Uuid;

use super::PaymentData;
use crate::chain::signer::address_key;
use crate::store::receipts::Receipt;

/// What can pay only once on a chain and asset, whatever the payment's kind: the EIP-3009
/// authorization (`from:nonce`, the token's own replay key), or the custom transfer's hash.
pub fn reservation_key(data: &PaymentData) -> String {
    match (&data.authorization, data.transfer_tx) {
        (Some(a), _) => format!("{:#x}:{:#x}", data.payer, a.nonce),
        (None, Some(tx)) => format!("{tx:#x}"),
        (None, None) => unreachable!("a payment has an authorization or a transfer"),
    }
}

/// The receipt of `payment`, before its settlement.
pub fn of(data: &PaymentData, chain_id: u64, payment: Uuid, now_ms: i64) -> Receipt {
    Receipt {
        payment_id: payment,
        chain_id: chain_id as i64,
        asset: address_key(data.asset),
        kind: data.kind.as_str().to_owned(),
        reservation_key: reservation_key(data),
        payer: address_key(data.payer),
        amount: data.amount.to_string(),
        tx_hash: None,
        block: None,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Address, B256, Bytes, U256};

    use super::*;
    use crate::workflows::payment::{PaymentKind, SignedAuthorization};

    fn data(kind: PaymentKind, authorization: bool) -> PaymentData {
        let (asset, payer, pay_to) = (
            Address::repeat_byte(0xAA),
            Address::repeat_byte(0xBB),
            Address::repeat_byte(0xCC),
        );
        PaymentData {
            authorization: authorization.then(|| SignedAuthorization {
                valid_after: U256::ZERO,
                valid_before: U256::from(1),
                nonce: B256::repeat_byte(0x11),
                signature: Bytes::new(),
            }),
            transfer_tx: (!authorization).then(|| B256::repeat_byte(0x22)),
            ..PaymentData::new(kind, asset, payer, pay_to, U256::from(10u128.pow(30)))
        }
    }

    #[test]
    fn an_authorization_is_reserved_whatever_the_kind_that_paid_it() {
        let x402 = reservation_key(&data(PaymentKind::X402, true));
        assert_eq!(x402, reservation_key(&data(PaymentKind::Gasless, true)));
        assert_eq!(x402, format!("0x{}:0x{}", "bb".repeat(20), "11".repeat(32)));
    }

    #[test]
    fn a_kind_is_stored_under_its_serde_name() {
        for kind in [PaymentKind::X402, PaymentKind::Gasless, PaymentKind::Custom] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }

    #[test]
    fn a_transfer_is_reserved_by_its_hash() {
        let custom = data(PaymentKind::Custom, false);
        assert_eq!(reservation_key(&custom), format!("0x{}", "22".repeat(32)));
    }

    #[test]
    fn a_receipt_holds_lowercase_addresses_and_a_decimal_amount() {
        let id = Uuid::now_v7();
        let r = of(&data(PaymentKind::Gasless, true), 31337, id, 5);
        assert_eq!(
            (r.payment_id, r.chain_id, r.kind.as_str()),
            (id, 31337, "gasless")
        );
        assert_eq!(r.asset, format!("0x{}", "aa".repeat(20)));
        assert_eq!(r.payer, format!("0x{}", "bb".repeat(20)));
        assert_eq!(r.amount, format!("1{}", "0".repeat(30)));
        assert_eq!((r.tx_hash, r.block), (None, None));
        assert_eq!((r.created_at_ms, r.updated_at_ms), (5, 5));
    }
}
