//! x402 facilitation (the v2 facilitator API): verifying and settling payments that other
//! resource servers take, to the payees `FACILITATOR_PAY_TO` allows (and, for a key given
//! payees of its own, to those of them only). A settled payment is an
//! ordinary `payment` workflow that buys nothing here: the authorization is its idempotency
//! key, so an authorization settles once, whoever asks again.
use alloy::primitives::Address;
use serde_json::Value as Json;
use uuid::Uuid;

use super::Context;
use super::payments::{self, Error, Settleable};
use super::x402::{self as intake, Settlement, WaitError};
use crate::chain::Chain;
use crate::workflows::payment::{self, PaymentKind, Purchase};
use crate::x402::facilitator::{Facilitation, Refusal};
use crate::x402::types::X402_VERSION;
use crate::x402::{Offer, PaymentPayload, PaymentRequirements, Reason};

/// A facilitator request as sent: `{x402Version, paymentPayload, paymentRequirements}`, the
/// two messages still JSON (a malformed one is an invalid payment, not a bad request).
#[derive(Clone, Debug)]
pub struct Request {
    pub x402_version: u32,
    pub payment_payload: Json,
    pub payment_requirements: Json,
}

/// Why a payment is not valid: `code` is the answer's `invalidReason` (or `errorReason`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
    /// Who signed it, once that is known.
    pub payer: Option<Address>,
}

impl Invalid {
    fn of(refusal: impl Into<Refusal>, payer: Option<Address>) -> Invalid {
        let refusal = refusal.into();
        Invalid {
            code: refusal.as_str(),
            message: format!("the payment is refused: {refusal}"),
            payer,
        }
    }
}

/// What this process settles for others; `NotConfigured` without USDC.
pub fn facilitation(ctx: &Context<'_>, chain: &Chain) -> Result<Facilitation, Error> {
    let c = ctx.contracts;
    Ok(Facilitation {
        chain_id: chain.chain_id(),
        asset: c.usdc.ok_or(Error::NotConfigured)?,
        asset_name: c.usdc_name.clone(),
        asset_version: c.usdc_version.clone(),
        allowed_pay_to: c.facilitator_pay_to.clone(),
        min_validity_secs: ctx.settings.get().min_authorization_validity_secs.max(0) as u64,
    })
}

/// A payment that passed every check, with the offer it pays.
struct Checked {
    offer: Offer,
    settleable: Settleable,
}

/// Checks a request from a caller limited to `payees` (`None`: every payee the server
/// allows): the messages, the requirements (`Facilitation`), the signature and window, and on
/// chain the settlement's simulation; an authorization a payment holds already is refused
/// (`invalid_exact_evm_nonce_already_used`). Nothing is written.
async fn check(
    ctx: &Context<'_>,
    chain: &Chain,
    request: &Request,
    payees: Option<&[Address]>,
) -> Result<Result<Checked, Invalid>, Error> {
    if request.x402_version != X402_VERSION {
        return Ok(Err(Invalid::of(Reason::Version, None)));
    }
    let Ok(requirements) =
        serde_json::from_value::<PaymentRequirements>(request.payment_requirements.clone())
    else {
        return Ok(Err(Invalid::of(Reason::Requirements, None)));
    };
    let Ok(payload) = serde_json::from_value::<PaymentPayload>(request.payment_payload.clone())
    else {
        return Ok(Err(Invalid::of(Reason::Payload, None)));
    };
    let payer = payload.payload.authorization.from.parse().ok();
    let facilitation = facilitation(ctx, chain)?.for_payees(payees);
    let now = payments::now_secs(ctx);
    let (offer, verified) = match facilitation.check(&requirements, &payload, now) {
        Ok(checked) => checked,
        Err(refusal) => return Ok(Err(Invalid::of(refusal, payer))),
    };
    let settleable =
        match payments::settleable(ctx, chain, offer.asset, verified, PaymentKind::X402).await {
            Ok(s) if s.reserved => return Ok(Err(Invalid::of(Reason::NonceUsed, payer))),
            Ok(s) => s,
            Err(e) => return refused(e, payer),
        };
    Ok(Ok(Checked { offer, settleable }))
}

/// A refusal the payer caused, as an invalid payment; any other error as it is.
fn refused<T>(e: Error, payer: Option<Address>) -> Result<Result<T, Invalid>, Error> {
    if let Some(reason) = e.x402_reason() {
        return Ok(Err(Invalid {
            message: e.to_string(),
            ..Invalid::of(reason, payer)
        }));
    }
    match e {
        Error::Exposure(r) => Ok(Err(Invalid {
            code: r.code(),
            message: r.to_string(),
            payer,
        })),
        e => Err(e),
    }
}

/// `POST /verify`: whether the payment would settle now for a caller limited to `payees`,
/// and who pays. Nothing is written.
pub async fn verify(
    ctx: &Context<'_>,
    chain: &Chain,
    request: &Request,
    payees: Option<&[Address]>,
) -> Result<Result<Address, Invalid>, Error> {
    Ok(check(ctx, chain, request, payees)
        .await?
        .map(|checked| checked.settleable.data.payer))
}

/// A settlement, when the wait for it ended.
#[derive(Debug)]
pub struct Settled {
    pub payment: Uuid,
    pub payer: Address,
    pub network: String,
    pub settlement: Settlement,
}

/// Why a settlement was not answered.
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error(transparent)]
    Payment(#[from] Error),
    #[error(transparent)]
    Wait(#[from] WaitError),
}

/// `POST /settle`: checks the payment as `verify` does, creates its `payment` workflow (to the
/// payee, buying nothing) and waits for its settlement as the x402 intake does (at most
/// `SETTLEMENT_WAIT_SECS`); the payment settles durably whether or not the wait sees it. An
/// authorization a payment holds already is refused: it never settles twice.
pub async fn settle(
    ctx: &Context<'_>,
    chain: &Chain,
    request: &Request,
    payees: Option<&[Address]>,
) -> Result<Result<Settled, Invalid>, SettleError> {
    let Checked { offer, settleable } = match check(ctx, chain, request, payees).await? {
        Ok(checked) => checked,
        Err(invalid) => return Ok(Err(invalid)),
    };
    let payer = settleable.data.payer;
    let created = payment::create(
        ctx.client,
        chain.chain_id(),
        &settleable.data,
        &Purchase::Nothing,
        settleable.funds,
    )
    .await
    .map_err(Error::from);
    let payment = match created {
        // Taken since `check` (a concurrent request with the same authorization).
        Ok(created) if created.existing => {
            return Ok(Err(Invalid {
                message: format!(
                    "this payment was already made (payment {})",
                    created.payment
                ),
                ..Invalid::of(Reason::NonceUsed, Some(payer))
            }));
        }
        Ok(created) => created.payment,
        Err(e) => return Ok(refused(e, Some(payer))?),
    };
    let settlement = intake::settlement(ctx, &offer, payment).await?;
    Ok(Ok(Settled {
        payment,
        payer,
        network: offer.network(),
        settlement,
    }))
}
