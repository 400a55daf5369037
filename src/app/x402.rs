//! x402 intake: a `PAYMENT-SIGNATURE` pays once, for mints or for a deployment, and the
//! payment is created with what it buys.
use uuid::Uuid;

use super::payments::{self, Error, Order};
use super::{Context, deployments};
use crate::chain::Chain;
use crate::workflows::deployment::{DeploymentData, deployment_key};
use crate::workflows::payment::PaymentKind;
use crate::x402::{Offer, PaymentPayload};

/// What an x402 payment buys.
pub enum Buy {
    Mints(Order),
    Deployment(DeploymentData),
}

/// A payment made now, with what it bought.
#[derive(Clone, Debug)]
pub struct Placed {
    pub payment: Uuid,
    pub mint_ids: Vec<Uuid>,
    pub deployment_id: Option<Uuid>,
}

/// Made now, or paid once already.
#[derive(Clone, Debug)]
pub enum Paid {
    Placed(Placed),
    /// The same `PAYMENT-SIGNATURE` made this payment before: it pays once, for the first
    /// request.
    Replayed(Uuid),
}

/// Verifies `payload` for `offer` and creates the payment with what it buys. Nothing is
/// written for a refused payment.
pub async fn pay(
    ctx: &Context<'_>,
    chain: &Chain,
    offer: &Offer,
    payload: &PaymentPayload,
    buy: Buy,
) -> Result<Paid, Error> {
    let (data, funds) = payments::authorized(ctx, chain, offer, payload, PaymentKind::X402).await?;
    let (created, bought_mints) = match buy {
        Buy::Mints(order) => (payments::place(ctx, chain, data, funds, order).await?, true),
        Buy::Deployment(token) => {
            // One deployment per payment: the authorization is its key.
            let nonce = &payload.payload.authorization.nonce;
            let key = deployment_key(token.owner, &token.name, &token.symbol, nonce);
            let created = deployments::place(ctx, chain, data, funds, token, key).await?;
            (created, false)
        }
    };
    if created.existing {
        return Ok(Paid::Replayed(created.payment));
    }
    let (mint_ids, deployment_id) = if bought_mints {
        (created.children, None)
    } else {
        (Vec::new(), created.children.first().copied())
    };
    Ok(Paid::Placed(Placed {
        payment: created.payment,
        mint_ids,
        deployment_id,
    }))
}
