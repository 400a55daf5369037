//! Creating a payment: the payment, its receipt and what it pays for, in one transaction.
use serde_json::json;
use uuid::Uuid;

use super::{Payment, PaymentData, PaymentState, exposure, receipt};
use crate::chain::signer::address_key;
use crate::engine::{Client, StartError, StartOptions, Started};
use crate::store;
use crate::store::receipts::Reserved;
use crate::workflows::deployment;
use crate::workflows::deployment::DeploymentData;
use crate::workflows::mint::{self, MintRequest};

/// What a payment pays for.
#[derive(Clone, Debug)]
pub enum Purchase {
    Mints(MintRequest),
    /// A token deployment, with its idempotency key.
    Deployment(DeploymentData, String),
    /// Nothing here: an x402 payment settled as a facilitator, for what another resource
    /// server sells.
    Nothing,
}

/// A payment with what it pays for, as created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    pub payment: Uuid,
    /// The mints, or the deployment.
    pub children: Vec<Uuid>,
    /// Accepted before, with the same request: that payment (or, for a deployment with the
    /// same key, the first deployment and its payment).
    pub existing: bool,
}

/// Why a payment was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error(transparent)]
    Start(#[from] StartError),
    /// The payer may not open another payment now (`exposure`).
    #[error(transparent)]
    Refused(#[from] exposure::Refusal),
    /// A fault of the caller's code, not of the request.
    #[error("a settled payment needs the payer's balance, a transfer needs none")]
    FundsDoNotMatch,
}

impl From<sea_orm::DbErr> for CreateError {
    fn from(e: sea_orm::DbErr) -> Self {
        CreateError::Start(e.into())
    }
}

/// Creates the payment, its receipt and what it pays for (waiting for it) in one transaction.
/// The authorization (or custom transfer) is the payment's idempotency key: the same one with
/// the same request returns the first payment; with another request, `IdempotencyConflict`.
/// A key whose payment is gone (archived) still has its receipt: `IdempotencyConflict` with
/// that payment, whatever the request. A payment mintflow settles is refused (`Refused`) when
/// its payer may not open it (`exposure`), judged under the payer's intake lock in the same
/// transaction.
pub async fn create(
    client: &Client,
    chain_id: u64,
    data: &PaymentData,
    purchase: &Purchase,
    funds: exposure::Funds,
) -> Result<Created, CreateError> {
    if data.authorization.is_some() == (funds == exposure::Funds::Transferred) {
        return Err(CreateError::FundsDoNotMatch);
    }
    let (token, what) = match purchase {
        Purchase::Mints(m) => (
            Some(address_key(m.token)),
            json!({ "recipient": m.recipient, "token": m.token, "quantity": m.quantity }),
        ),
        Purchase::Deployment(d, key) => (None, json!({ "deployment": d, "key": key })),
        Purchase::Nothing => (None, json!({ "facilitated": true })),
    };
    let fingerprint =
        serde_json::to_vec(&json!({ "payment": data, "purchase": what })).expect("serializes");
    let opts = StartOptions {
        idempotency_key: Some(data.key(chain_id)),
        request_body: Some(fingerprint),
        payer: Some(address_key(data.payer)),
        token,
        ..Default::default()
    };
    let txn = store::begin_write(client.db()).await?;
    if data.authorization.is_some() {
        store::payers::lock(&txn, &address_key(data.payer)).await?;
    }
    let payment = match client
        .start_in::<Payment, _>(&txn, PaymentState::Pending, data, opts)
        .await?
    {
        Started::Created(id) => id,
        Started::Existing(id) => {
            txn.rollback().await?;
            return Ok(existing(client, id).await?);
        }
    };
    let receipt = receipt::of(data, chain_id, payment, client.clock().now_ms());
    if let Reserved::Taken(first) = store::receipts::reserve(&txn, &receipt).await? {
        txn.rollback().await?;
        return Err(StartError::IdempotencyConflict { existing: first }.into());
    }
    if let Err(refusal) =
        exposure::check(&txn, payment, data, funds, client.clock().now_ms()).await?
    {
        txn.rollback().await?;
        return Err(refusal.into());
    }
    let children = match purchase {
        Purchase::Mints(m) => {
            let request = MintRequest {
                key: mint::payment_key(payment),
                parent_id: Some(payment),
                ..m.clone()
            };
            mint::start_in(client, &txn, &request).await?.ids
        }
        Purchase::Deployment(d, key) => {
            match deployment::start_in(client, &txn, d, key.clone(), payment).await? {
                Started::Created(id) => vec![id],
                // Deployed (or being deployed) under this key already: this payment is not
                // taken; the first deployment is the answer.
                Started::Existing(id) => {
                    txn.rollback().await?;
                    let first = store::workflows::find(client.db(), id).await?;
                    let parent = first.and_then(|d| d.parent_id).unwrap_or(id);
                    return Ok(existing(client, parent).await?);
                }
            }
        }
        Purchase::Nothing => Vec::new(),
    };
    txn.commit().await?;
    client.wake_local();
    Ok(Created {
        payment,
        children,
        existing: false,
    })
}

async fn existing(client: &Client, payment: Uuid) -> Result<Created, StartError> {
    let children = store::workflows::children(client.db(), payment).await?;
    Ok(Created {
        payment,
        children: children.into_iter().map(|(id, _)| id).collect(),
        existing: true,
    })
}
