//! `deployment`: a paid request for a new MintToken.
//!
//! `awaiting_payment -> pending -> processing -> sent -> confirmed`, or `failed`/`cancelled`.
//! Created with its payment, parked until the payment confirms (which makes it due) or fails
//! (which cancels it). `pending` simulates the deployment, `processing` submits it from the
//! compiled bytecode through the transaction pipeline under the key `deployment:{id}` (no
//! files, no lock: concurrent deployments are just consecutive nonces), and `sent` records the
//! confirmed contract in the token registry in its checkpoint transaction, so mints can target
//! it at once.
use std::sync::Arc;

use alloy::primitives::{Address, U256};
use alloy::sol_types::SolConstructor;
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::chain::contracts::MintToken;
use crate::chain::signer::address_key;
use crate::chain::{Call, Chain, ChainError, Submitted, TxOutcome};
use crate::engine::{
    Client, StartError, StartOptions, Started, Step, StepCtx, StepError, Transition, Workflow,
};
use crate::store::{self, entity::token};

pub const DEPLOYMENT: &str = "deployment";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentState {
    /// Its payment is not confirmed yet.
    AwaitingPayment,
    /// Paid; being simulated.
    Pending,
    /// Being submitted.
    Processing,
    /// The deployment transaction is with the sender.
    Sent,
    Confirmed,
    Failed,
    Cancelled,
}

/// The token to deploy, and where its deployment is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentData {
    pub name: String,
    pub symbol: String,
    pub amount_per_mint: U256,
    pub max_supply: U256,
    /// The token's admin (it can grant the minter role); the service's signer mints.
    pub owner: Address,
    #[serde(default)]
    pub tx_id: Option<Uuid>,
    #[serde(default)]
    pub tx_hash: Option<String>,
    #[serde(default)]
    pub block: Option<i64>,
    #[serde(default)]
    pub address: Option<Address>,
}

/// The `deployment` kind.
pub struct Deployment {
    chain: Chain,
}

impl Deployment {
    pub fn new(chain: Chain) -> Self {
        Deployment { chain }
    }

    fn call(&self, d: &DeploymentData) -> Call {
        let args = MintToken::constructorCall {
            name_: d.name.clone(),
            symbol_: d.symbol.clone(),
            amountPerMint_: d.amount_per_mint,
            maxSupply_: d.max_supply,
            admin: d.owner,
            minter: self.chain.signer(),
        };
        let mut code = MintToken::BYTECODE.to_vec();
        code.extend(args.abi_encode());
        Call {
            to: None,
            input: code.into(),
            value: U256::ZERO,
            gas_limit: None,
        }
    }
}

type DeploymentStep = Step<DeploymentState, DeploymentData>;

impl Workflow for Deployment {
    type State = DeploymentState;
    type Data = DeploymentData;
    const KIND: &'static str = DEPLOYMENT;

    async fn step(
        &self,
        ctx: &StepCtx,
        state: DeploymentState,
        mut data: DeploymentData,
    ) -> Result<DeploymentStep, StepError> {
        let transient = |e: ChainError| StepError::Transient(e.to_string());
        match state {
            DeploymentState::AwaitingPayment => Ok(Step::new(Transition::Wait(state), data)),
            DeploymentState::Pending => match self.chain.estimate(&self.call(&data)).await {
                Ok(_) => Ok(Step::next(DeploymentState::Processing, data)),
                Err(ChainError::Reverted(why)) => Ok(fail(data, why)),
                Err(e) => Err(transient(e)),
            },
            DeploymentState::Processing => {
                let submitted = self
                    .chain
                    .submit_for(
                        ctx.workflow_id,
                        format!("deployment:{}", ctx.workflow_id),
                        DEPLOYMENT,
                        self.call(&data),
                    )
                    .await;
                match submitted {
                    Ok(Submitted { id: tx_id, hash }) => {
                        data.tx_hash = hash;
                        data.tx_id = Some(tx_id);
                        let detail = json!({ "tx_id": tx_id, "tx_hash": data.tx_hash });
                        Ok(Step::new(Transition::Wait(DeploymentState::Sent), data)
                            .with_detail(detail))
                    }
                    Err(ChainError::Reverted(why)) => Ok(fail(data, why)),
                    Err(ChainError::OverBudget(wait)) => Err(wait.into()),
                    Err(e) => Err(transient(e)),
                }
            }
            DeploymentState::Sent => {
                let tx_id = data.tx_id.ok_or_else(|| {
                    StepError::Permanent("sent deployment without a transaction".into())
                })?;
                match self.chain.outcome(tx_id).await? {
                    TxOutcome::Pending { .. } => {
                        Ok(Step::new(Transition::Wait(DeploymentState::Sent), data))
                    }
                    TxOutcome::Confirmed {
                        hash,
                        block,
                        contract_address,
                        ..
                    } => {
                        let address: Address = contract_address
                            .as_deref()
                            .and_then(|a| a.parse().ok())
                            .ok_or_else(|| {
                                StepError::Permanent("confirmed without a contract address".into())
                            })?;
                        data.tx_hash = Some(hash.clone());
                        data.block = Some(block);
                        data.address = Some(address);
                        let record = register(self.chain.chain_id(), &data, address);
                        Ok(Step::complete(DeploymentState::Confirmed, data)
                            .with_effect(record)
                            .with_detail(
                                json!({ "address": address, "tx_hash": hash, "block": block }),
                            ))
                    }
                    TxOutcome::Reverted { reason, .. } => {
                        Ok(fail(data, format!("deployment reverted: {reason}")))
                    }
                    TxOutcome::Failed { reason } => {
                        Ok(fail(data, format!("deployment could not land: {reason}")))
                    }
                }
            }
            DeploymentState::Confirmed | DeploymentState::Cancelled => {
                Ok(Step::complete(state, data))
            }
            DeploymentState::Failed => Err(StepError::Permanent(
                "a failed deployment is not retried; request a new one".into(),
            )),
        }
    }
}

fn fail(data: DeploymentData, reason: String) -> DeploymentStep {
    Step::new(Transition::Fail(DeploymentState::Failed, reason), data)
}

/// Records the deployed token in the registry, with the checkpoint.
fn register(chain_id: u64, d: &DeploymentData, address: Address) -> crate::engine::Effect {
    let row = token::Model {
        chain_id: chain_id as i64,
        address: address_key(address),
        name: d.name.clone(),
        symbol: d.symbol.clone(),
        amount_per_mint: d.amount_per_mint.to_string(),
        max_supply: d.max_supply.to_string(),
        deployer: Some(address_key(d.owner)),
        deploy_tx_hash: d.tx_hash.clone(),
        deploy_block: d.block,
        created_at_ms: store::now_ms(),
    };
    Arc::new(move |txn| {
        let row = row.clone();
        Box::pin(async move { store::tokens::upsert(txn, &row).await.map(drop) })
    })
}

/// The idempotency key of a deployment: the same owner, name, symbol and key are the same
/// deployment.
pub fn deployment_key(owner: Address, name: &str, symbol: &str, key: &str) -> String {
    format!("deploy:{owner:#x}:{name}:{symbol}:{key}")
}

/// Creates a deployment parked until payment `parent` confirms, inside the caller's
/// transaction.
pub async fn start_in<C: ConnectionTrait>(
    client: &Client,
    conn: &C,
    data: &DeploymentData,
    key: String,
    parent: Uuid,
) -> Result<Started, StartError> {
    let opts = StartOptions {
        idempotency_key: Some(key),
        request_body: Some(serde_json::to_vec(data).expect("serializes")),
        waiting: true,
        parent_id: Some(parent),
        payer: Some(address_key(data.owner)),
        ..Default::default()
    };
    client
        .start_in::<Deployment, _>(conn, DeploymentState::AwaitingPayment, data, opts)
        .await
}
