//! `deployment`: a paid request for a new MintToken.
//!
//! `awaiting_payment -> pending -> processing -> sent -> confirmed`, or `failed`/`cancelled`.
//! Created with its payment, parked until the payment confirms (which makes it due) or fails
//! (which cancels it). `pending` simulates the deployment, `processing` submits it from the
//! compiled bytecode through the transaction pipeline under the key `deployment:{id}` (no
//! files, no lock: concurrent deployments are just consecutive nonces), and `sent` records the
//! confirmed contract in the token registry in its checkpoint transaction, so mints can target
//! it at once.
use alloy::primitives::{Address, U256};
use alloy::sol_types::SolConstructor;
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::chain_step::{self, ChainKind, ChainStep, Decide, Retry};
use crate::chain::contracts::MintToken;
use crate::chain::signer::address_key;
use crate::chain::{Call, Chain};
use crate::engine::{
    Client, StartError, StartOptions, Started, Step, StepCtx, StepError, Workflow,
};

mod decide;

pub use decide::{Observed, decide};

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

state_names!(DeploymentState {
    AwaitingPayment => "awaiting_payment",
    Pending => "pending",
    Processing => "processing",
    Sent => "sent",
    Confirmed => "confirmed",
    Failed => "failed",
    Cancelled => "cancelled",
});

/// The token to deploy, and where its deployment is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentData {
    pub name: String,
    pub symbol: String,
    pub amount_per_mint: U256,
    pub max_supply: U256,
    /// The token's admin (it can grant the minter role); the service's signers mint.
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
            minters: self.chain.signers(),
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

impl Workflow for Deployment {
    type State = DeploymentState;
    type Data = DeploymentData;
    const KIND: &'static str = DEPLOYMENT;

    /// The step every kind that sends transactions takes (`chain_step::step`).
    async fn step(
        &self,
        ctx: &StepCtx,
        state: DeploymentState,
        data: DeploymentData,
    ) -> Result<Step<DeploymentState, DeploymentData>, StepError> {
        chain_step::step(self, ctx, state, data).await
    }
}

impl ChainKind for Deployment {
    type Observed = Observed;
    const DECIDE: Decide<Self> = decide;

    /// Asks the chain what `state` needs to decide: the simulation in `pending`, the submit's
    /// answer in `processing`, where the transaction is in `sent`.
    async fn observe(
        &self,
        ctx: &StepCtx,
        state: DeploymentState,
        data: &DeploymentData,
        _retry: Retry,
    ) -> Result<Observed, StepError> {
        let chain = ChainStep {
            chain: &self.chain,
            owner: ctx.workflow_id,
        };
        Ok(match state {
            DeploymentState::Pending => {
                Observed::Simulation(chain.simulate(&self.call(data)).await)
            }
            DeploymentState::Processing => {
                let key = format!("deployment:{}", ctx.workflow_id);
                Observed::Submit(chain.submit(key, DEPLOYMENT, self.call(data)).await)
            }
            DeploymentState::Sent => Observed::Outcome {
                outcome: chain.outcome(data.tx_id).await?,
                chain_id: self.chain.chain_id(),
            },
            _ => Observed::Nothing,
        })
    }
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
