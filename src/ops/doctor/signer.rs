//! Checks of the signers: their stored nonces against the node's, and the balance the queue
//! needs.
use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use sea_orm::DatabaseConnection;

use super::report::{Finding, Severity};
use super::{Failure, Node, Outcome, node_failure};
use crate::chain::error::rpc;
use crate::config::Settings;
use crate::store::{self, doctor as queries};
use crate::workflows::batcher::estimated_batch_gas;

/// Each signer stored for the chain: the nonce mintflow hands out next against the node's
/// transaction counts. Every nonce from the node's pending count up to the stored one must
/// belong to a transaction still open in the pipeline; more is a gap the node waits on forever.
pub(super) async fn nonces(db: &DatabaseConnection, node: &Node) -> Result<Outcome, Failure> {
    let chain_id = node.chain_id as i64;
    let signers = queries::signers(db, chain_id).await?;
    let mut findings = Vec::new();
    for s in &signers {
        let Ok(address) = s.address.parse::<Address>() else {
            continue;
        };
        let count = |e| node_failure("nonce", rpc(format_args!("nonce of {address}"), &e));
        let provider = &node.provider;
        let latest = provider
            .get_transaction_count(address)
            .await
            .map_err(count)? as i64;
        let pending = provider.get_transaction_count(address).pending();
        let pending = pending.await.map_err(count)? as i64;
        let open = store::chain::count_open(db, chain_id, &s.address).await?;
        let stored = s.next_nonce;
        if stored < latest {
            findings.push(Finding::new(
                "nonce_behind",
                Severity::Warning,
                format!(
                    "signer {address} has {latest} transactions mined but mintflow's next \
                     nonce is {stored}: someone sends with this key outside mintflow (the \
                     sender raises the stored nonce on its next pass)"
                ),
            ));
        } else if stored - pending > open {
            findings.push(Finding::new(
                "nonce_ahead",
                Severity::Error,
                format!(
                    "signer {address}'s next nonce is {stored} but the node's pending count \
                     is {pending} with {open} transaction(s) open: {} nonce(s) belong to no \
                     transaction, and the node holds every later one back (a database of an \
                     earlier instance of this chain?)",
                    stored - pending - open
                ),
            ));
        }
    }
    Ok(Outcome {
        examined: signers.len() as u64,
        findings,
    })
}

/// `signer`'s balance against what sending the queue costs, roughly: the pending mints in
/// batches of `max_batch_size`, each batch's planned gas, at the node's gas price now.
pub(super) async fn balance(
    db: &DatabaseConnection,
    node: &Node,
    signer: Address,
    settings: &Settings,
) -> Result<Outcome, Failure> {
    let pending = store::mints::pending_stats(db).await?.count.max(0);
    let per_batch = settings.max_batch_size.max(1);
    let (full, rest) = (pending / per_batch, pending % per_batch);
    let gas = U256::from(full) * U256::from(estimated_batch_gas(per_batch))
        + if rest > 0 {
            U256::from(estimated_batch_gas(rest))
        } else {
            U256::ZERO
        };
    let provider = &node.provider;
    let price = provider.get_gas_price().await;
    let price = price.map_err(|e| node_failure("gas price", rpc("the gas price", &e)))?;
    let balance = provider.get_balance(signer).await;
    let balance = balance.map_err(|e| node_failure("balance", rpc("the signer's balance", &e)))?;
    let needed = gas * U256::from(price);
    let mut findings = Vec::new();
    if balance < needed {
        findings.push(Finding::new(
            "signer_balance_low",
            Severity::Error,
            format!(
                "signer {signer} has {balance} wei, but the {pending} pending mint(s) need \
                 about {needed} wei ({gas} gas at {price} wei per gas): fund it"
            ),
        ));
    }
    Ok(Outcome {
        examined: 1,
        findings,
    })
}
