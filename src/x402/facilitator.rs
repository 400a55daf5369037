//! mintflow as an x402 facilitator for other resource servers: which of their payment
//! requirements it settles (its chain, its USDC, a payee on the allow-list), and the checks of
//! a payment against them. Pure: the chain (nonce unused, simulation) and the database (the
//! authorization reserved once) are the app's.
use alloy::primitives::{Address, U256};

use super::types::{PaymentPayload, PaymentRequirements};
use super::verify::{Offer, Reason, Verified, verify_for};

/// What this process settles for others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facilitation {
    pub chain_id: u64,
    /// The only asset settled: this process's USDC, and its EIP-712 domain.
    pub asset: Address,
    pub asset_name: String,
    pub asset_version: String,
    /// The payees (`payTo`) settled for (`FACILITATOR_PAY_TO`, narrowed to the caller's own
    /// by `for_payees`).
    pub allowed_pay_to: Vec<Address>,
    /// As for our own offers: the hot `min_authorization_validity_secs`.
    pub min_validity_secs: u64,
}

/// Why a facilitated payment is not valid: an x402 reason, or one of the facilitator's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Protocol(Reason),
    /// The requirements pay someone `FACILITATOR_PAY_TO`, or the caller's key, does not name.
    PayToNotAllowed,
    /// The requirements ask for another asset than this chain's USDC (or another EIP-712
    /// domain for it).
    UnsupportedAsset,
}

impl Refusal {
    /// The `invalidReason` (or `errorReason`) it is answered with.
    pub const fn as_str(self) -> &'static str {
        match self {
            Refusal::Protocol(reason) => reason.as_str(),
            Refusal::PayToNotAllowed => "pay_to_not_allowed",
            Refusal::UnsupportedAsset => "unsupported_asset",
        }
    }
}

impl From<Reason> for Refusal {
    fn from(reason: Reason) -> Self {
        Refusal::Protocol(reason)
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Facilitation {
    /// What a caller limited to `payees` (a key's own, `None` for no limit) may settle: the
    /// payees both lists name. A key never widens the server's list.
    pub fn for_payees(mut self, payees: Option<&[Address]>) -> Facilitation {
        if let Some(payees) = payees {
            self.allowed_pay_to.retain(|a| payees.contains(a));
        }
        self
    }

    /// The CAIP-2 network settled on (`eip155:<chainId>`), as `/supported` lists it.
    pub fn network(&self) -> String {
        format!("eip155:{}", self.chain_id)
    }

    /// The offer `requirements` make, if this facilitator settles it: `exact` on this chain,
    /// in its USDC (the same EIP-712 domain when `extra` names one), to an allowed payee.
    pub fn offer(&self, requirements: &PaymentRequirements) -> Result<Offer, Refusal> {
        if requirements.scheme != "exact" {
            return Err(Reason::Scheme.into());
        }
        if requirements.network != self.network() {
            return Err(Reason::Network.into());
        }
        let asset = requirements.asset.parse::<Address>();
        let domain_is_ours = ["name", "version"]
            .into_iter()
            .zip([&self.asset_name, &self.asset_version])
            .all(|(field, ours)| {
                requirements
                    .extra
                    .get(field)
                    .is_none_or(|v| v.as_str() == Some(ours))
            });
        if asset != Ok(self.asset) || !domain_is_ours {
            return Err(Refusal::UnsupportedAsset);
        }
        let pay_to = requirements
            .pay_to
            .parse::<Address>()
            .map_err(|_| Reason::Requirements)?;
        if !self.allowed_pay_to.contains(&pay_to) {
            return Err(Refusal::PayToNotAllowed);
        }
        let amount =
            U256::from_str_radix(&requirements.amount, 10).map_err(|_| Reason::Requirements)?;
        Ok(Offer {
            chain_id: self.chain_id,
            asset: self.asset,
            asset_name: self.asset_name.clone(),
            asset_version: self.asset_version.clone(),
            pay_to,
            amount,
            min_validity_secs: self.min_validity_secs,
        })
    }

    /// Checks `payload` against the resource server's `requirements` at unix time `now_secs`.
    pub fn check(
        &self,
        requirements: &PaymentRequirements,
        payload: &PaymentPayload,
        now_secs: u64,
    ) -> Result<(Offer, Verified), Refusal> {
        let offer = self.offer(requirements)?;
        let verified = verify_for(&offer, requirements, payload, now_secs)?;
        Ok((offer, verified))
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::B256;
    use alloy::signers::SignerSync;
    use alloy::signers::local::PrivateKeySigner;
    use alloy::sol_types::SolStruct;
    use serde_json::json;

    use super::*;
    use crate::x402::types::{Authorization, ExactPayload};
    use crate::x402::verify::TransferWithAuthorization;

    const NOW: u64 = 1_800_000_000;

    fn facilitation() -> Facilitation {
        Facilitation {
            chain_id: 31337,
            asset: Address::repeat_byte(0xaa),
            asset_name: "USD Coin".into(),
            asset_version: "2".into(),
            allowed_pay_to: vec![Address::repeat_byte(0xbb)],
            min_validity_secs: 120,
        }
    }

    /// A resource server's requirements: 0.25 USDC to `pay_to`, valid for 300 s.
    fn requirements(pay_to: Address) -> PaymentRequirements {
        PaymentRequirements {
            scheme: "exact".into(),
            network: "eip155:31337".into(),
            amount: "250000".into(),
            asset: Address::repeat_byte(0xaa).to_string(),
            pay_to: pay_to.to_string(),
            max_timeout_seconds: 300,
            extra: json!({ "name": "USD Coin", "version": "2" }),
        }
    }

    fn paid(f: &Facilitation, requirements: &PaymentRequirements) -> PaymentPayload {
        let payer = PrivateKeySigner::random();
        let pay_to: Address = requirements.pay_to.parse().unwrap();
        // The asset's domain, whoever is paid.
        let domain = f
            .offer(&self::requirements(f.allowed_pay_to[0]))
            .unwrap()
            .domain();
        let message = TransferWithAuthorization {
            from: payer.address(),
            to: pay_to,
            value: U256::from(250_000u64),
            validAfter: U256::ZERO,
            validBefore: U256::from(NOW + 300),
            nonce: B256::repeat_byte(9),
        };
        let signature = payer
            .sign_hash_sync(&message.eip712_signing_hash(&domain))
            .unwrap();
        PaymentPayload {
            x402_version: 2,
            payload: ExactPayload {
                authorization: Authorization {
                    from: payer.address().to_string(),
                    to: requirements.pay_to.clone(),
                    value: "250000".into(),
                    valid_after: "0".into(),
                    valid_before: (NOW + 300).to_string(),
                    nonce: B256::repeat_byte(9).to_string(),
                },
                signature: alloy::primitives::Bytes::from(signature.as_bytes()).to_string(),
            },
            resource: None,
            accepted: requirements.clone(),
        }
    }

    #[test]
    fn settles_an_allowed_payee_in_its_usdc_only() {
        let f = facilitation();
        let ours = requirements(Address::repeat_byte(0xbb));
        let (offer, verified) = f.check(&ours, &paid(&f, &ours), NOW).unwrap();
        assert_eq!(offer.amount, U256::from(250_000u64));
        assert_eq!(verified.to, Address::repeat_byte(0xbb));

        let elsewhere = requirements(Address::repeat_byte(0xcc));
        assert_eq!(
            f.check(&elsewhere, &paid(&f, &elsewhere), NOW),
            Err(Refusal::PayToNotAllowed)
        );
        let mut other_asset = ours.clone();
        other_asset.asset = Address::repeat_byte(0xdd).to_string();
        assert_eq!(f.offer(&other_asset), Err(Refusal::UnsupportedAsset));
        let mut other_domain = ours.clone();
        other_domain.extra = json!({ "name": "Fake", "version": "2" });
        assert_eq!(f.offer(&other_domain), Err(Refusal::UnsupportedAsset));
        let mut other_chain = ours.clone();
        other_chain.network = "eip155:1".into();
        assert_eq!(f.offer(&other_chain), Err(Reason::Network.into()));
    }

    #[test]
    fn a_key_with_payees_settles_for_those_the_server_allows_too() {
        let [server, shop, other] = [0xbb, 0xcc, 0xee].map(Address::repeat_byte);
        let mut f = facilitation();
        f.allowed_pay_to = vec![server, shop];
        assert_eq!(
            f.clone().for_payees(None).allowed_pay_to,
            vec![server, shop]
        );
        let only_shop = f.clone().for_payees(Some(&[shop, other]));
        assert_eq!(only_shop.allowed_pay_to, vec![shop]);
        let to_server = requirements(server);
        assert_eq!(
            only_shop.check(&to_server, &paid(&only_shop, &to_server), NOW),
            Err(Refusal::PayToNotAllowed)
        );
        assert!(f.for_payees(Some(&[other])).allowed_pay_to.is_empty());
    }

    #[test]
    fn the_payment_must_have_accepted_the_requirements_it_is_checked_against() {
        let f = facilitation();
        let ours = requirements(Address::repeat_byte(0xbb));
        let payload = paid(&f, &ours);
        let mut cheaper = ours.clone();
        cheaper.amount = "1".into();
        assert_eq!(
            f.check(&cheaper, &payload, NOW),
            Err(Reason::Requirements.into())
        );
        assert_eq!(
            f.check(&ours, &payload, NOW + 250).map(|_| ()),
            Err(Reason::ValidityTooShort.into())
        );
    }
}
