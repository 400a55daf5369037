//! The intake of a custom payment (`paymentType: custom`): the transfer it names is checked
//! on chain, and a recipient other than the payer against the payer's signature, before
//! anything is written.
use alloy::primitives::B256;

use super::{Error, Order, target};
use crate::app::Context;
use crate::chain::Chain;
use crate::chain::signer::address_key;
use crate::chain::transfer::TransferCheck;
use crate::store;
use crate::workflows::payment::custom::{self, Refusal};
use crate::workflows::payment::{PaymentData, PaymentKind};
use crate::x402::Offer;

/// Checks the custom payment `hash` for `order`: a transfer its sender made, `confirmations`
/// deep, whose only USDC movement pays at least the offer's amount to its `payTo`; not sent
/// by one of our signers (our settlements are public). Unless `recipient_signature` is the
/// payer's consent to the order, the order is the transfer's alone: the payer's, the default
/// token's, exactly the offer's amount (`custom::check_order`).
pub async fn transferred(
    ctx: &Context<'_>,
    chain: &Chain,
    offer: &Offer,
    hash: &str,
    order: &Order,
    recipient_signature: Option<&str>,
) -> Result<PaymentData, Error> {
    let tx: B256 = hash
        .parse()
        .map_err(|_| Error::InvalidTxHash(hash.to_owned()))?;
    let confirmations = ctx.settings.get().confirmations.max(0) as u64;
    let check = chain
        .check_transfer(tx, offer.asset, confirmations)
        .await
        .map_err(Error::TransferUnchecked)?;
    if let TransferCheck::Mined(t) = &check {
        let chain_id = chain.chain_id() as i64;
        if store::chain::is_signer(ctx.db, chain_id, &address_key(t.sender)).await? {
            return Err(Refusal::FromServiceSigner { sender: t.sender }.into());
        }
    }
    let paid = custom::verdict(check, offer.pay_to, offer.amount, confirmations)?;
    let (recipient, token) = target(ctx, order, paid.payer)?;
    let consent = custom::consent(tx, recipient, token, order.quantity);
    custom::check_order(
        chain.chain_id(),
        &paid,
        &consent,
        offer.amount,
        ctx.contracts.token,
        recipient_signature,
    )?;
    let (asset, pay_to) = (offer.asset, offer.pay_to);
    Ok(PaymentData {
        transfer_tx: Some(tx),
        ..PaymentData::new(PaymentKind::Custom, asset, paid.payer, pay_to, paid.value)
    })
}
