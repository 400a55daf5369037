//! Paid token deployments: a signed authorization pays `DEPLOY_PRICE`, and the deployment
//! starts once its payment confirms. One deployment per key: the same key again answers the
//! first one without paying again.
use sea_orm::DbErr;
use uuid::Uuid;

use super::Context;
use super::address::{self, InvalidAddress};
use super::payments;
use super::tokens::{InvalidSupply, check_supply};
use super::units::{self, InvalidNumber};
use crate::chain::Chain;
use crate::store::entity::workflow;
use crate::store::mints;
use crate::store::workflows as rows;
use crate::workflows::deployment::{DEPLOYMENT, DeploymentData, deployment_key};
use crate::workflows::payment::exposure::Funds;
use crate::workflows::payment::{self, Created, PaymentData, PaymentKind, Purchase};
use crate::x402::{Offer, PaymentPayload};

/// Why a deployment was not taken. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Payment(#[from] payments::Error),
    /// The authorization made a payment before that holds no deployment now: one for mints,
    /// or one whose deployment was archived after it failed.
    #[error(
        "this authorization made payment {0} before, which holds no deployment: it paid for \
         mints, or its deployment failed and was archived"
    )]
    PaidForSomethingElse(Uuid),
}

/// A token to deploy as the request writes it, before its rules are checked (`check`).
#[derive(Clone, Copy, Debug)]
pub struct TokenRequest<'a> {
    pub name: &'a str,
    pub symbol: &'a str,
    /// Base units one mint gives (decimal).
    pub amount_per_mint: &'a str,
    /// The cap on the total supply (decimal).
    pub max_supply: &'a str,
    /// The token's admin (0x address).
    pub owner: &'a str,
}

/// The rule a token to deploy breaks, the first one found in the order below.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("`name` must be 1 to 64 characters")]
    Name,
    #[error("`symbol` must be 1 to 16 characters")]
    Symbol,
    #[error(transparent)]
    Number(#[from] InvalidNumber),
    #[error(transparent)]
    Supply(#[from] InvalidSupply),
    #[error(transparent)]
    Owner(#[from] InvalidAddress),
}

/// Checks a token to deploy and returns what the deployment starts with.
pub fn check(token: TokenRequest<'_>) -> Result<DeploymentData, SpecError> {
    if !(1..=64).contains(&token.name.chars().count()) {
        return Err(SpecError::Name);
    }
    if !(1..=16).contains(&token.symbol.chars().count()) {
        return Err(SpecError::Symbol);
    }
    let amount_per_mint = units::parse("amountPerMint", token.amount_per_mint)?;
    let max_supply = units::parse("maxSupply", token.max_supply)?;
    check_supply(amount_per_mint, max_supply)?;
    Ok(DeploymentData {
        name: token.name.to_owned(),
        symbol: token.symbol.to_owned(),
        amount_per_mint,
        max_supply,
        owner: address::parse("owner", token.owner)?,
        tx_id: None,
        tx_hash: None,
        block: None,
        address: None,
    })
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

/// Deploys `token`, paid by the signed authorization `payload` for `offer`. The request's
/// `key` with the token's owner, name and symbol make the deployment's idempotency key.
pub async fn deploy(
    ctx: &Context<'_>,
    chain: &Chain,
    offer: &Offer,
    payload: &PaymentPayload,
    token: DeploymentData,
    key: &str,
) -> Result<Deployed, Error> {
    let key = deployment_key(token.owner, &token.name, &token.symbol, key);
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
        None => Err(Error::PaidForSomethingElse(created.payment)),
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

#[cfg(test)]
mod tests {
    use alloy::primitives::U256;

    use super::*;

    fn token() -> TokenRequest<'static> {
        TokenRequest {
            name: "Token",
            symbol: "TOK",
            amount_per_mint: "10",
            max_supply: "100",
            owner: "0x00000000000000000000000000000000000000ab",
        }
    }

    #[test]
    fn a_token_breaks_the_first_rule_it_fails() {
        let data = check(token()).unwrap();
        assert_eq!(
            (data.amount_per_mint, data.max_supply),
            (U256::from(10), U256::from(100))
        );
        // Which rule an error names.
        let rule = |e: SpecError| match e {
            SpecError::Name => "name",
            SpecError::Symbol => "symbol",
            SpecError::Number(_) => "number",
            SpecError::Supply(_) => "supply",
            SpecError::Owner(_) => "owner",
        };
        let long = "x".repeat(65);
        let cases = [
            (
                TokenRequest {
                    name: "",
                    symbol: "",
                    ..token()
                },
                "name",
            ),
            (
                TokenRequest {
                    symbol: &long,
                    amount_per_mint: "x",
                    ..token()
                },
                "symbol",
            ),
            (
                TokenRequest {
                    amount_per_mint: "x",
                    max_supply: "0",
                    ..token()
                },
                "number",
            ),
            (
                TokenRequest {
                    max_supply: "9",
                    owner: "0x",
                    ..token()
                },
                "supply",
            ),
            (
                TokenRequest {
                    owner: "0x",
                    ..token()
                },
                "owner",
            ),
        ];
        for (request, broken) in cases {
            assert_eq!(rule(check(request).unwrap_err()), broken, "{request:?}");
        }
    }
}
