//! `mintflow dev`: the one-command demo. Starts a local anvil, deploys MockUSDC, a MintToken
//! and our Settler through the pipeline, gives anvil's accounts 1-9 test USDC, then serves the API with the
//! chain until Ctrl-C or SIGTERM, which stops the service and anvil.
use std::time::Duration;

use alloy::node_bindings::AnvilInstance;
use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use anyhow::Context;

use super::chain::{SignerArgs, ensure_database_matches_node};
use super::deploy::{TokenArgs, deploy_contracts, with_settler};
use crate::app::keys::{self, NewKey, Scope, Scopes};
use crate::chain::contracts::MockUSDC;
use crate::chain::deploy::{Deployed, TokenParams, deploy_token};
use crate::chain::local::{SenderTask, find_anvil, spawn_anvil, wait_final};
use crate::chain::{Call, Chain, ChainConfig, Submit, TxOutcome};
use crate::config::SettingsHandle;
use crate::engine::EngineConfig;
use crate::service::{ChainSetup, Contracts, Role, Service, ServiceConfig};
use crate::store::time::Clock;
use crate::webhooks::target::TargetPolicy;
use crate::{store, workflows};
use zeroize::Zeroizing;

/// The database `dev` uses unless DATABASE_URL is given; deleted at every start, because the
/// anvil chain it describes does not outlive the run.
pub const DEV_DATABASE_URL: &str = "sqlite://data/dev.db?mode=rwc";
const DEV_DATABASE_FILE: &str = "data/dev.db";
/// Test USDC each of anvil's accounts 1-9 receives (6 decimals).
const FAUCET_USDC: u64 = 10_000;
/// How long setup transactions may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// Mine a block for every transaction instead of every --block-time seconds (the
    /// `confirmations` setting is then set to 0: no further blocks would come).
    #[arg(long)]
    pub automine: bool,
    /// Seconds between anvil's blocks (without --automine).
    #[arg(long, default_value_t = 1.0)]
    pub block_time: f64,
    /// HTTP listen address.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:4021")]
    pub listen_addr: String,
    /// Bearer token for admin endpoints; without it they are closed.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<crate::config::Secret>,
    /// The signer (default: anvil's first dev account).
    #[command(flatten)]
    pub signer: SignerArgs,
    #[command(flatten)]
    pub token: TokenArgs,
    /// Settle gasless and x402 payments in batches through the Settler `dev` deploys (as
    /// `serve --settler` does); without it, each payment is its own transaction.
    #[arg(long)]
    pub batched_settlement: bool,
}

/// Runs the demo. `database_url` is the DATABASE_URL the user gave, if any.
pub async fn run(database_url: Option<String>, args: DevArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.automine || (args.block_time.is_finite() && args.block_time > 0.0),
        "--block-time must be a positive number of seconds (or pass --automine)"
    );
    let anvil_path = find_anvil()?;
    let block_time = (!args.automine).then_some(args.block_time);
    let fresh_db = database_url.is_none();
    let database_url = match database_url {
        Some(url) => url,
        None => {
            remove_dev_database()?;
            DEV_DATABASE_URL.to_owned()
        }
    };
    // One signal future for the whole run: its handlers are installed at the first poll (below)
    // and stay, so a signal during setup is not lost.
    let signal = crate::service::shutdown_signal();
    tokio::pin!(signal);

    let anvil = spawn_anvil(anvil_path, block_time).await?;
    let result = async {
        let setup = setup(&anvil, &database_url, &args);
        let (
            signers,
            Setup {
                deployed,
                unregistered,
            },
            dev_key,
        ) = tokio::select! {
            r = setup => r?,
            _ = &mut signal => {
                tracing::info!("shutdown requested during setup");
                return Ok(());
            }
        };
        let config = ServiceConfig {
            database_url: database_url.clone(),
            database_max_connections: store::DEFAULT_POOL_SIZE,
            listen_addr: args.listen_addr.clone(),
            admin_token: args.admin_token.clone(),
            public_reads: false,
            role: Role::All,
            engine: EngineConfig::generated(),
            limits: Default::default(),
            edge: Default::default(),
            // The demo runs on one machine: its webhook receivers are local too.
            webhook_targets: TargetPolicy {
                allow_private: true,
            },
            chain: Some(ChainSetup {
                config: ChainConfig {
                    settler: deployed.settler.filter(|_| args.batched_settlement),
                    ..args.signer.chain_config(&anvil.endpoint())
                },
                signers: signers.clone(),
                contracts: Contracts {
                    token: Some(deployed.token),
                    usdc: deployed.usdc,
                    ..Default::default()
                },
            }),
        };
        let service = Service::start(config, workflows::registry).await?;
        let addr = service
            .http_addr()
            .context("the dev service has no HTTP address")?;
        print_banner(&Banner {
            addr: &addr.to_string(),
            anvil: &anvil,
            automine: args.automine,
            block_time: args.block_time,
            batched_settlement: args.batched_settlement,
            deployed: &deployed,
            unregistered,
            signer: signers[0].address(),
            database_url: &database_url,
            fresh_db,
            admin: args.admin_token.as_deref().is_some_and(|t| !t.is_empty()),
            key: &dev_key,
        });
        (&mut signal).await;
        tracing::info!("shutdown requested");
        service.stop().await;
        Ok(())
    }
    .await;
    // Dropping the instance stops anvil (SIGTERM, then SIGKILL); it waits, so not on the runtime.
    let _ = tokio::task::spawn_blocking(move || drop(anvil)).await;
    tracing::info!("anvil stopped");
    result
}

fn remove_dev_database() -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{DEV_DATABASE_FILE}{suffix}");
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing the old {path}")),
        }
    }
    Ok(())
}

/// Deploys the contracts and funds the accounts, with a sender of its own that is stopped
/// before the service starts its own.
async fn setup(
    anvil: &AnvilInstance,
    database_url: &str,
    args: &DevArgs,
) -> anyhow::Result<(Vec<PrivateKeySigner>, Setup, Zeroizing<String>)> {
    // A pool (SIGNER_PRIVATE_KEYS, KEYSTORE_DIR) works too: deploy_contracts grants every
    // signer MINTER_ROLE.
    let signers = if args.signer.is_set() {
        args.signer.load_pool()?
    } else {
        vec![PrivateKeySigner::from(anvil.first_key().clone())]
    };
    let db = store::connect(database_url)
        .await
        .context("connecting to the database (DATABASE_URL)")?;
    store::migrate(&db).await.context("applying migrations")?;
    let clock = Clock::system();
    // The demo's own key, so its curls and dashboard work the way a real client's would.
    let dev_key = keys::create(
        &db,
        NewKey {
            name: "dev".into(),
            scopes: Scopes::of([Scope::Read, Scope::Mint]),
            expires_in: None,
            mint_quota_per_minute: None,
            max_mint_priority: 0,
            facilitator_pay_to: None,
        },
        "mintflow dev",
        &clock,
    )
    .await
    .context("creating the dev API key")?
    .key;
    if args.automine {
        let who = "mintflow dev --automine";
        store::settings::put(&db, "confirmations", 0.into(), who, clock.now_ms()).await?;
    }
    let settings = SettingsHandle::load(&db)
        .await
        .context("loading settings")?;
    let config = ChainConfig {
        poll_ms: 100,
        ..args.signer.chain_config(&anvil.endpoint())
    };
    let chain = Chain::connect_pool(db.clone(), settings, signers.clone(), config, None)
        .await
        .context("connecting to anvil")?;
    ensure_database_matches_node(&chain).await?;
    // Keys unique to this anvil instance (its genesis block is stamped with its start time), so
    // a database kept across runs never mistakes an earlier chain's contracts for this one's.
    let genesis = chain
        .provider()
        .get_block_by_number(0.into())
        .await
        .context("reading anvil's genesis block")?
        .context("anvil has no genesis block")?
        .header
        .hash;
    let key = format!("dev-{genesis:#x}");
    let sender = SenderTask::start(&chain, "dev-setup");
    let result = async {
        let deployed = deploy_contracts(&chain, &key, true, &args.token, SETUP_TIMEOUT).await?;
        let usdc = deployed.usdc.context("MockUSDC was not deployed")?;
        let accounts = anvil.addresses().iter().skip(1).take(9).copied();
        fund(&chain, &key, usdc, accounts).await?;
        // Last, after every other transaction of the setup, so its address is always the same
        // (the spec's `POST /v1/tokens` example names it).
        let unregistered = deploy_token(
            &chain,
            &format!("{key}:unregistered"),
            &TokenParams {
                name: "Example Token".into(),
                symbol: "EXT".into(),
                amount_per_mint: args.token.amount_per_mint,
                max_supply: args.token.max_supply,
                admin: chain.signer(),
                minters: chain.signers(),
            },
            SETUP_TIMEOUT,
        )
        .await
        .context("deploying the token to register")?;
        // After the token to register, whose address the spec's example names.
        let deployed = with_settler(&chain, &key, deployed, SETUP_TIMEOUT).await?;
        Ok(Setup {
            deployed,
            unregistered,
        })
    }
    .await;
    sender.stop().await;
    drop(chain);
    db.close().await.ok();
    result.map(|setup| (signers, setup, dev_key))
}

/// What the setup deployed.
struct Setup {
    deployed: Deployed,
    /// A token mints cannot target yet: `POST /v1/tokens` registers it.
    unregistered: Address,
}

/// Mints test USDC to each account through the pipeline and waits until every mint is final.
async fn fund(
    chain: &Chain,
    key: &str,
    usdc: Address,
    accounts: impl Iterator<Item = Address>,
) -> anyhow::Result<()> {
    let amount = U256::from(FAUCET_USDC) * U256::from(1_000_000u64);
    let mut ids = Vec::new();
    for to in accounts {
        let id = chain
            .submit(Submit {
                key: format!("{key}:faucet:{to:#x}"),
                owner: None,
                purpose: "faucet".into(),
                call: Call {
                    to: Some(usdc),
                    input: MockUSDC::mintCall { to, amount }.abi_encode().into(),
                    value: U256::ZERO,
                    gas_limit: None,
                },
            })
            .await
            .with_context(|| format!("submitting the USDC faucet mint to {to}"))?;
        ids.push((to, id));
    }
    for (to, id) in ids {
        match wait_final(chain, id, SETUP_TIMEOUT).await? {
            TxOutcome::Confirmed { .. } => {}
            other => anyhow::bail!("the USDC faucet mint to {to} did not go through: {other:?}"),
        }
    }
    tracing::info!(usdc_each = FAUCET_USDC, "anvil accounts 1-9 funded");
    Ok(())
}

struct Banner<'a> {
    addr: &'a str,
    anvil: &'a AnvilInstance,
    automine: bool,
    block_time: f64,
    batched_settlement: bool,
    deployed: &'a Deployed,
    unregistered: Address,
    signer: Address,
    database_url: &'a str,
    fresh_db: bool,
    admin: bool,
    /// The `read,mint` key `dev` created.
    key: &'a str,
}

fn print_banner(b: &Banner<'_>) {
    let base = format!("http://{}", b.addr);
    let mining = if b.automine {
        "a block per transaction, confirmations set to 0".to_owned()
    } else {
        format!("a block every {} s", b.block_time)
    };
    let database = if b.fresh_db {
        format!(
            "{} (fresh every run; set DATABASE_URL to choose one)",
            b.database_url
        )
    } else {
        b.database_url.to_owned()
    };
    let usdc = b
        .deployed
        .usdc
        .map(|a| a.to_string())
        .unwrap_or_else(|| "-".into());
    let settler = b
        .deployed
        .settler
        .map(|a| a.to_string())
        .unwrap_or_else(|| "-".into());
    let settlement = if b.batched_settlement {
        "payments settle through it in batches"
    } else {
        "unused: pass --batched-settlement to settle payments in batches"
    };
    let admin = if b.admin {
        "set (--admin-token)"
    } else {
        "closed (pass --admin-token to open retry, cancel and settings)"
    };
    println!(
        "\nmintflow dev: local chain, contracts and API are up\n\n\
         \x20 dashboard   {base}/ui\n\
         \x20 Swagger UI  {base}/docs\n\
         \x20 API         {base}\n\
         \x20 RPC         {rpc}  (anvil, chain id {chain_id}, {mining})\n\
         \x20 USDC        {usdc}  (MockUSDC, 6 decimals; anvil accounts 1-9 hold 10,000 each)\n\
         \x20 token       {token}  (MintToken)\n\
         \x20 to register {unregistered}  (a MintToken mints cannot target yet: POST /v1/tokens)\n\
         \x20 settler     {settler}  (Settler; {settlement})\n\
         \x20 signer      {signer}\n\
         \x20 database    {database}\n\
         \x20 admin       {admin}\n\
         \x20 key         {key}  (scopes read,mint: for curl and the dashboard)\n\n\
         \x20 try:     curl -s {base}/ready\n\
         \x20 mint:    curl -s -X POST {base}/v1/mints -H 'authorization: Bearer {key}' -H 'content-type: application/json' -d '{{\"payer\":\"{payer}\"}}'\n\
         \x20 follow:  curl -s {base}/v1/mints/ID   (ID: the `id` it answered; anyone may read a mint by id)\n\
         \x20 queue:   curl -s -H 'authorization: Bearer {key}' {base}/v1/queue\n\
         \x20 live:    curl -sN -H 'authorization: Bearer {key}' {base}/v1/events   (every transition as it happens)\n\n\
         Ctrl-C stops the API and anvil.",
        payer = b.anvil.addresses().get(1).copied().unwrap_or(b.signer),
        rpc = b.anvil.endpoint(),
        chain_id = b.deployed.chain_id,
        token = b.deployed.token,
        unregistered = b.unregistered,
        signer = b.signer,
        key = b.key,
    );
    println!("mintflow dev ready: {base}");
}
