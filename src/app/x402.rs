//! x402 intake: a `PAYMENT-SIGNATURE` pays once, for mints or for a deployment, and the
//! payment is created with what it buys.
use std::time::Duration;

use sea_orm::DbErr;
use tokio::time::{Instant, sleep};
use uuid::Uuid;

use super::payments::shown::{self, Payment};
use super::payments::{self, Error, Order};
use super::{Context, deployments};
use crate::chain::Chain;
use crate::store::workflows::Status;
use crate::workflows::deployment::{DeploymentData, deployment_key};
use crate::workflows::payment::{PaymentKind, PaymentState};
use crate::x402::{Offer, PaymentPayload, SETTLEMENT_WAIT_SECS};

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

/// A placed payment when the wait for its settlement ended, and how it ended.
#[derive(Clone, Debug)]
pub struct Settlement {
    pub payment: Payment,
    pub outcome: Outcome,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Confirmed,
    /// Refused on chain, or given up: the payer is answered as refused.
    Failed,
    /// Neither within the wait: the payment goes on without the request.
    Unsettled,
}

/// Why the wait for a settlement stopped without an answer.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("no payment {0}")]
    NotFound(Uuid),
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// How often the wait reads the payment: it has no per-request notification, and one indexed
/// row read per 100 ms costs little.
const POLL: Duration = Duration::from_millis(100);

/// Waits for the settlement of `payment`, made for `offer`: at most `SETTLEMENT_WAIT_SECS`,
/// and never longer than the offer's `maxTimeoutSeconds` (the client stops waiting then).
pub async fn settlement(
    ctx: &Context<'_>,
    offer: &Offer,
    payment: Uuid,
) -> Result<Settlement, WaitError> {
    let wait = SETTLEMENT_WAIT_SECS.min(offer.max_timeout_seconds());
    let deadline = Instant::now() + Duration::from_secs(wait);
    loop {
        let payment = shown::find(ctx, payment)
            .await?
            .ok_or(WaitError::NotFound(payment))?;
        match outcome(&payment) {
            Outcome::Unsettled if Instant::now() < deadline => sleep(POLL).await,
            outcome => return Ok(Settlement { payment, outcome }),
        }
    }
}

/// How the payment's settlement ended, as its shown status says: `confirmed` is final
/// whatever the engine did after; the engine failing it, or its own `failed` state, is a
/// failure unless an operator cancelled it (a cancelled payment is answered as unsettled once
/// the wait ends); anything else is under way.
fn outcome(p: &Payment) -> Outcome {
    let state = PaymentState::parse(&p.row.state);
    if state == Some(PaymentState::Confirmed) {
        return Outcome::Confirmed;
    }
    match Status::parse(&p.row.status) {
        Some(Status::Failed) => Outcome::Failed,
        Some(Status::Cancelled) => Outcome::Unsettled,
        _ if state == Some(PaymentState::Failed) => Outcome::Failed,
        _ => Outcome::Unsettled,
    }
}
