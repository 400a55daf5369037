//! Paid token deployments: a signed authorization pays `DEPLOY_PRICE`, and the deployment
//! starts once its payment confirms. One deployment per key: the same key again answers the
//! first one without paying again.
use sea_orm::DbErr;
use uuid::Uuid;

use super::Context;
use super::payments;
use crate::chain::Chain;
use crate::store::entity::workflow;
use crate::store::mints;
use crate::store::workflows as rows;
use crate::workflows::deployment::{DEPLOYMENT, DeploymentData};
use crate::workflows::payment::exposure::Funds;
use crate::workflows::payment::{self, Created, PaymentData, PaymentKind, Purchase};
use crate::x402::{Offer, PaymentPayload};

/// Why a deployment was not taken. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Payment(#[from] payments::Error),
    /// The authorization made a payment for mints already.
    #[error("this authorization paid for something else")]
    PaidForSomethingElse,
}

/// A deployment row with its checkpoint data.
#[derive(Clone, Debug)]
pub struct Deployment {
    pub row: workflow::Model,
    /// `None` when the row's data does not read as a deployment's.
    pub data: Option<DeploymentData>,
}

/// The deployment a request made, or found under its key.
#[derive(Clone, Copy, Debug)]
pub struct Deployed {
    pub id: Uuid,
    /// The key was used before: this is the first deployment, paid for then.
    pub existing: bool,
}

/// Deploys `token` under `key`, paid by the signed authorization `payload` for `offer`.
pub async fn deploy(
    ctx: &Context<'_>,
    chain: &Chain,
    offer: &Offer,
    payload: &PaymentPayload,
    token: DeploymentData,
    key: String,
) -> Result<Deployed, Error> {
    let first = mints::find_by_keys(ctx.db, DEPLOYMENT, std::slice::from_ref(&key))
        .await
        .map_err(payments::Error::from)?;
    if let Some(first) = first.into_iter().next() {
        return Ok(Deployed {
            id: first.id,
            existing: true,
        });
    }
    let (paid, funds) =
        payments::authorized(ctx, chain, offer, payload, PaymentKind::Gasless).await?;
    let created = place(ctx, chain, paid, funds, token, key).await?;
    match created.children.first() {
        Some(&id) => Ok(Deployed {
            id,
            existing: created.existing,
        }),
        None => Err(Error::PaidForSomethingElse),
    }
}

/// Creates the payment `paid` with the deployment of `token` it buys, under `key`.
pub async fn place(
    ctx: &Context<'_>,
    chain: &Chain,
    paid: PaymentData,
    funds: Funds,
    token: DeploymentData,
    key: String,
) -> Result<Created, payments::Error> {
    let purchase = Purchase::Deployment(token, key);
    Ok(payment::create(ctx.client, chain.chain_id(), &paid, &purchase, funds).await?)
}

/// The deployment `id`, `None` when there is no deployment of that id.
pub async fn find(ctx: &Context<'_>, id: Uuid) -> Result<Option<Deployment>, DbErr> {
    Ok(rows::find(ctx.db, id)
        .await?
        .filter(|w| w.kind == DEPLOYMENT)
        .map(|row| Deployment {
            data: serde_json::from_value(row.data.clone()).ok(),
            row,
        }))
}
