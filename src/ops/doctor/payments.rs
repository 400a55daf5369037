//! Checks of confirmed payments against the chain and the receipt ledger.
use std::collections::HashMap;

use alloy::primitives::B256;
use alloy::providers::Provider;
use futures::StreamExt;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::report::{Finding, Severity};
use super::{Failure, Node, Options, Outcome, PARALLEL_CALLS, node_failure};
use crate::chain::contracts::MockUSDC;
use crate::chain::error::{contract, rpc};
use crate::store::doctor as queries;
use crate::workflows::payment::{PAYMENT, PaymentData, PaymentState};

/// The newest `sample` confirmed payments: the authorization each one settled is used on
/// chain (`authorizationState`), or, for a custom payment, the payer's transfer is mined with
/// success; and each has its receipt in the ledger, with the settlement's hash.
pub(super) async fn confirmed(
    db: &DatabaseConnection,
    node: &Node,
    opts: &Options,
) -> Result<Outcome, Failure> {
    let rows = queries::newest_finished(db, PAYMENT, PaymentState::Confirmed.as_str(), opts.sample)
        .await?;
    let payments: Vec<(Uuid, PaymentData)> = rows
        .into_iter()
        .filter_map(|r| Some((r.id, serde_json::from_value(r.data).ok()?)))
        .collect();
    // A plain list of futures, as in `mints::confirmed`.
    let calls: Vec<_> =
        payments
            .iter()
            .map(|(id, data)| async move {
                Ok::<_, Failure>((*id, settled_on_chain(node, data).await?))
            })
            .collect();
    let settled = futures::stream::iter(calls)
        .buffer_unordered(PARALLEL_CALLS)
        .collect::<Vec<_>>()
        .await;
    let mut findings = Vec::new();
    for result in settled {
        let (id, problem) = result?;
        if let Some(problem) = problem {
            findings.push(
                Finding::new(
                    "payment_not_settled",
                    Severity::Error,
                    format!("payment {id} is confirmed, but {problem}"),
                )
                .workflows([id])
                .suggest(format!("mintflow workflows history {id}")),
            );
        }
    }
    let ids: Vec<Uuid> = payments.iter().map(|(id, _)| *id).collect();
    let mut receipts: HashMap<Uuid, Option<String>> = HashMap::new();
    for chunk in ids.chunks(500) {
        receipts.extend(queries::receipts_of(db, chunk).await?);
    }
    for id in &ids {
        let problem = match receipts.get(id) {
            None => "has no receipt in payment_receipts (a payment older than the ledger has none)",
            Some(None) => "has a receipt that records no settlement transaction",
            Some(Some(_)) => continue,
        };
        findings.push(
            Finding::new(
                "payment_receipt_missing",
                Severity::Warning,
                format!("confirmed payment {id} {problem}"),
            )
            .workflows([*id])
            .suggest(format!("mintflow workflows history {id}")),
        );
    }
    Ok(Outcome {
        examined: payments.len() as u64,
        findings,
    })
}

/// What is wrong on chain with a confirmed payment; `None` when the chain agrees.
async fn settled_on_chain(node: &Node, data: &PaymentData) -> Result<Option<String>, Failure> {
    if let Some(auth) = &data.authorization {
        let usdc = MockUSDC::new(data.asset, &node.provider);
        let used = usdc.authorizationState(data.payer, auth.nonce).call().await;
        let used = used.map_err(|e| {
            node_failure(
                "authorizationState",
                contract(format_args!("authorizationState of {}", data.payer), &e),
            )
        })?;
        return Ok((!used).then(|| {
            format!(
                "its authorization {:#x} of {} is unused on {} (authorizationState is false)",
                auth.nonce, data.payer, data.asset
            )
        }));
    }
    let Some(tx) = data.transfer_tx else {
        return Ok(Some(
            "it records neither an authorization nor a transfer".into(),
        ));
    };
    transfer_problem(node, tx).await
}

/// What is wrong with a custom payment's transfer `tx`; `None` when it is mined with success.
async fn transfer_problem(node: &Node, tx: B256) -> Result<Option<String>, Failure> {
    let receipt = node.provider.get_transaction_receipt(tx).await;
    let receipt =
        receipt.map_err(|e| node_failure("receipt", rpc(format_args!("receipt {tx:#x}"), &e)))?;
    Ok(match receipt {
        None => Some(format!("its transfer {tx:#x} has no receipt on the node")),
        Some(r) if !r.status() => Some(format!("its transfer {tx:#x} reverted")),
        Some(_) => None,
    })
}
