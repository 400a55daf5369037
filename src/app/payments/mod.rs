//! Payment intake, shared by `POST /v1/payments`, `/x402/*` and paid deployments: what the
//! server asks (`offer`), checking a signed authorization (`authorized`) or a transfer
//! already sent (`transferred`), and creating the payment with what it buys (`place`). Nothing
//! is written for a refused payment.
mod custom;
mod refusal;
pub mod shown;

use alloy::primitives::{Address, U256};
use uuid::Uuid;

use super::Context;
use super::address::{self, InvalidAddress};
use super::context::NoChain;
use crate::chain::signer::address_key;
use crate::chain::{Chain, ChainError};
use crate::engine::StartError;
use crate::store::{mints, tokens};
use crate::workflows::mint::{MintRequest, PaymentType};
use crate::workflows::payment::exposure::{self, Funds, Limits};
use crate::workflows::payment::{
    self, CreateError, PAYMENT, PaymentData, PaymentKind, Purchase, SignedAuthorization,
};
use crate::x402::{self, Offer, PaymentPayload, Reason};

pub use custom::transferred;
pub use refusal::settlement_reason;

/// Why a payment was not taken. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    NoChain(#[from] NoChain),
    /// A fault of this process, not of the request.
    #[error("{0}")]
    Fault(String),
    #[error("this server takes no payments (USDC_ADDRESS is not set)")]
    NotConfigured,
    /// The authorization fails an x402 check.
    #[error("the payment is refused: {0}")]
    Refused(Reason),
    /// The settlement's simulation reverts; `reason` is what that says about the payment.
    #[error("the settlement would revert: {revert}")]
    WouldRevert { reason: Reason, revert: String },
    /// This authorization paid for another payment (or another request) already.
    #[error("this authorization was used by payment {0}")]
    NonceUsed(Uuid),
    /// This transfer paid for another payment already.
    #[error("this transfer already paid for payment {0}")]
    TxHashUsed(Uuid),
    /// The payer has too much under way (`exposure`).
    #[error(transparent)]
    Exposure(#[from] exposure::Refusal),
    /// The transfer of a custom payment does not pay for the order.
    #[error(transparent)]
    Transfer(#[from] crate::workflows::payment::custom::Refusal),
    #[error("cannot check the payment now: {0}")]
    PaymentUnchecked(ChainError),
    #[error("cannot check the transfer now: {0}")]
    TransferUnchecked(ChainError),
    #[error("`txHash` must be a 0x-prefixed 32-byte hex hash, got `{0}`")]
    InvalidTxHash(String),
    #[error(transparent)]
    InvalidAddress(#[from] InvalidAddress),
    #[error("no `token` given and the server has no default token (TOKEN_ADDRESS)")]
    NoDefaultToken,
    #[error("token {0} is not registered")]
    UnknownToken(Address),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}

impl Error {
    /// The x402 reason of a refusal the protocol names (an x402 client is answered with it).
    pub fn x402_reason(&self) -> Option<Reason> {
        match self {
            Error::Refused(reason) | Error::WouldRevert { reason, .. } => Some(*reason),
            Error::NonceUsed(_) => Some(Reason::NonceUsed),
            _ => None,
        }
    }
}

impl From<CreateError> for Error {
    fn from(e: CreateError) -> Self {
        match e {
            CreateError::Start(StartError::IdempotencyConflict { existing }) => {
                Error::NonceUsed(existing)
            }
            CreateError::Start(StartError::Db(e)) => Error::Db(e),
            CreateError::Refused(r) => Error::Exposure(r),
            e @ CreateError::FundsDoNotMatch => Error::Fault(e.to_string()),
        }
    }
}

/// What a payment buys.
#[derive(Clone, Debug)]
pub struct Order {
    /// The payer when absent.
    pub recipient: Option<String>,
    /// The server's default token when absent.
    pub token: Option<String>,
    pub quantity: u32,
}

/// What this server asks for `quantity` mints.
pub fn offer(ctx: &Context<'_>, chain: &Chain, quantity: u64) -> Result<Offer, Error> {
    offer_of(ctx, chain, ctx.contracts.mint_price * U256::from(quantity))
}

/// What this server asks to be paid `amount` USDC base units.
pub fn offer_of(ctx: &Context<'_>, chain: &Chain, amount: U256) -> Result<Offer, Error> {
    let c = ctx.contracts;
    let asset = c.usdc.ok_or(Error::NotConfigured)?;
    Ok(Offer {
        chain_id: chain.chain_id(),
        asset,
        asset_name: c.usdc_name.clone(),
        asset_version: c.usdc_version.clone(),
        pay_to: c.pay_to.unwrap_or_else(|| chain.signer()),
        amount,
        min_validity_secs: ctx.settings.get().min_authorization_validity_secs.max(0) as u64,
    })
}

/// Verifies a signed payment for `offer`, simulates its settlement and reads the payer's
/// balance, which `place` (or `payment::create`) checks against what they have under way.
/// Nothing is written.
pub async fn authorized(
    ctx: &Context<'_>,
    chain: &Chain,
    offer: &Offer,
    payload: &PaymentPayload,
    kind: PaymentKind,
) -> Result<(PaymentData, Funds), Error> {
    let verified = x402::verify(offer, payload, now_secs(ctx)).map_err(Error::Refused)?;
    let settleable = settleable(ctx, chain, offer.asset, verified, kind).await?;
    Ok((settleable.data, settleable.funds))
}

/// x402 validity windows are in whole seconds.
pub fn now_secs(ctx: &Context<'_>) -> u64 {
    (ctx.clock.now_ms() / 1000).max(0) as u64
}

/// A verified authorization, ready for `payment::create`.
pub struct Settleable {
    pub data: PaymentData,
    pub funds: Funds,
    /// A payment holds this authorization already: its settlement was not simulated (the
    /// nonce may be spent by that payment); creating it again answers that payment.
    pub reserved: bool,
}

/// The payment of `verified` (in `asset`): its settlement simulated unless a payment holds
/// the authorization already, and the payer's balance read. Nothing is written.
pub async fn settleable(
    ctx: &Context<'_>,
    chain: &Chain,
    asset: Address,
    verified: x402::Verified,
    kind: PaymentKind,
) -> Result<Settleable, Error> {
    let data = PaymentData {
        authorization: Some(SignedAuthorization {
            valid_after: verified.valid_after,
            valid_before: verified.valid_before,
            nonce: verified.nonce,
            signature: verified.signature,
        }),
        ..PaymentData::new(kind, asset, verified.from, verified.to, verified.value)
    };
    // An authorization accepted before is answered by `place` (the same payment, or a
    // conflict), even after its settlement used the nonce on chain.
    let key = data.key(chain.chain_id());
    let reserved = !mints::find_by_keys(ctx.db, PAYMENT, &[key])
        .await?
        .is_empty();
    // The two questions to the node go together: a payment waits for the slower, not the sum.
    let read_at_ms = ctx.clock.now_ms();
    let simulated = async {
        match reserved {
            true => Ok(()),
            false => simulate(chain, &data).await,
        }
    };
    let balance = async {
        chain
            .balance_of(data.asset, data.payer)
            .await
            .map_err(Error::PaymentUnchecked)
    };
    let ((), balance) = tokio::try_join!(simulated, balance)?;
    let funds = Funds::Balance {
        balance,
        read_at_ms,
        limits: Limits::of(&ctx.settings.get()),
    };
    Ok(Settleable {
        data,
        funds,
        reserved,
    })
}

/// Simulates the settlement: a used nonce, a short balance or a bad signature for the token
/// refuse the payment before anything is written.
async fn simulate(chain: &Chain, data: &PaymentData) -> Result<(), Error> {
    let Some(call) = data.settlement() else {
        return Ok(());
    };
    match chain.simulate(&call).await {
        Ok(()) => Ok(()),
        Err(ChainError::Reverted(revert)) => Err(Error::WouldRevert {
            reason: settlement_reason(&revert),
            revert,
        }),
        Err(e) => Err(Error::PaymentUnchecked(e)),
    }
}

/// Creates the payment with the mints of `order`. Nothing is written for a refused order.
pub async fn place(
    ctx: &Context<'_>,
    chain: &Chain,
    data: PaymentData,
    funds: Funds,
    order: Order,
) -> Result<payment::Created, Error> {
    let (recipient, token) = target(ctx, &order, data.payer)?;
    let chain_id = chain.chain_id() as i64;
    if tokens::find(ctx.db, chain_id, &address_key(token))
        .await?
        .is_none()
    {
        return Err(Error::UnknownToken(token));
    }
    let request = MintRequest {
        payer: data.payer,
        recipient,
        token,
        quantity: order.quantity,
        payment_type: match data.kind {
            PaymentKind::X402 => PaymentType::X402,
            PaymentKind::Gasless => PaymentType::Gasless,
            PaymentKind::Custom => PaymentType::Custom,
        },
        key: String::new(),
        parent_id: None,
        // Paid mints queue at the default priority; an admin can raise them.
        priority: crate::workflows::priority::DEFAULT,
    };
    let purchase = Purchase::Mints(request);
    let created = payment::create(ctx.client, chain.chain_id(), &data, &purchase, funds).await;
    match created.map_err(Error::from) {
        // A transfer's hash, not an authorization, is a custom payment's key.
        Err(Error::NonceUsed(existing)) if data.kind == PaymentKind::Custom => {
            Err(Error::TxHashUsed(existing))
        }
        other => other,
    }
}

/// Who receives the mints of `order` paid by `payer` (the payer when it names no one), and
/// which token they are of (the server's default when it names none).
fn target(ctx: &Context<'_>, order: &Order, payer: Address) -> Result<(Address, Address), Error> {
    let recipient = match order.recipient.as_deref() {
        Some(r) => address::parse("recipient", r)?,
        None => payer,
    };
    let token = match order.token.as_deref() {
        Some(t) => address::parse("token", t)?,
        None => ctx.contracts.token.ok_or(Error::NoDefaultToken)?,
    };
    Ok((recipient, token))
}
