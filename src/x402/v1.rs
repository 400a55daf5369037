//! x402 v1, as the old server's buyers speak it (`x402-fetch` 1.x): the offer in the 402's JSON
//! body, the payment in `X-PAYMENT`, the settlement in `X-PAYMENT-RESPONSE`, networks by name
//! (`base`, `base-sepolia`). The wire types and the names are x402-rs's (`x402-types`,
//! `x402-chain-eip155`). A v1 payment becomes the v2 [`PaymentPayload`] that `verify` checks:
//! both versions go through one verification and one settlement.
use x402_chain_eip155::v1_eip155_exact::ExactEvmPayload;
use x402_types::chain::ChainId;
use x402_types::proto::v1;

use super::types::{
    Authorization, ExactPayload, PaymentPayload, Resource, SettlementResponse, X402_VERSION,
};
use super::verify::Offer;

pub use x402_types::proto::v1::X402Version1;

/// The body of `X-PAYMENT`: its version must be 1 and its payload an `exact` EVM one; the
/// scheme is read as any name, so that another one is refused with its reason.
pub type V1Payment = v1::PaymentPayload<String, ExactEvmPayload>;

/// One entry of a v1 402's `accepts`, amounts and addresses as strings (how the x402-rs servers
/// send it: its typed form would write the amount as hex).
pub type V1Requirements = v1::PaymentRequirements;

/// The v1 name of the EVM chain `chain_id` (`base` for 8453, `base-sepolia` for 84532), if v1
/// has one: v1 clients only pay on networks they know by name.
pub fn network_name(chain_id: u64) -> Option<&'static str> {
    ChainId::new("eip155", chain_id.to_string()).as_network_name()
}

/// The `network` of a v1 answer about a payment for `offer`: its chain's v1 name (a payment
/// that named the chain by its CAIP-2 id, the only other way `verify` lets one pass, gets that).
pub fn network(offer: &Offer) -> String {
    network_name(offer.chain_id).map_or_else(|| offer.network(), str::to_owned)
}

/// `offer` as a v1 `accepts` entry for `resource`; `None` on a chain v1 has no name for.
pub fn requirements(offer: &Offer, resource: &Resource) -> Option<V1Requirements> {
    let network = network_name(offer.chain_id)?;
    let ours = offer.requirements();
    Some(V1Requirements {
        scheme: ours.scheme,
        network: network.to_owned(),
        max_amount_required: ours.amount,
        resource: resource.url.clone(),
        description: resource.description.clone(),
        mime_type: Some(resource.mime_type.clone()),
        output_schema: None,
        pay_to: ours.pay_to,
        max_timeout_seconds: ours.max_timeout_seconds,
        asset: ours.asset,
        extra: Some(ours.extra),
    })
}

/// The v2 payload `verify` checks for a v1 payment to `offer`. A v1 payment names only its
/// scheme and network (the rest of the offer it paid is implied), so the offer it accepted is
/// ours with those two: `verify` then refuses another scheme or network with its reason, and
/// checks the authorization and its signature exactly as for v2. The version is v2's because
/// the v1 one was checked when the header was read ([`X402Version1`]).
pub fn into_v2(payment: V1Payment, offer: &Offer) -> PaymentPayload {
    // A name v1 does not know stays as it is: no chain's CAIP-2 id, so `verify` refuses it.
    let network = ChainId::from_network_name(&payment.network)
        .map_or(payment.network, |chain| chain.to_string());
    let a = payment.payload.authorization;
    PaymentPayload {
        x402_version: X402_VERSION,
        payload: ExactPayload {
            authorization: Authorization {
                from: a.from.to_string(),
                to: a.to.to_string(),
                value: a.value.to_string(),
                valid_after: a.valid_after.as_secs().to_string(),
                valid_before: a.valid_before.as_secs().to_string(),
                nonce: a.nonce.to_string(),
            },
            signature: payment.payload.signature.to_string(),
        },
        resource: None,
        accepted: super::PaymentRequirements {
            scheme: payment.scheme,
            network,
            ..offer.requirements()
        },
    }
}

/// A settlement answer in v1's words: the same fields, the network by its v1 name.
pub fn settlement(response: SettlementResponse, offer: &Offer) -> SettlementResponse {
    SettlementResponse {
        network: network(offer),
        ..response
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Address, U256};

    use super::*;
    use crate::x402::types::{decode_header, encode_header};

    fn offer_on(chain_id: u64) -> Offer {
        Offer {
            chain_id,
            asset: Address::repeat_byte(0xaa),
            asset_name: "USD Coin".into(),
            asset_version: "2".into(),
            pay_to: Address::repeat_byte(0xbb),
            amount: U256::from(1_000_000u64),
            min_validity_secs: 120,
        }
    }

    fn resource() -> Resource {
        Resource {
            url: "http://h/x402/mint".into(),
            description: "1 mint(s)".into(),
            mime_type: "application/json".into(),
        }
    }

    #[test]
    fn base_chains_have_v1_names_and_a_local_chain_has_none() {
        assert_eq!(network_name(8453), Some("base"));
        assert_eq!(network_name(84532), Some("base-sepolia"));
        assert_eq!(network_name(31337), None);
        assert_eq!(network(&offer_on(31337)), "eip155:31337");
        assert!(requirements(&offer_on(31337), &resource()).is_none());
    }

    /// What `x402-fetch` 1.x parses (its zod `PaymentRequirementsSchema`).
    #[test]
    fn the_v1_offer_is_what_x402_fetch_reads() {
        let offer = offer_on(84532);
        let json = serde_json::to_value(requirements(&offer, &resource()).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "scheme": "exact", "network": "base-sepolia", "maxAmountRequired": "1000000",
                "resource": "http://h/x402/mint", "description": "1 mint(s)",
                "mimeType": "application/json", "payTo": offer.pay_to.to_string(),
                "maxTimeoutSeconds": 150, "asset": offer.asset.to_string(),
                "extra": { "name": "USD Coin", "version": "2" },
            })
        );
    }

    /// `X-PAYMENT` as `x402-fetch` 1.x sends it becomes the v2 payload of our offer.
    #[test]
    fn a_v1_payment_reads_as_the_v2_payload_of_our_offer() {
        let offer = offer_on(84532);
        let payer = Address::repeat_byte(0x11);
        let mut sent = serde_json::json!({
            "x402Version": 1, "scheme": "exact", "network": "base-sepolia",
            "payload": {
                "signature": format!("0x{}", "ab".repeat(65)),
                "authorization": {
                    "from": payer.to_string(), "to": offer.pay_to.to_string(),
                    "value": "1000000", "validAfter": "1795319544", "validBefore": "1795320144",
                    "nonce": format!("0x{}", "07".repeat(32)),
                },
            },
        });
        let read = |sent: &serde_json::Value| decode_header::<V1Payment>(&encode_header(sent));
        let v2 = into_v2(read(&sent).unwrap(), &offer);
        assert_eq!(v2.accepted, offer.requirements());
        let a = &v2.payload.authorization;
        assert_eq!(
            (a.from.as_str(), a.value.as_str(), a.valid_before.as_str()),
            (payer.to_string().as_str(), "1000000", "1795320144")
        );

        // Its network by CAIP-2 id: the one `verify` compares with ours.
        assert_eq!(v2.accepted.network, "eip155:84532");
        sent["network"] = "moon".into();
        assert_eq!(
            into_v2(read(&sent).unwrap(), &offer).accepted.network,
            "moon"
        );
        // Another version, or a payload that is not an `exact` EVM one: not a v1 payment.
        sent["x402Version"] = 2.into();
        assert!(read(&sent).is_err());
        sent["x402Version"] = 1.into();
        sent["payload"]["authorization"]["nonce"] = "0x07".into();
        assert!(read(&sent).is_err());
    }

    /// A v1 payment signed as `x402-fetch` 1.x signs it passes the one verification; another
    /// network than ours is refused there with its reason.
    #[test]
    fn a_signed_v1_payment_passes_verify_and_a_wrong_network_is_refused() {
        use alloy::primitives::{B256, Bytes};
        use alloy::signers::SignerSync;
        use alloy::signers::local::PrivateKeySigner;
        use alloy::sol_types::SolStruct;

        use crate::x402::verify::{Reason, TransferWithAuthorization, verify};

        const NOW: u64 = 1_800_000_000;
        let offer = offer_on(84532);
        let payer = PrivateKeySigner::random();
        let message = TransferWithAuthorization {
            from: payer.address(),
            to: offer.pay_to,
            value: offer.amount,
            validAfter: U256::from(NOW - 600),
            validBefore: U256::from(NOW + offer.max_timeout_seconds()),
            nonce: B256::repeat_byte(7),
        };
        let signature = payer
            .sign_hash_sync(&message.eip712_signing_hash(&offer.domain()))
            .unwrap();
        let mut sent = serde_json::json!({
            "x402Version": 1, "scheme": "exact", "network": "base-sepolia",
            "payload": {
                "signature": Bytes::from(signature.as_bytes()).to_string(),
                "authorization": {
                    "from": payer.address().to_string(), "to": offer.pay_to.to_string(),
                    "value": offer.amount.to_string(), "validAfter": (NOW - 600).to_string(),
                    "validBefore": (NOW + offer.max_timeout_seconds()).to_string(),
                    "nonce": B256::repeat_byte(7).to_string(),
                },
            },
        });
        let checked = |sent: &serde_json::Value| {
            let payment = decode_header::<V1Payment>(&encode_header(sent)).unwrap();
            verify(&offer, &into_v2(payment, &offer), NOW)
        };
        assert_eq!(checked(&sent).unwrap().from, payer.address());
        sent["network"] = "base".into();
        assert_eq!(checked(&sent), Err(Reason::Network));
    }
}
