//! Payment benchmark: the whole service against a local anvil mining a block every second, paid
//! with gasless payments (`POST /v1/payments`, one signed EIP-3009 authorization of one mint
//! each, from `--payers` funded keys) and measured until every payment is settled: how many
//! payments per minute the intake, the settlement through the transaction pipeline and the
//! confirmation carry, with the intake's per-payer checks on. Side by side in one run: each
//! payment settled in a transaction of its own, then batched through our `Settler` (with the
//! gas each settled payment cost, read from the settlement receipts).
use std::time::{Duration, Instant};

use alloy::network::EthereumWallet;
use alloy::node_bindings::AnvilInstance;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolStruct;
use anyhow::Context;
use futures::StreamExt;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use super::cpu::Cpu;
use super::mint::deploy_bench_token;
use super::scratch::{ScratchArgs, on_scratch};
use super::{BackendChoice, cores, service_config};
use crate::chain::contracts::MockUSDC;
use crate::chain::deploy::{deploy_mock_usdc, deploy_settler};
use crate::chain::local::{SenderTask, find_anvil, spawn_anvil};
use crate::chain::{Chain, ChainConfig};
use crate::config::SettingsHandle;
use crate::service::{ChainSetup, Contracts, Service};
use crate::store::entity::workflow;
use crate::store::workflows::Status;
use crate::workflows::payment::{PAYMENT, PaymentState};
use crate::x402::verify::TransferWithAuthorization;
use crate::x402::{Offer, SETTLEMENT_WAIT_SECS};
use crate::{store, workflows};

#[derive(Debug, clap::Args)]
pub struct PaymentsBenchArgs {
    /// Gasless payments (of one mint each) to settle.
    #[arg(long, default_value_t = 300)]
    pub payments: usize,
    /// Payers they come from, round robin: new keys, each funded with test USDC (1 to
    /// 10,000). A payer's payments are checked one at a time (under its lock), so few payers
    /// bound the intake.
    #[arg(long, default_value_t = 9)]
    pub payers: usize,
    /// HTTP clients posting them concurrently.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    #[command(flatten)]
    pub databases: ScratchArgs,
    /// Which backends to measure.
    #[arg(long, value_enum, default_value = "both")]
    pub backend: BackendChoice,
    /// Payments the one-transaction-each run settles (default: --payments). It settles a few
    /// hundred a minute, so a large batched run need not wait for as many of its own.
    #[arg(long)]
    pub one_each_payments: Option<usize>,
    /// The `max_settlement_batch_size` setting of the batched run.
    #[arg(long, default_value_t = 1000)]
    pub settlement_batch_size: i64,
    /// The `max_settlement_wait_ms` setting of the batched run.
    #[arg(long, default_value_t = 200)]
    pub settlement_wait_ms: i64,
}

/// How a run settles its payments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Settlement {
    /// One `transferWithAuthorization` transaction per payment (no settler).
    OneEach,
    /// Through the `Settler`, many per transaction.
    Batched,
}

/// Most payers a run may have (each is funded by a transaction of its own).
const MAX_PAYERS: usize = 10_000;
/// Seconds between anvil's blocks: Base's block time.
const BLOCK_TIME_SECS: f64 = 1.0;
/// The price of one mint (the default `MINT_PRICE`), in USDC base units.
const PRICE: u64 = 1_000_000;
/// How often the sender looks at its transactions when nothing wakes it.
const SENDER_POLL_MS: u64 = 100;
/// How often the database is asked how many payments are settled.
const SETTLED_POLL: Duration = Duration::from_millis(100);
/// Longest a run may take to settle every payment.
const WAIT: Duration = Duration::from_secs(900);
/// Longest one setup transaction may take.
const TX_TIMEOUT: Duration = Duration::from_secs(120);

pub async fn run(args: PaymentsBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.payments > 0
            && args.one_each_payments != Some(0)
            && args.clients > 0
            && (1..=MAX_PAYERS).contains(&args.payers),
        "--payments, --one-each-payments and --clients must be positive, --payers between 1 \
         and {MAX_PAYERS}"
    );
    let anvil = find_anvil()?;
    println!(
        "mintflow bench payments: the whole service on 127.0.0.1 against anvil mining a block \
         every {BLOCK_TIME_SECS} s; {} gasless payments of one mint from {} payers, posted by {} \
         HTTP clients; confirmations 1, max_open_payments_per_payer {}, no rate limits; {} cores",
        args.payments,
        args.payers,
        args.clients,
        args.payments,
        cores()
    );
    crate::config::settings::validate(
        "max_settlement_batch_size",
        &args.settlement_batch_size.into(),
    )?;
    crate::config::settings::validate("max_settlement_wait_ms", &args.settlement_wait_ms.into())?;
    for (store, name) in args.backend.stores() {
        for settlement in [Settlement::OneEach, Settlement::Batched] {
            match settlement {
                Settlement::OneEach => println!("\n== {name}, one transaction each =="),
                Settlement::Batched => println!(
                    "\n== {name}, batched (max_settlement_batch_size {}, \
                     max_settlement_wait_ms {}) ==",
                    args.settlement_batch_size, args.settlement_wait_ms
                ),
            }
            let node = spawn_anvil(anvil.clone(), Some(BLOCK_TIME_SECS)).await?;
            let result = on_scratch(store, "payments", &args.databases, async |url, db| {
                let payments = match settlement {
                    Settlement::OneEach => args.one_each_payments.unwrap_or(args.payments),
                    Settlement::Batched => args.payments,
                };
                bench_on(url, &db, &node, &args, settlement, payments).await
            })
            .await;
            // Dropping the instance stops anvil and waits for it: not on the runtime.
            let _ = tokio::task::spawn_blocking(move || drop(node)).await;
            result?;
        }
    }
    Ok(())
}

/// Deploys the token and MockUSDC, funds the payers, starts the service and measures.
async fn bench_on(
    url: &str,
    db: &DatabaseConnection,
    node: &AnvilInstance,
    args: &PaymentsBenchArgs,
    settlement: Settlement,
    payments: usize,
) -> anyhow::Result<()> {
    let settings = [
        ("max_settlement_batch_size", args.settlement_batch_size),
        ("max_settlement_wait_ms", args.settlement_wait_ms),
        ("payer_rate_per_minute", 0),
        ("ip_rate_per_minute", 0),
        ("payment_rate_per_minute", 0),
        ("confirmations", 1),
        // Each payer has many payments under way: the cap would measure the payer count.
        ("max_open_payments_per_payer", payments as i64),
    ];
    for (key, value) in settings {
        store::settings::put(
            db,
            key,
            value.into(),
            "mintflow bench payments",
            store::now_ms(),
        )
        .await?;
    }
    let signer = PrivateKeySigner::from(node.first_key().clone());
    let chain_config = ChainConfig {
        rpc_url: node.endpoint(),
        poll_ms: SENDER_POLL_MS,
        ..ChainConfig::default()
    };
    let token = deploy_bench_token(db, signer.clone(), chain_config.clone()).await?;
    let (usdc, settler) = deploy_usdc(db, signer.clone(), chain_config.clone()).await?;
    let payers: Vec<PrivateKeySigner> = (0..args.payers)
        .map(|_| PrivateKeySigner::random())
        .collect();
    // Twice what they pay: a settlement mined but not yet confirmed counts against the balance
    // it already left, and the benchmark measures settling, not refusing.
    let each = U256::from(2 * PRICE) * U256::from(payments.div_ceil(args.payers));
    fund(node, usdc, &payers, each).await?;
    let chain = ChainSetup {
        config: ChainConfig {
            settler: (settlement == Settlement::Batched).then_some(settler),
            ..chain_config
        },
        signers: vec![signer.clone()],
        contracts: Contracts {
            token: Some(token),
            usdc: Some(usdc),
            ..Default::default()
        },
    };
    let config = service_config(url, chain);
    let service = Service::start(config, workflows::registry).await?;
    let result = measure(
        &service,
        db,
        node.child().id(),
        usdc,
        &payers,
        args,
        payments,
    )
    .await;
    service.stop().await;
    result
}

/// Deploys MockUSDC and the Settler with a sender of its own, stopped before the service
/// starts its own.
async fn deploy_usdc(
    db: &DatabaseConnection,
    signer: PrivateKeySigner,
    config: ChainConfig,
) -> anyhow::Result<(Address, Address)> {
    let settings = SettingsHandle::load(db).await?;
    let chain = Chain::connect(db.clone(), settings, signer, config, None)
        .await
        .context("connecting to anvil")?;
    let sender = SenderTask::start(&chain, "bench-setup");
    let usdc = deploy_mock_usdc(&chain, "bench-usdc", TX_TIMEOUT).await;
    let settler = deploy_settler(&chain, "bench-settler", TX_TIMEOUT).await;
    sender.stop().await;
    Ok((
        usdc.context("deploying MockUSDC")?,
        settler.context("deploying the Settler")?,
    ))
}

/// Gives each payer `amount` from MockUSDC's open faucet, all in flight at once, sent by
/// anvil's second account (the first is the service's signer, whose nonces its pipeline owns).
async fn fund(
    node: &AnvilInstance,
    usdc: Address,
    payers: &[PrivateKeySigner],
    amount: U256,
) -> anyhow::Result<()> {
    let faucet = PrivateKeySigner::from(node.keys()[1].clone());
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(faucet))
        .connect_http(node.endpoint().parse()?);
    let usdc = MockUSDC::new(usdc, &provider);
    let mut pending = Vec::with_capacity(payers.len());
    for payer in payers {
        pending.push((
            payer.address(),
            usdc.mint(payer.address(), amount).send().await?,
        ));
    }
    for (payer, sent) in pending {
        let receipt = sent.get_receipt().await?;
        anyhow::ensure!(receipt.status(), "funding {payer} reverted");
    }
    Ok(())
}

/// Posts every payment, then waits until each accepted one is settled.
async fn measure(
    service: &Service,
    db: &DatabaseConnection,
    node_pid: u32,
    usdc: Address,
    payers: &[PrivateKeySigner],
    args: &PaymentsBenchArgs,
    payments: usize,
) -> anyhow::Result<()> {
    let addr = service
        .http_addr()
        .context("the service has no HTTP address")?;
    let chain = service.chain.as_ref().context("the service has no chain")?;
    let chain_id = chain.provider().get_chain_id().await?;
    let offer = Offer {
        chain_id,
        asset: usdc,
        asset_name: "USD Coin".into(),
        asset_version: "2".into(),
        // The service's offers pay its signer (no PAY_TO in the benchmark).
        pay_to: chain.signer(),
        amount: U256::from(PRICE),
        min_validity_secs: 0,
    };
    // Signed up front: the clock measures the service, not the signing.
    let valid_before = chrono::Utc::now().timestamp() as u64 + WAIT.as_secs();
    let bodies: Vec<serde_json::Value> = (0..payments)
        .map(|i| authorization(&offer, &payers[i % payers.len()], i, valid_before))
        .collect();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .timeout(Duration::from_secs(SETTLEMENT_WAIT_SECS * 2))
        .build()?;
    let url = format!("http://{addr}/v1/payments");

    let cpu_before = Cpu::read(db, node_pid).await?;
    let started = Instant::now();
    let answers: Vec<String> = futures::stream::iter(bodies)
        .map(|body| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                match http.post(&url).json(&body).send().await {
                    Ok(res) if res.status().as_u16() == 202 => String::new(),
                    Ok(res) => {
                        let status = res.status().as_u16();
                        let body: serde_json::Value = res.json().await.unwrap_or_default();
                        format!("{status} {}", body["code"].as_str().unwrap_or_default())
                    }
                    Err(e) => format!("no answer: {e}"),
                }
            }
        })
        .buffer_unordered(args.clients)
        .collect()
        .await;
    let accepted = answers.iter().filter(|a| a.is_empty()).count();
    let posted = started.elapsed().as_secs_f64();
    let mut refused: Vec<&String> = answers.iter().filter(|a| !a.is_empty()).collect();
    refused.sort();
    refused.dedup();
    println!(
        "intake: {} payments posted in {posted:.2} s, {accepted} accepted ({} not 202: {refused:?})",
        payments,
        payments - accepted
    );
    let (confirmed, failed) = wait_settled(db, accepted).await?;
    let secs = started.elapsed().as_secs_f64();
    let gas = settlement_gas(service, db).await?;
    println!(
        "settled: {confirmed} payments confirmed ({failed} failed) {secs:.1} s after the first \
         request = {:.0} settled gasless payments/min; {:.0} gas per settled payment",
        confirmed as f64 / secs * 60.0,
        gas as f64 / confirmed.max(1) as f64
    );
    let cpu = Cpu::read(db, node_pid).await?.since(&cpu_before);
    let per_1000 = |ms: u64| ms as f64 * 1000.0 / confirmed.max(1) as f64;
    println!(
        "cost per 1,000 settled payments: {:.0} CPU ms in this process (the service and the \
         load generator) + {:.0} in anvil + {:.0} in PostgreSQL (its processes for this \
         database; 0 on SQLite, which runs in this process)",
        per_1000(cpu.own),
        per_1000(cpu.node),
        per_1000(cpu.postgres.values().sum())
    );
    Ok(())
}

/// The `POST /v1/payments` body of the `i`-th payment: one mint, paid by `payer`.
fn authorization(
    offer: &Offer,
    payer: &PrivateKeySigner,
    i: usize,
    valid_before: u64,
) -> serde_json::Value {
    let mut nonce = [0u8; 32];
    nonce[24..].copy_from_slice(&(i as u64).to_be_bytes());
    let nonce = B256::from(nonce);
    let message = TransferWithAuthorization {
        from: payer.address(),
        to: offer.pay_to,
        value: offer.amount,
        validAfter: U256::ZERO,
        validBefore: U256::from(valid_before),
        nonce,
    };
    let signature = payer
        .sign_hash_sync(&message.eip712_signing_hash(&offer.domain()))
        .expect("a local key signs");
    json!({
        "paymentType": "gasless",
        "authorization": {
            "from": payer.address().to_string(),
            "to": offer.pay_to.to_string(),
            "value": offer.amount.to_string(),
            "validAfter": "0",
            "validBefore": valid_before.to_string(),
            "nonce": nonce.to_string(),
        },
        "signature": Bytes::from(signature.as_bytes()).to_string(),
    })
}

/// The gas of every transaction that settled a confirmed payment (each counted once: a batch
/// settles many), from their receipts.
async fn settlement_gas(service: &Service, db: &DatabaseConnection) -> anyhow::Result<u64> {
    let chain = service.chain.as_ref().context("the service has no chain")?;
    let rows = workflow::Entity::find()
        .filter(workflow::Column::Kind.eq(PAYMENT))
        .filter(workflow::Column::State.eq(PaymentState::Confirmed.as_str()))
        .all(db)
        .await?;
    let mut hashes: Vec<B256> = rows
        .iter()
        .filter_map(|r| r.data["tx_hash"].as_str()?.parse().ok())
        .collect();
    hashes.sort();
    hashes.dedup();
    let gas: Vec<anyhow::Result<u64>> = futures::stream::iter(hashes)
        .map(|hash| async move {
            let receipt = chain
                .provider()
                .get_transaction_receipt(hash)
                .await?
                .with_context(|| format!("no receipt for settlement {hash}"))?;
            Ok(receipt.gas_used)
        })
        .buffer_unordered(16)
        .collect()
        .await;
    gas.into_iter().sum()
}

/// Waits until `n` payments are confirmed or failed; returns how many of each. Nothing
/// signals this process when a payment settles, so it counts rows every 100 ms.
async fn wait_settled(db: &DatabaseConnection, n: usize) -> anyhow::Result<(usize, usize)> {
    let deadline = Instant::now() + WAIT;
    let mut tick = tokio::time::interval(SETTLED_POLL);
    loop {
        tick.tick().await;
        let payments = || workflow::Entity::find().filter(workflow::Column::Kind.eq(PAYMENT));
        let confirmed = payments()
            .filter(workflow::Column::State.eq(PaymentState::Confirmed.as_str()))
            .count(db)
            .await? as usize;
        let failed = payments()
            .filter(workflow::Column::Status.eq(Status::Failed.as_str()))
            .count(db)
            .await? as usize;
        if confirmed + failed >= n {
            return Ok((confirmed, failed));
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {confirmed} of {n} payments confirmed ({failed} failed) in {WAIT:?}"
        );
    }
}
