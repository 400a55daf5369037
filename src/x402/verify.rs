//! The seller's offer and the checks on a signed payment (X402 v2 `exact` on EVM): the chosen
//! offer is ours, the authorization pays exactly our price to us, it is valid now and long
//! enough to settle, and its EIP-712 signature is the payer's. What needs the chain (nonce
//! unused, balance, simulation) and the database (the nonce reserved once) comes after.
use alloy::primitives::{Address, B256, Bytes, Signature, U256};
use alloy::sol_types::{Eip712Domain, SolStruct};
use serde_json::json;

use super::types::{PaymentPayload, PaymentRequired, PaymentRequirements, Resource, X402_VERSION};

alloy::sol! {
    /// EIP-3009's signed message.
    #[derive(Debug)]
    struct TransferWithAuthorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }
}

/// The least `min_authorization_validity_secs` may be: the x402 spec's margin.
pub const MIN_VALIDITY_SECS: u64 = 6;

/// What our offers' `maxTimeoutSeconds` adds to the validity an authorization needs: a client
/// signs for `maxTimeoutSeconds` from its clock (the official one does), and this much may pass
/// (signing, the request's trip, clock skew) before we check it.
pub const SIGNING_LEEWAY_SECS: u64 = 30;

/// How long a paid request waits for its settlement at most before it is answered 202 (the
/// HTTP edge gives paid requests this much more time); never longer than the offer's
/// `maxTimeoutSeconds`.
pub const SETTLEMENT_WAIT_SECS: u64 = 60;

/// What the seller asks for one resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    pub chain_id: u64,
    /// The EIP-3009 token (USDC).
    pub asset: Address,
    /// The asset's EIP-712 domain name and version (`USD Coin`, `2`).
    pub asset_name: String,
    pub asset_version: String,
    pub pay_to: Address,
    /// In the asset's base units.
    pub amount: U256,
    /// Seconds an authorization must still be valid when it is accepted (the hot
    /// `min_authorization_validity_secs`), so that its settlement can land, fee bumps included.
    pub min_validity_secs: u64,
}

impl Offer {
    /// The offer's `maxTimeoutSeconds`, derived from `min_validity_secs`: an authorization
    /// signed for this long is still valid long enough when it arrives.
    pub fn max_timeout_seconds(&self) -> u64 {
        self.min_validity_secs + SIGNING_LEEWAY_SECS
    }

    pub fn network(&self) -> String {
        format!("eip155:{}", self.chain_id)
    }

    /// The `accepts` entry of this offer.
    pub fn requirements(&self) -> PaymentRequirements {
        PaymentRequirements {
            scheme: "exact".into(),
            network: self.network(),
            amount: self.amount.to_string(),
            asset: self.asset.to_string(),
            pay_to: self.pay_to.to_string(),
            max_timeout_seconds: self.max_timeout_seconds(),
            extra: json!({ "name": self.asset_name, "version": self.asset_version }),
        }
    }

    /// The body of a 402 for `resource`.
    pub fn payment_required(&self, resource: Resource, error: &str) -> PaymentRequired {
        PaymentRequired {
            x402_version: X402_VERSION,
            error: Some(error.to_owned()),
            resource,
            accepts: vec![self.requirements()],
        }
    }

    /// The asset's EIP-712 domain, which payers sign against.
    pub fn domain(&self) -> Eip712Domain {
        Eip712Domain::new(
            Some(self.asset_name.clone().into()),
            Some(self.asset_version.clone().into()),
            Some(U256::from(self.chain_id)),
            Some(self.asset),
            None,
        )
    }
}

/// Why a payment is refused: the x402 `errorReason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Version,
    Scheme,
    Network,
    /// The `accepted` offer is not one the server makes.
    Requirements,
    Payload,
    Recipient,
    Value,
    NotYetValid,
    Expired,
    /// Valid now, but not for `min_authorization_validity_secs` more (mintflow's own code).
    ValidityTooShort,
    Signature,
    NonceUsed,
    InsufficientBalance,
    /// The settlement's simulation reverts for another reason.
    Simulation,
}

impl Reason {
    /// The code, as `errorReason` and the error body's `code` carry it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Version => "invalid_x402_version",
            Reason::Scheme => "unsupported_scheme",
            Reason::Network => "invalid_network",
            Reason::Requirements => "invalid_payment_requirements",
            Reason::Payload => "invalid_payload",
            Reason::Recipient => "invalid_exact_evm_payload_recipient_mismatch",
            Reason::Value => "invalid_exact_evm_payload_authorization_value",
            Reason::NotYetValid => "invalid_exact_evm_payload_authorization_valid_after",
            Reason::Expired => "invalid_exact_evm_payload_authorization_valid_before",
            Reason::ValidityTooShort => "authorization_validity_too_short",
            Reason::Signature => "invalid_exact_evm_payload_signature",
            Reason::NonceUsed => "invalid_exact_evm_nonce_already_used",
            Reason::InsufficientBalance => "invalid_exact_evm_insufficient_balance",
            Reason::Simulation => "invalid_transaction_state",
        }
    }

    pub fn code(self) -> String {
        self.as_str().to_owned()
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for Reason {}

/// A payment that passed every check that needs neither the chain nor the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub from: Address,
    pub to: Address,
    pub value: U256,
    pub valid_after: U256,
    pub valid_before: U256,
    pub nonce: B256,
    pub signature: Bytes,
}

/// Checks `payload` against `offer` at unix time `now_secs`.
pub fn verify(offer: &Offer, payload: &PaymentPayload, now_secs: u64) -> Result<Verified, Reason> {
    verify_for(offer, &offer.requirements(), payload, now_secs)
}

/// Checks `payload` against `requirements` (what the client accepted must be them), paid as
/// `offer` says: its asset, payee, amount and validity. A facilitator checks a resource
/// server's requirements this way; its own offer's are `offer.requirements()` (`verify`).
pub fn verify_for(
    offer: &Offer,
    requirements: &PaymentRequirements,
    payload: &PaymentPayload,
    now_secs: u64,
) -> Result<Verified, Reason> {
    if payload.x402_version != X402_VERSION {
        return Err(Reason::Version);
    }
    let accepted = &payload.accepted;
    if accepted.scheme != "exact" {
        return Err(Reason::Scheme);
    }
    if accepted.network != offer.network() {
        return Err(Reason::Network);
    }
    if !same_requirements(accepted, requirements) {
        return Err(Reason::Requirements);
    }
    let a = &payload.payload.authorization;
    let address = |s: &str| s.parse::<Address>().map_err(|_| Reason::Payload);
    let number = |s: &str| U256::from_str_radix(s, 10).map_err(|_| Reason::Payload);
    let verified = Verified {
        from: address(&a.from)?,
        to: address(&a.to)?,
        value: number(&a.value)?,
        valid_after: number(&a.valid_after)?,
        valid_before: number(&a.valid_before)?,
        nonce: a.nonce.parse().map_err(|_| Reason::Payload)?,
        signature: payload
            .payload
            .signature
            .parse()
            .map_err(|_| Reason::Payload)?,
    };
    if verified.to != offer.pay_to {
        return Err(Reason::Recipient);
    }
    if verified.value != offer.amount {
        return Err(Reason::Value);
    }
    if verified.valid_after > U256::from(now_secs) {
        return Err(Reason::NotYetValid);
    }
    if verified.valid_before <= U256::from(now_secs) {
        return Err(Reason::Expired);
    }
    if verified.valid_before < U256::from(now_secs + offer.min_validity_secs) {
        return Err(Reason::ValidityTooShort);
    }
    let signature = Signature::from_raw(&verified.signature).map_err(|_| Reason::Signature)?;
    let message = TransferWithAuthorization {
        from: verified.from,
        to: verified.to,
        value: verified.value,
        validAfter: verified.valid_after,
        validBefore: verified.valid_before,
        nonce: verified.nonce,
    };
    let digest = message.eip712_signing_hash(&offer.domain());
    match signature.recover_address_from_prehash(&digest) {
        Ok(signer) if signer == verified.from => Ok(verified),
        _ => Err(Reason::Signature),
    }
}

/// The chosen offer equals ours: addresses compared case-insensitively, `extra` as JSON.
fn same_requirements(a: &PaymentRequirements, ours: &PaymentRequirements) -> bool {
    a.scheme == ours.scheme
        && a.network == ours.network
        && a.amount == ours.amount
        && a.asset.eq_ignore_ascii_case(&ours.asset)
        && a.pay_to.eq_ignore_ascii_case(&ours.pay_to)
        && a.max_timeout_seconds == ours.max_timeout_seconds
        && a.extra == ours.extra
}

#[cfg(test)]
mod tests {
    use alloy::signers::SignerSync;
    use alloy::signers::local::PrivateKeySigner;

    use super::*;
    use crate::x402::types::{Authorization, ExactPayload};

    const NOW: u64 = 1_800_000_000;

    fn offer_to(pay_to: Address) -> Offer {
        Offer {
            chain_id: 31337,
            asset: Address::repeat_byte(0xaa),
            asset_name: "USD Coin".into(),
            asset_version: "2".into(),
            pay_to,
            amount: U256::from(1_000_000u64),
            min_validity_secs: 120,
        }
    }

    /// A payload signed by `payer` the way a wallet signs it.
    fn signed(
        offer: &Offer,
        payer: &PrivateKeySigner,
        value: u64,
        valid_before: u64,
    ) -> PaymentPayload {
        let nonce = B256::repeat_byte(7);
        let message = TransferWithAuthorization {
            from: payer.address(),
            to: offer.pay_to,
            value: U256::from(value),
            validAfter: U256::ZERO,
            validBefore: U256::from(valid_before),
            nonce,
        };
        let sig = payer
            .sign_hash_sync(&message.eip712_signing_hash(&offer.domain()))
            .unwrap();
        PaymentPayload {
            x402_version: 2,
            payload: ExactPayload {
                authorization: Authorization {
                    from: payer.address().to_string(),
                    to: offer.pay_to.to_string(),
                    value: value.to_string(),
                    valid_after: "0".into(),
                    valid_before: valid_before.to_string(),
                    nonce: nonce.to_string(),
                },
                signature: Bytes::from(sig.as_bytes()).to_string(),
            },
            resource: None,
            accepted: offer.requirements(),
        }
    }

    #[test]
    fn a_good_payment_passes_and_each_flaw_has_its_reason() {
        let payer = PrivateKeySigner::random();
        let offer = offer_to(Address::repeat_byte(0xbb));
        let good = signed(&offer, &payer, 1_000_000, NOW + 150);
        let v = verify(&offer, &good, NOW).unwrap();
        assert_eq!(
            (v.from, v.value),
            (payer.address(), U256::from(1_000_000u64))
        );

        let wrong_amount = signed(&offer, &payer, 999_999, NOW + 150);
        assert_eq!(verify(&offer, &wrong_amount, NOW), Err(Reason::Value));
        assert_eq!(
            verify(&offer, &signed(&offer, &payer, 1_000_000, NOW), NOW),
            Err(Reason::Expired)
        );
        assert_eq!(
            verify(&offer, &signed(&offer, &payer, 1_000_000, NOW + 119), NOW),
            Err(Reason::ValidityTooShort)
        );
        assert!(verify(&offer, &signed(&offer, &payer, 1_000_000, NOW + 120), NOW).is_ok());
        let mut early = good.clone();
        early.payload.authorization.valid_after = (NOW + 100).to_string();
        assert_eq!(verify(&offer, &early, NOW), Err(Reason::NotYetValid));

        let mut forged = good.clone();
        forged.payload.authorization.value = "2000000".into();
        forged.accepted.amount = "2000000".into();
        assert_eq!(verify(&offer, &forged, NOW), Err(Reason::Requirements));

        let other_seller = offer_to(Address::repeat_byte(0xcc));
        let mut to_other = signed(&other_seller, &payer, 1_000_000, NOW + 150);
        to_other.accepted = offer.requirements();
        assert_eq!(verify(&offer, &to_other, NOW), Err(Reason::Recipient));

        let mut wrong_chain = good.clone();
        wrong_chain.accepted.network = "eip155:1".into();
        assert_eq!(verify(&offer, &wrong_chain, NOW), Err(Reason::Network));

        let mut bad_sig = good.clone();
        bad_sig.payload.authorization.from = PrivateKeySigner::random().address().to_string();
        assert_eq!(verify(&offer, &bad_sig, NOW), Err(Reason::Signature));

        let mut garbage = good;
        garbage.payload.signature = "0xzz".into();
        assert_eq!(verify(&offer, &garbage, NOW), Err(Reason::Payload));
    }

    #[test]
    fn a_client_signing_for_max_timeout_seconds_passes_within_the_leeway() {
        let payer = PrivateKeySigner::random();
        let mut offer = offer_to(Address::repeat_byte(0xbb));
        for floor in [MIN_VALIDITY_SECS, 120, 3600] {
            offer.min_validity_secs = floor;
            let max_timeout = offer.requirements().max_timeout_seconds;
            assert_eq!(max_timeout, floor + SIGNING_LEEWAY_SECS);
            let payload = signed(&offer, &payer, 1_000_000, NOW + max_timeout);
            assert!(verify(&offer, &payload, NOW + SIGNING_LEEWAY_SECS).is_ok());
            assert_eq!(
                verify(&offer, &payload, NOW + SIGNING_LEEWAY_SECS + 1),
                Err(Reason::ValidityTooShort)
            );
        }
    }
}
