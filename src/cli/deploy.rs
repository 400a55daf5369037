//! `mintflow deploy`: deploys MintToken, our Settler (and with `--mock-usdc` the test USDC)
//! through the transaction pipeline and prints one JSON line of addresses. `mintflow dev` deploys with the
//! same code.
use std::time::Duration;

use alloy::primitives::U256;
use anyhow::Context;

use super::chain::{ChainArgs, ensure_database_matches_node, open_store};
use super::progress::ChainWait;
use crate::chain::deploy::{
    Deployed, TokenParams, deploy_mock_usdc, deploy_settler, deploy_token, grant_minters,
};
use crate::chain::local::SenderTask;
use crate::chain::{Chain, ChainConfig};
use crate::config::Settings;

#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Also deploy MockUSDC, a test USDC with an open faucet (development chains only: on a
    /// chain other than 31337 or 1337 it needs --force).
    #[arg(long)]
    pub mock_usdc: bool,
    /// Deploy MockUSDC even on a chain that is not a local development chain.
    #[arg(long, requires = "mock_usdc")]
    pub force: bool,
    #[command(flatten)]
    pub token: TokenArgs,
    /// Makes the deployment idempotent: running again with the same key (and database) prints
    /// the first run's addresses instead of deploying again. Default: a new deployment.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Seconds each deployment may take to be confirmed.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
    /// Blocks on top of a deployment's block before it counts as confirmed, for this run
    /// (default: the `confirmations` setting). 0 on a node that mines only on demand.
    #[arg(long, value_parser = clap::value_parser!(i64).range(0..=1000))]
    pub confirmations: Option<i64>,
    /// Seconds without a new block after which deploy says the chain is not producing blocks.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub no_block_warning_secs: u64,
}

/// MintToken's constructor arguments (the primary signer is its admin; every signer of the
/// pool is a minter).
#[derive(Clone, Debug, clap::Args)]
pub struct TokenArgs {
    /// Token name.
    #[arg(long, default_value = "Mint Token")]
    pub name: String,
    /// Token symbol.
    #[arg(long, default_value = "MINT")]
    pub symbol: String,
    /// Base units (18 decimals) one mint gives.
    #[arg(long, default_value = "1000000000000000000")]
    pub amount_per_mint: U256,
    /// Most base units that can ever exist.
    #[arg(long, default_value = "1000000000000000000000000000")]
    pub max_supply: U256,
}

/// The chain ids of local development nodes (anvil and hardhat; ganache): MockUSDC, whose
/// faucet is open to anyone, goes there without `--force`.
pub const LOCAL_CHAIN_IDS: [u64; 2] = [31337, 1337];

/// Connects, deploys with a sender running in this process, prints `Deployed` as one JSON line.
pub async fn run(database_url: &str, args: DeployArgs) -> anyhow::Result<()> {
    let rpc_url = args
        .chain
        .rpc_url()
        .context("deploy needs a chain: set RPC_URL (or --rpc-url)")?;
    let signers = args.chain.signer.load_pool()?;
    let (db, settings) = open_store(database_url).await?;
    if let Some(confirmations) = args.confirmations {
        // This process's copy only: the stored setting stays what the service uses.
        settings.replace(Settings {
            confirmations,
            ..settings.get()
        });
    }
    let confirmations = settings.get().confirmations;
    let config = ChainConfig {
        poll_ms: 200,
        ..args.chain.chain_config(rpc_url)
    };
    let chain = Chain::connect_pool(db.clone(), settings, signers, config, None)
        .await
        .context("connecting to the chain (RPC_URL)")?;
    anyhow::ensure!(
        !args.mock_usdc || args.force || LOCAL_CHAIN_IDS.contains(&chain.chain_id()),
        "--mock-usdc deploys a USDC anyone can mint, so it is refused on chain {} (local \
         development chains are {LOCAL_CHAIN_IDS:?}); add --force if this is a test chain",
        chain.chain_id()
    );
    ensure_database_matches_node(&chain).await?;
    let key = args
        .idempotency_key
        .unwrap_or_else(|| format!("deploy-{}", uuid::Uuid::now_v7()));
    let sender = SenderTask::start(&chain, "deploy");
    let progress = ChainWait {
        chain: &chain,
        confirmations,
        stalled_after: Duration::from_secs(args.no_block_warning_secs),
        stalled_hint: "Stop deploy and run it with --confirmations 0, or run the node with a \
                       block time (anvil --block-time 1).",
    };
    let timeout = Duration::from_secs(args.timeout_secs);
    let deployed = progress
        .around(async {
            let deployed =
                deploy_contracts(&chain, &key, args.mock_usdc, &args.token, timeout).await?;
            with_settler(&chain, &key, deployed, timeout).await
        })
        .await;
    sender.stop().await;
    db.close().await.ok();
    let deployed = deployed?;
    println!("{}", serde_json::to_string(&deployed)?);
    Ok(())
}

/// Deploys MockUSDC (when `mock_usdc`) and a MintToken with the primary signer as admin and
/// every signer of the pool as minter, grants MINTER_ROLE to any signer added since (a second
/// run with a larger pool), and waits for all of it to be confirmed. A sender must be running
/// for `chain`. The keys derive from `key`: the same key returns the same deployments.
pub async fn deploy_contracts(
    chain: &Chain,
    key: &str,
    mock_usdc: bool,
    token: &TokenArgs,
    timeout: Duration,
) -> anyhow::Result<Deployed> {
    let usdc = async {
        if !mock_usdc {
            return Ok(None);
        }
        let usdc = deploy_mock_usdc(chain, &format!("{key}:usdc"), timeout)
            .await
            .context("deploying MockUSDC")?;
        tracing::info!(%usdc, "MockUSDC deployed");
        anyhow::Ok(Some(usdc))
    };
    let params = TokenParams {
        name: token.name.clone(),
        symbol: token.symbol.clone(),
        amount_per_mint: token.amount_per_mint,
        max_supply: token.max_supply,
        admin: chain.signer(),
        minters: chain.signers(),
    };
    let token = async {
        let token = deploy_token(chain, &format!("{key}:token"), &params, timeout)
            .await
            .context("deploying MintToken")?;
        grant_minters(chain, &format!("{key}:token"), token, timeout)
            .await
            .context("granting MINTER_ROLE to every signer of the pool")?;
        tracing::info!(%token, "MintToken deployed");
        anyhow::Ok(token)
    };
    // One after the other: MockUSDC takes the signer's first nonce, so on a fresh dev chain its
    // address is always the same (the spec's payment examples are signed for it). Deployed
    // side by side, either could take it.
    let usdc = usdc.await?;
    let token = token.await?;
    Ok(Deployed {
        chain_id: chain.chain_id(),
        usdc,
        token,
        settler: None,
    })
}

/// Deploys our `Settler` (anyone may call it, so one per chain serves every payee) under
/// `{key}:settler` and adds it to `deployed`. A sender must be running for `chain`.
pub async fn with_settler(
    chain: &Chain,
    key: &str,
    deployed: Deployed,
    timeout: Duration,
) -> anyhow::Result<Deployed> {
    let settler = deploy_settler(chain, &format!("{key}:settler"), timeout)
        .await
        .context("deploying Settler")?;
    tracing::info!(%settler, "Settler deployed");
    Ok(Deployed {
        settler: Some(settler),
        ..deployed
    })
}
