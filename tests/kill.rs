//! `kill -9` of the real `mintflow serve` binary on PostgreSQL and anvil: five times at random
//! moments while 1,000 mint requests come in (in the end every accepted request is minted
//! exactly once, every workflow is terminal, an event stream that resumed after each kill saw
//! every transition once and in order, and a webhook got every confirmation), and once between
//! a payment's settlement broadcast and its confirmation (it settles once, with one mint), and
//! once between a settlement batch's broadcast and its confirmation (each of its payments
//! settles once).
mod common;

use std::collections::{BTreeMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use common::ops::{Receiver, SseClient};
use common::relay::Relay;
use common::stack::{
    AMOUNT_PER_MINT, PAYER_KEY, TestContracts, anvil_rpc, deploy_test_contracts, fresh_nonce,
    fund_usdc, minted_on_chain, sign_authorization, token_contract,
};
use common::{Backend, DEV_KEY, TestDb, anvil, eventually};
use mintflow::store::entity::workflow;
use mintflow::workflows::mint::MintData;
use rand::{Rng, SeedableRng};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::json;
use tokio::sync::Mutex;

const REQUESTS: usize = 1_000;
const KILLS: usize = 5;
/// Requests per second the load generator aims at: the load lasts about as long as the kills.
const RATE: u64 = 50;
const WAIT: Duration = Duration::from_secs(300);
const ADMIN_TOKEN: &str = "kill-test-admin";

/// The server under test; killed with SIGKILL when dropped.
struct Server {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Setup {
    database_url: String,
    rpc_url: String,
    token: Address,
    usdc: Address,
    /// The Settler the server settles payments through, if any (`SETTLER_ADDRESS`).
    settler: Option<Address>,
    /// The address clients use, whichever port the current run listens on.
    relay: Relay,
    logs: tempfile::TempDir,
    http: reqwest::Client,
}

impl Setup {
    /// A server for database `t` and chain `rpc`, behind a relay so that it comes back on the
    /// same address after each kill; started and healthy.
    async fn start(
        t: &TestDb,
        rpc: &str,
        contracts: TestContracts,
        batched_settlement: bool,
    ) -> (Setup, Server) {
        let setup = Setup {
            database_url: t.url.clone(),
            rpc_url: rpc.to_owned(),
            token: contracts.token,
            usdc: contracts.usdc,
            settler: batched_settlement.then_some(contracts.settler),
            relay: Relay::start().await,
            logs: tempfile::tempdir().unwrap(),
            http: common::http_as(ADMIN_TOKEN),
        };
        let server = setup.restart(0).await;
        (setup, server)
    }

    fn base(&self) -> String {
        format!("http://{}", self.relay.addr)
    }

    /// Starts run `run` of the server on a port of its own, points the relay at it and waits
    /// until it is healthy.
    async fn restart(&self, run: usize) -> Server {
        let server = self.spawn(run);
        let listening = eventually(
            Duration::from_secs(60),
            "the server to say where it listens",
            || async { listening_addr(&std::fs::read_to_string(&server.log).unwrap_or_default()) },
        )
        .await;
        self.relay.point_at(listening);
        healthy(&self.http, &self.base()).await;
        server
    }

    fn spawn(&self, run: usize) -> Server {
        let log = self.logs.path().join(format!("serve-{run}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_mintflow"))
            .arg("serve")
            .env("DATABASE_URL", &self.database_url)
            .env("DATABASE_MAX_CONNECTIONS", "8")
            .env("RPC_URL", &self.rpc_url)
            .env("SIGNER_PRIVATE_KEY", DEV_KEY)
            .env("TOKEN_ADDRESS", self.token.to_string())
            .env("USDC_ADDRESS", self.usdc.to_string())
            .envs(self.settler.map(|s| ("SETTLER_ADDRESS", s.to_string())))
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            // The test receiver listens on 127.0.0.1.
            .env("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
            .env("RUST_LOG", "info,mintflow=debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("run mintflow serve");
        Server { child, log }
    }
}

async fn healthy(http: &reqwest::Client, base: &str) {
    eventually(
        Duration::from_secs(60),
        "the server to answer /health",
        || async {
            let ok = http
                .get(format!("{base}/health"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            ok.then_some(())
        },
    )
    .await;
}

fn payer(n: usize) -> Address {
    Address::from_word(B256::from(U256::from(0x5000 + n)))
}

/// Sends every request until it is accepted (202, or 200 for a key accepted before the
/// answer was lost), at `RATE` per second; returns the accepted keys.
async fn load(http: reqwest::Client, base: String) -> Vec<String> {
    let next = Arc::new(Mutex::new(0usize));
    let pace = Arc::new(Mutex::new(tokio::time::interval(Duration::from_millis(
        1000 / RATE,
    ))));
    let mut clients = Vec::new();
    for _ in 0..16 {
        let (next, pace, http, base) = (next.clone(), pace.clone(), http.clone(), base.clone());
        clients.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            loop {
                let i = {
                    let mut n = next.lock().await;
                    if *n == REQUESTS {
                        break;
                    }
                    *n += 1;
                    *n - 1
                };
                pace.lock().await.tick().await;
                let key = format!("kill-{i}");
                let body = json!({ "payer": payer(i % 97).to_string() });
                // A real client: retries the same key while the server is down.
                loop {
                    let res = http
                        .post(format!("{base}/v1/mints"))
                        .header("Idempotency-Key", &key)
                        .json(&body)
                        .timeout(Duration::from_secs(10))
                        .send()
                        .await;
                    match res.map(|r| r.status().as_u16()) {
                        Ok(200 | 202) => break,
                        Ok(other) => panic!("request {key} answered {other}"),
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
                accepted.push(key);
            }
            accepted
        }));
    }
    let mut keys = Vec::new();
    for c in clients {
        keys.extend(c.await.unwrap());
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_mints_every_request_once() {
    let t = TestDb::new(Backend::Postgres).await;
    store_settings(
        &t,
        &[
            ("confirmations", 1),
            ("lease_seconds", 2),
            ("max_batch_size", 50),
            ("max_batch_wait_ms", 200),
            ("payer_rate_per_minute", 0),
            ("ip_rate_per_minute", 0),
            ("payment_rate_per_minute", 0),
            ("deploy_rate_per_minute", 0),
            ("public_read_rate_per_minute", 0),
            ("retry_base_delay_ms", 50),
            ("retry_max_delay_ms", 1000),
        ],
    )
    .await;
    let chain = anvil(&["--block-time", "1"]);
    let contracts = deploy_test_contracts(&t, &chain.endpoint(), 1_000_000).await;
    let token = contracts.token;
    let (setup, mut server) = Setup::start(&t, &chain.endpoint(), contracts, false).await;
    let (http, base) = (setup.http.clone(), setup.base());
    let receiver = Receiver::start(0).await;
    let res = http
        .post(format!("{base}/v1/webhooks"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "url": receiver.url, "kinds": ["mint"], "states": ["confirmed"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let followed = Arc::new(std::sync::Mutex::new(Followed::default()));
    let follower = tokio::spawn(follow(base.clone(), followed.clone()));

    let load = tokio::spawn(load(http.clone(), base.clone()));
    let seed: u64 = rand::rng().random();
    println!("kill moments seed: {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for run in 1..=KILLS {
        let after = Duration::from_millis(rng.random_range(1_000..4_000));
        tokio::time::sleep(after).await;
        // Then kill while a step holds a lease, when one comes within a few seconds: a kill
        // that falls between steps interrupts nothing, and five of them in a row did on a
        // loaded machine.
        let leased = "SELECT count(*) FROM workflows WHERE lease_owner IS NOT NULL";
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while t.scalar_i64(leased).await == 0 {}
        })
        .await;
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        println!("killed run {} after {after:?}", run - 1);
        server = setup.restart(run).await;
    }
    let accepted: HashSet<String> = load.await.unwrap().into_iter().collect();
    assert_eq!(accepted.len(), REQUESTS);

    let logs_of = |s: &Server| std::fs::read_to_string(&s.log).unwrap_or_default();
    eventually(WAIT, "every workflow to be terminal", || async {
        let open = t
            .scalar_i64(
                "SELECT count(*) FROM workflows \
                 WHERE status NOT IN ('completed', 'failed', 'cancelled')",
            )
            .await;
        (open == 0).then_some(())
    })
    .await;

    // The kills interrupted work under way: a later run took over leases a killed one held
    // (without it, every kill could have fallen between steps and proved nothing).
    let takeovers = t
        .scalar_i64("SELECT count(*) FROM workflow_events WHERE event = 'takeover'")
        .await;
    assert!(takeovers >= 1, "no kill interrupted a leased workflow");

    let mints = workflow::Entity::find()
        .filter(workflow::Column::Kind.eq("mint"))
        .all(&t.db)
        .await
        .unwrap();
    let keys: HashSet<String> = mints
        .iter()
        .filter_map(|m| m.idempotency_key.clone())
        .collect();
    assert_eq!(keys, accepted, "one mint per accepted request");
    let not_confirmed: Vec<_> = mints.iter().filter(|m| m.state != "confirmed").collect();
    assert!(
        not_confirmed.is_empty(),
        "mints not confirmed: {not_confirmed:?}\nlast server log:\n{}",
        logs_of(&server)
    );
    let ids: Vec<B256> = mints
        .iter()
        .map(|m| {
            serde_json::from_value::<MintData>(m.data.clone())
                .unwrap()
                .onchain_id
        })
        .collect();
    let contract = token_contract(&chain.endpoint(), token);
    assert!(
        minted_on_chain(&contract, &ids)
            .await
            .into_iter()
            .all(|m| m)
    );
    // Exactly once: the supply holds these mints and nothing more.
    assert_eq!(
        contract.totalSupply().call().await.unwrap(),
        U256::from(REQUESTS as u64 * AMOUNT_PER_MINT)
    );
    let open_txs = t
        .scalar_i64("SELECT count(*) FROM chain_txs WHERE status NOT IN ('confirmed', 'reverted', 'failed')")
        .await;
    assert_eq!(open_txs, 0, "transactions left open");

    // The stream, resumed with `Last-Event-ID` after every kill, saw every transition of every
    // mint once and in order.
    let mut histories = BTreeMap::new();
    for m in &mints {
        let ids: Vec<i64> = mintflow::store::events::history(&t.db, m.id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        histories.insert(m.id, ids);
    }
    // Generous: under the whole suite's load on two cores the follower, reconnecting after
    // each kill, once needed more than a minute to read every event back.
    eventually(
        Duration::from_secs(180),
        "the stream to catch up",
        || async {
            let f = followed.lock().unwrap();
            histories
                .iter()
                .all(|(id, h)| f.events.get(id).is_some_and(|seen| seen.len() >= h.len()))
                .then_some(())
        },
    )
    .await;
    follower.abort();
    {
        let f = followed.lock().unwrap();
        assert!(f.reconnects >= KILLS, "the stream resumed after each kill");
        assert!(
            f.positions.windows(2).all(|w| w[0] < w[1]),
            "no event twice, none out of order"
        );
        for (id, history) in &histories {
            assert_eq!(f.events.get(id), Some(history), "mint {id}");
        }
    }
    // The webhook got every confirmation (at least once: a kill between the receiver's answer
    // and its record sends one again, with the same `Mintflow-Event-Id`).
    let confirmed: HashSet<String> = mints.iter().map(|m| m.id.to_string()).collect();
    let delivered = eventually(
        Duration::from_secs(60),
        "every confirmation delivered",
        || async {
            let got: HashSet<String> = receiver
                .accepted()
                .iter()
                .map(|(_, body)| {
                    let event: serde_json::Value = serde_json::from_str(body).unwrap();
                    assert_eq!(event["toState"], "confirmed");
                    event["workflowId"].as_str().unwrap().to_owned()
                })
                .collect();
            (got.len() >= confirmed.len()).then_some(got)
        },
    )
    .await;
    assert_eq!(delivered, confirmed);
    drop(server);
}

/// What a follower of `/v1/events?kind=mint` saw: positions in arrival order and each
/// workflow's event ids.
#[derive(Default)]
struct Followed {
    positions: Vec<i64>,
    events: BTreeMap<uuid::Uuid, Vec<i64>>,
    reconnects: usize,
}

/// Follows the event stream across kills, resuming after the last position it saw.
async fn follow(base: String, followed: Arc<std::sync::Mutex<Followed>>) {
    let url = format!("{base}/v1/events?kind=mint");
    // From the start: nothing is missed even if the first mints come before the first connect.
    let mut last = Some(0);
    loop {
        let Some(mut stream) = SseClient::try_connect(&url, ADMIN_TOKEN, last).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        while let Some(e) = stream.next().await {
            let id: uuid::Uuid = e.data["workflowId"].as_str().unwrap().parse().unwrap();
            let mut f = followed.lock().unwrap();
            f.positions.push(e.id);
            f.events
                .entry(id)
                .or_default()
                .push(e.data["eventId"].as_i64().unwrap());
            last = Some(e.id);
        }
        followed.lock().unwrap().reconnects += 1;
    }
}

/// Stores `settings` for the server under test.
async fn store_settings(t: &TestDb, settings: &[(&str, i64)]) {
    for (key, value) in settings {
        mintflow::store::settings::put(
            &t.db,
            key,
            (*value).into(),
            "test",
            mintflow::store::now_ms(),
        )
        .await
        .unwrap();
    }
}

/// The address in the server log's "HTTP API listening" line (log colours aside).
fn listening_addr(log: &str) -> Option<std::net::SocketAddr> {
    let line = log.lines().find(|l| l.contains("HTTP API listening"))?;
    let plain = regex::Regex::new("\x1b\\[[0-9;]*m")
        .unwrap()
        .replace_all(line, "");
    let (_, after) = plain.split_once("addr=")?;
    after.split_whitespace().next()?.parse().ok()
}

async fn state_of(t: &TestDb, kind: &str) -> String {
    let backend = t.db.get_database_backend();
    let row =
        t.db.query_one_raw(sea_orm::Statement::from_string(
            backend,
            format!("SELECT state FROM workflows WHERE kind = '{kind}'"),
        ))
        .await
        .unwrap();
    row.map(|r| r.try_get::<String>("", "state").unwrap())
        .unwrap_or_default()
}

/// The default `MINT_PRICE`: 1 USDC.
const PRICE: u64 = 1_000_000;

/// A paying run: a PostgreSQL database, an anvil with our contracts that mines only when the
/// test says so, the payer funded, and a server (settling in batches when `batched`).
struct Paying {
    t: TestDb,
    /// Kept alive for the run: dropping it stops anvil.
    _chain: alloy::node_bindings::AnvilInstance,
    rpc: String,
    token: Address,
    usdc: Address,
    payer: alloy::signers::local::PrivateKeySigner,
    setup: Setup,
    server: Server,
}

impl Paying {
    /// Quick takeovers and retries, one confirmation, and `settings` on top; the payer holds
    /// `funds` USDC.
    async fn start(settings: &[(&str, i64)], funds: u64, batched: bool) -> Paying {
        let t = TestDb::new(Backend::Postgres).await;
        let quick = [
            ("confirmations", 1),
            ("lease_seconds", 2),
            ("retry_base_delay_ms", 50),
            ("retry_max_delay_ms", 1000),
        ];
        store_settings(&t, &quick).await;
        store_settings(&t, settings).await;
        let chain = anvil(&[]);
        let rpc = chain.endpoint();
        let contracts = deploy_test_contracts(&t, &rpc, 1_000).await;
        let (token, usdc) = (contracts.token, contracts.usdc);
        let payer: alloy::signers::local::PrivateKeySigner = PAYER_KEY.parse().unwrap();
        fund_usdc(&rpc, usdc, payer.address(), funds, false).await;
        // From now on blocks come only when the test mines them.
        anvil_rpc(&rpc, "evm_setAutomine", json!([false])).await;
        let (setup, server) = Setup::start(&t, &rpc, contracts, batched).await;
        Paying {
            t,
            _chain: chain,
            rpc,
            token,
            usdc,
            payer,
            setup,
            server,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_after_the_settlement_is_broadcast_pays_once() {
    let Paying {
        t,
        _chain,
        rpc,
        token,
        usdc,
        payer,
        setup,
        mut server,
    } = Paying::start(&[], 10 * PRICE, false).await;
    let (http, base) = (setup.http.clone(), setup.base());

    let nonce = fresh_nonce();
    let (authorization, signature) = sign_authorization(usdc, &payer, PRICE, nonce);
    let body =
        json!({ "paymentType": "gasless", "authorization": authorization, "signature": signature });
    let res = http
        .post(format!("{base}/v1/payments"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202, "{:?}", res.text().await);
    eventually(WAIT, "the settlement to be broadcast", || async {
        let sent = t
            .scalar_i64(
                "SELECT count(*) FROM chain_txs WHERE purpose = 'payment' AND status = 'sent'",
            )
            .await;
        (sent == 1).then_some(())
    })
    .await;
    server.child.kill().unwrap(); // SIGKILL between broadcast and confirmation
    server.child.wait().unwrap();
    anvil_rpc(&rpc, "anvil_mine", json!([1])).await; // mined while nobody watches

    server = setup.restart(1).await;
    eventually(WAIT, "the payment and its mint to be confirmed", || async {
        anvil_rpc(&rpc, "anvil_mine", json!([1])).await;
        let done = state_of(&t, "payment").await == "confirmed"
            && state_of(&t, "mint").await == "confirmed";
        done.then_some(())
    })
    .await;
    let provider: alloy::providers::RootProvider =
        alloy::providers::RootProvider::new_http(rpc.parse().unwrap());
    let mock = mintflow::chain::contracts::MockUSDC::new(usdc, provider);
    assert!(
        mock.authorizationState(payer.address(), nonce)
            .call()
            .await
            .unwrap()
    );
    assert_eq!(
        mock.balanceOf(payer.address()).call().await.unwrap(),
        U256::from(9 * PRICE)
    );
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chain_txs WHERE purpose = 'payment'")
            .await,
        1
    );
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM workflows WHERE kind IN ('payment', 'mint')")
            .await,
        2
    );
    assert_eq!(
        token_contract(&rpc, token)
            .totalSupply()
            .call()
            .await
            .unwrap(),
        U256::from(AMOUNT_PER_MINT)
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_batched_settlement_pays_each_once() {
    const PAYMENTS: usize = 20;
    let Paying {
        t,
        _chain,
        rpc,
        usdc,
        payer,
        setup,
        mut server,
        ..
    } = Paying::start(
        &[
            ("max_open_payments_per_payer", 100),
            ("max_settlement_wait_ms", 300),
        ],
        30 * PRICE,
        true,
    )
    .await;
    let (http, base) = (setup.http.clone(), setup.base());

    let nonces: Vec<B256> = (0..PAYMENTS).map(|_| fresh_nonce()).collect();
    for nonce in &nonces {
        let (authorization, signature) = sign_authorization(usdc, &payer, PRICE, *nonce);
        let body = json!({ "paymentType": "gasless", "authorization": authorization,
                           "signature": signature });
        let res = http
            .post(format!("{base}/v1/payments"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202, "{:?}", res.text().await);
    }
    eventually(WAIT, "every payment's batch to be broadcast", || async {
        let in_batches = t
            .scalar_i64("SELECT count(*) FROM workflows WHERE kind = 'payment' AND state = 'sent'")
            .await;
        let batches = t
            .scalar_i64("SELECT count(*) FROM workflows WHERE kind = 'settlement_batch'")
            .await;
        let broadcast = t
            .scalar_i64(
                "SELECT count(*) FROM chain_txs WHERE purpose = 'settlement_batch' \
                 AND status = 'sent'",
            )
            .await;
        (in_batches == PAYMENTS as i64 && broadcast == batches).then_some(())
    })
    .await;
    server.child.kill().unwrap(); // SIGKILL between broadcast and confirmation
    server.child.wait().unwrap();
    anvil_rpc(&rpc, "anvil_mine", json!([1])).await; // mined while nobody watches

    server = setup.restart(1).await;
    eventually(WAIT, "every payment to be confirmed", || async {
        anvil_rpc(&rpc, "anvil_mine", json!([1])).await;
        let confirmed = t
            .scalar_i64(
                "SELECT count(*) FROM workflows WHERE kind = 'payment' AND state = 'confirmed'",
            )
            .await;
        (confirmed == PAYMENTS as i64).then_some(())
    })
    .await;
    let provider: alloy::providers::RootProvider =
        alloy::providers::RootProvider::new_http(rpc.parse().unwrap());
    let mock = mintflow::chain::contracts::MockUSDC::new(usdc, provider);
    for nonce in &nonces {
        let used = mock
            .authorizationState(payer.address(), *nonce)
            .call()
            .await
            .unwrap();
        assert!(used);
    }
    assert_eq!(
        mock.balanceOf(payer.address()).call().await.unwrap(),
        U256::from((30 - PAYMENTS as u64) * PRICE)
    );
    // One transaction per batch, each batch confirmed, every payment's receipt recorded.
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chain_txs WHERE purpose = 'settlement_batch'")
            .await,
        t.scalar_i64(
            "SELECT count(*) FROM workflows WHERE kind = 'settlement_batch' \
             AND state = 'confirmed'"
        )
        .await
    );
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chain_txs WHERE purpose = 'payment'")
            .await,
        0
    );
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM payment_receipts WHERE tx_hash IS NOT NULL")
            .await,
        PAYMENTS as i64
    );
    drop(server);
}
