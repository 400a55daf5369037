//! Checks of the database against itself: work that cannot move on by itself.
use std::collections::BTreeMap;

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::report::{Finding, Severity};
use super::{Failure, Node, Options, Outcome};
use crate::store::doctor as queries;
use crate::store::time::from_ms;
use crate::store::workflows::Status;

/// Mints in `awaiting_payment` whose payment is final: the payment's end should have moved
/// them on (to the queue when it confirmed, cancelled otherwise) in its own transaction.
pub(super) async fn stranded_mints(
    db: &DatabaseConnection,
    opts: &Options,
) -> Result<Outcome, Failure> {
    let rows = queries::stranded_mints(db, opts.sample).await?;
    let mut by_payment: BTreeMap<(Uuid, String), Vec<Uuid>> = BTreeMap::new();
    for r in &rows {
        by_payment
            .entry((r.payment_id, r.payment_status.clone()))
            .or_default()
            .push(r.id);
    }
    let findings = by_payment
        .into_iter()
        .map(|((payment, status), mints)| {
            let message = format!(
                "{} mint(s) still await payment {payment}, which is {status}",
                mints.len()
            );
            let finding = Finding::new("mint_stranded", Severity::Error, message)
                .workflows(std::iter::once(payment).chain(mints));
            if status == Status::Completed.as_str() {
                // Paid: moving them to the queue mints them, which is an operator's call.
                finding.suggest(format!("mintflow workflows history {payment}"))
            } else {
                finding.fixable()
            }
        })
        .collect();
    Ok(Outcome {
        examined: rows.len() as u64,
        findings,
    })
}

/// Running workflows whose lease expired long ago: no worker took them over.
pub(super) async fn expired_leases(
    db: &DatabaseConnection,
    opts: &Options,
) -> Result<Outcome, Failure> {
    let rows = queries::expired_leases(db, opts.stuck_before_ms(), opts.sample).await?;
    let findings = rows
        .iter()
        .map(|w| {
            Finding::new(
                "lease_expired",
                Severity::Warning,
                format!(
                    "{} {} ({}) is running, but its lease held by {} expired at {}",
                    w.kind,
                    w.id,
                    w.state,
                    w.lease_owner,
                    from_ms(w.lease_until_ms).to_rfc3339()
                ),
            )
            .workflows([w.id])
            .fixable()
        })
        .collect();
    Ok(Outcome {
        examined: rows.len() as u64,
        findings,
    })
}

/// Transactions signed or sent long ago and still not mined.
pub(super) async fn stuck_txs(
    db: &DatabaseConnection,
    node: &Node,
    opts: &Options,
) -> Result<Outcome, Failure> {
    let chain_id = node.chain_id as i64;
    let rows = queries::unmined_since(db, chain_id, opts.stuck_before_ms(), opts.sample).await?;
    let findings = rows
        .iter()
        .map(|tx| {
            // Only the sender moves a transaction (it reads every receipt each pass): one
            // unmined this long means no sender runs, or the node dropped it and the sender
            // cannot re-broadcast. Nothing here is safe to touch from outside the sender.
            let message = format!(
                "transaction {} (nonce {} of {}) is still {} since {}: is a process with RPC_URL \
                 (the sender) running, and does the node accept its transactions?",
                tx.id,
                tx.nonce,
                tx.signer,
                tx.status,
                from_ms(tx.created_at_ms).to_rfc3339()
            );
            let finding = Finding::new("tx_stuck", Severity::Warning, message);
            match tx.owner_workflow_id {
                Some(owner) => finding
                    .workflows([owner])
                    .suggest(format!("mintflow workflows history {owner}")),
                None => finding,
            }
        })
        .collect();
    Ok(Outcome {
        examined: rows.len() as u64,
        findings,
    })
}
