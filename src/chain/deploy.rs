//! Contract deployment from the compiled bytecode, through the same pipeline as every other
//! transaction (no files, no locks): `mintflow deploy`, `mintflow dev` and the tests use it.
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::sol_types::{SolCall, SolConstructor};
use serde::Serialize;

use super::contracts::{MintToken, MockUSDC, Settler};
use super::{Call, Chain, ChainError, Submit, TxOutcome};

/// What `MintToken`'s constructor takes.
#[derive(Clone, Debug)]
pub struct TokenParams {
    pub name: String,
    pub symbol: String,
    pub amount_per_mint: U256,
    pub max_supply: U256,
    pub admin: Address,
    /// Each gets `MINTER_ROLE` at deployment: every signer of the pool.
    pub minters: Vec<Address>,
}

/// The addresses `mintflow deploy` prints.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployed {
    pub chain_id: u64,
    pub usdc: Option<Address>,
    pub token: Address,
    /// Our `Settler`, for batched settlement (`SETTLER_ADDRESS`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settler: Option<Address>,
}

/// Deploys a `MintToken` and waits for it to be confirmed. `key` makes the deployment
/// idempotent: the same key returns the first deployment's address.
pub async fn deploy_token(
    chain: &Chain,
    key: &str,
    p: &TokenParams,
    timeout: Duration,
) -> Result<Address, ChainError> {
    let args = MintToken::constructorCall {
        name_: p.name.clone(),
        symbol_: p.symbol.clone(),
        amountPerMint_: p.amount_per_mint,
        maxSupply_: p.max_supply,
        admin: p.admin,
        minters: p.minters.clone(),
    };
    deploy(
        chain,
        key,
        MintToken::BYTECODE.to_vec(),
        args.abi_encode(),
        timeout,
    )
    .await
}

/// Deploys the test USDC (EIP-3009, 6 decimals, open faucet). For development chains only.
pub async fn deploy_mock_usdc(
    chain: &Chain,
    key: &str,
    timeout: Duration,
) -> Result<Address, ChainError> {
    deploy(chain, key, MockUSDC::BYTECODE.to_vec(), Vec::new(), timeout).await
}

/// Grants `MINTER_ROLE` of `token` to every signer of the pool that lacks it (one added since
/// the token was deployed with the pool of then as its minters), from the primary (its admin),
/// and waits for each grant to be confirmed. `key` makes it idempotent: a signer's grant is
/// sent once.
pub async fn grant_minters(
    chain: &Chain,
    key: &str,
    token: Address,
    timeout: Duration,
) -> Result<(), ChainError> {
    let admin = chain.primary();
    let role = alloy::primitives::keccak256("MINTER_ROLE");
    let contract = MintToken::new(token, chain.provider());
    for signer in chain.signers() {
        // A read that fails grants anyway: granting a role held already changes nothing.
        if matches!(contract.hasRole(role, signer).call().await, Ok(true)) {
            continue;
        }
        let grant = MintToken::grantRoleCall {
            role,
            account: signer,
        };
        let call = Call {
            to: Some(token),
            input: grant.abi_encode().into(),
            value: U256::ZERO,
            gas_limit: None,
        };
        let key = format!("{key}:minter:{}", super::signer::address_key(signer));
        send_and_wait(&admin, &key, "grant_minter", call, timeout).await?;
    }
    Ok(())
}

/// Deploys our `Settler` (settles many EIP-3009 authorizations in one transaction).
pub async fn deploy_settler(
    chain: &Chain,
    key: &str,
    timeout: Duration,
) -> Result<Address, ChainError> {
    deploy(chain, key, Settler::BYTECODE.to_vec(), Vec::new(), timeout).await
}

async fn deploy(
    chain: &Chain,
    key: &str,
    mut code: Vec<u8>,
    args: Vec<u8>,
    timeout: Duration,
) -> Result<Address, ChainError> {
    code.extend(args);
    // From the primary: a fresh signer's first contracts always get the same addresses.
    let chain = &chain.primary();
    let call = Call {
        to: None,
        input: code.into(),
        value: U256::ZERO,
        gas_limit: None,
    };
    match send_and_wait(chain, key, "deploy", call, timeout).await? {
        Some(a) => a
            .parse()
            .map_err(|e| ChainError::Failed(format!("contract address {a}: {e}"))),
        None => Err(ChainError::Failed(
            "deployment confirmed without an address".into(),
        )),
    }
}

/// Submits `call` under `key` and waits until it is confirmed: the address of the contract it
/// created, if any.
async fn send_and_wait(
    chain: &Chain,
    key: &str,
    purpose: &str,
    call: Call,
    timeout: Duration,
) -> Result<Option<String>, ChainError> {
    let id = chain
        .submit(Submit {
            key: key.to_owned(),
            owner: None,
            purpose: purpose.into(),
            call,
        })
        .await?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match chain.outcome(id).await? {
            TxOutcome::Confirmed {
                contract_address, ..
            } => return Ok(contract_address),
            TxOutcome::Reverted { reason, .. } => return Err(ChainError::Reverted(reason)),
            TxOutcome::Failed { reason } => return Err(ChainError::Failed(reason)),
            TxOutcome::Pending { .. } if tokio::time::Instant::now() > deadline => {
                return Err(ChainError::Failed(format!(
                    "{purpose} transaction {id} not confirmed within {timeout:?}"
                )));
            }
            TxOutcome::Pending { .. } => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
