//! A whole mintflow in the test process: a fresh database, its own anvil, a deployed token and
//! the service (engine, sender, batcher, HTTP API) on a free port.
use std::time::Duration;

use alloy::node_bindings::AnvilInstance;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::RootProvider;
use alloy::signers::local::PrivateKeySigner;
use mintflow::api::edge::EdgeConfig;
use mintflow::chain::contracts::MintToken;
use mintflow::chain::deploy::{self, TokenParams};
use mintflow::chain::local::SenderTask;
use mintflow::chain::{Chain, ChainConfig};
use mintflow::config::SettingsHandle;
use mintflow::engine::EngineConfig;
use mintflow::service::{ChainSetup, Contracts, Role, Service, ServiceConfig};
use mintflow::webhooks::target::TargetPolicy;
use mintflow::{store, workflows};
use serde_json::Value;

use super::proxy::NodeProxy;
use super::{Backend, DEV_KEY, TestDb, anvil};

pub const ADMIN_TOKEN: &str = "test-admin-token";
/// Token units minted per id by the test token.
pub const AMOUNT_PER_MINT: u64 = 10;

pub struct StackOptions<'a> {
    pub anvil_args: &'a [&'a str],
    /// Mints the token allows in total.
    pub max_mints: u64,
    /// Settings stored before the service starts.
    pub settings: &'a [(&'a str, i64)],
    /// Stop mining once the token is deployed: the test mines with `anvil_mine`.
    pub manual_mining: bool,
    /// Puts the service's node behind a [`NodeProxy`] at a URL with this secret path.
    pub node_secret: Option<&'a str>,
    /// Changes the service's configuration before it starts (e.g. leaves a contract out).
    pub configure: fn(&mut ServiceConfig),
    /// Signers of the service's pool, from `POOL_ACCOUNTS` (the primary is anvil's first
    /// account); each holds MINTER_ROLE of the token.
    pub signers: usize,
    /// Settle payments in batches through the deployed `Settler`.
    pub batched_settlement: bool,
}

/// The anvil accounts the signer pool is made of: the first, then accounts no test sends from
/// (the second pays, the third plays someone else).
pub const POOL_ACCOUNTS: [usize; 4] = [0, 5, 6, 7];

impl Default for StackOptions<'_> {
    fn default() -> Self {
        StackOptions {
            anvil_args: &["--block-time", "1"],
            max_mints: 1_000_000,
            settings: &[],
            manual_mining: false,
            node_secret: None,
            configure: |_| {},
            signers: 1,
            batched_settlement: false,
        }
    }
}

pub struct Stack {
    pub t: TestDb,
    pub anvil: AnvilInstance,
    pub service: Service,
    pub base: String,
    pub token: Address,
    /// MockUSDC (EIP-3009); the signer (anvil's first account) is `PAY_TO`.
    pub usdc: Address,
    /// Our Settler (used with `StackOptions::batched_settlement`).
    pub settler: Address,
    /// Sends the admin token: it may do everything.
    pub http: reqwest::Client,
    /// What the service reaches the node through, with `StackOptions::node_secret`.
    pub proxy: Option<NodeProxy>,
    /// What the service was started with (`restart` starts it again so).
    pub config: ServiceConfig,
}

impl Stack {
    pub async fn start(backend: Backend, opts: StackOptions<'_>) -> Stack {
        let t = TestDb::new(backend).await;
        // Test defaults: one confirmation, no rate limits, quick retries.
        let defaults = [
            ("confirmations", 1),
            ("payer_rate_per_minute", 0),
            ("ip_rate_per_minute", 0),
            ("payment_rate_per_minute", 0),
            ("deploy_rate_per_minute", 0),
            ("public_read_rate_per_minute", 0),
            ("retry_base_delay_ms", 50),
            ("retry_max_delay_ms", 1000),
        ];
        for (key, value) in defaults.iter().chain(opts.settings) {
            store::settings::put(&t.db, key, (*value).into(), "test", store::now_ms())
                .await
                .unwrap();
        }
        let anvil = anvil(opts.anvil_args);
        let TestContracts {
            token,
            usdc,
            settler,
        } = deploy_test_contracts(&t, &anvil.endpoint(), opts.max_mints).await;
        let signers: Vec<PrivateKeySigner> = POOL_ACCOUNTS[..opts.signers]
            .iter()
            .map(|i| PrivateKeySigner::from(anvil.keys()[*i].clone()))
            .collect();
        if signers.len() > 1 {
            grant_minters(&t, &anvil.endpoint(), &signers, token).await;
        }
        if opts.manual_mining {
            anvil_rpc(
                &anvil.endpoint(),
                "evm_setAutomine",
                serde_json::json!([false]),
            )
            .await;
        }
        let proxy = match opts.node_secret {
            Some(secret) => Some(NodeProxy::start(&anvil.endpoint(), secret).await),
            None => None,
        };
        let rpc_url = proxy
            .as_ref()
            .map_or_else(|| anvil.endpoint(), NodeProxy::url);
        let mut config = ServiceConfig {
            database_url: t.url.clone(),
            database_max_connections: 8,
            listen_addr: "127.0.0.1:0".into(),
            admin_token: Some(ADMIN_TOKEN.into()),
            public_reads: false,
            role: Role::All,
            engine: EngineConfig {
                worker_id: "test-worker".into(),
                shutdown_grace: Duration::from_secs(5),
            },
            limits: Default::default(),
            // Every test client is 127.0.0.1: per-client caps are off like the rates above
            // (tests/edge.rs tests them).
            edge: EdgeConfig {
                max_x402_waits_per_client: 10_000,
                max_event_streams_per_client: Some(10_000),
                ..Default::default()
            },
            // The test receivers listen on 127.0.0.1.
            webhook_targets: TargetPolicy {
                allow_private: true,
            },
            chain: Some(ChainSetup {
                config: ChainConfig {
                    rpc_url,
                    poll_ms: 100,
                    settler: opts.batched_settlement.then_some(settler),
                    ..Default::default()
                },
                signers,
                contracts: Contracts {
                    token: Some(token),
                    usdc: Some(usdc),
                    ..Default::default()
                },
            }),
        };
        (opts.configure)(&mut config);
        let service = Service::start(config.clone(), workflows::registry)
            .await
            .unwrap();
        let base = format!("http://{}", service.http_addr().unwrap());
        Stack {
            t,
            anvil,
            service,
            base,
            token,
            usdc,
            settler,
            http: super::http_as(ADMIN_TOKEN),
            proxy,
            config,
        }
    }

    /// Stops the service and starts it again on the same database and node, with its
    /// configuration changed by `change` (a new process after a deploy, say).
    pub async fn restart(self, change: fn(&mut ServiceConfig)) -> Stack {
        let Stack {
            service,
            mut config,
            ..
        } = self;
        service.stop().await;
        change(&mut config);
        let service = Service::start(config.clone(), workflows::registry)
            .await
            .unwrap();
        Stack {
            base: format!("http://{}", service.http_addr().unwrap()),
            service,
            config,
            ..self
        }
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Changes a setting through the admin API, as an operator would.
    pub async fn put_setting(&self, key: &str, value: i64) {
        let res = self
            .http
            .put(format!("{}/v1/settings/{key}", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&serde_json::json!({ "value": value }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{:?}", res.text().await);
    }

    pub fn token_contract(&self) -> MintToken::MintTokenInstance<RootProvider> {
        token_contract(&self.anvil.endpoint(), self.token)
    }

    /// The status and mined block of the one pipeline transaction sent for `purpose`
    /// (`mint_batch`, `settlement_batch`...): `""` before there is one.
    pub async fn chain_tx(&self, purpose: &str) -> (String, Option<i64>) {
        use sea_orm::{ConnectionTrait, Statement};
        let row = self
            .t
            .db
            .query_one_raw(Statement::from_string(
                self.t.db.get_database_backend(),
                format!("SELECT status, mined_block FROM chain_txs WHERE purpose = '{purpose}'"),
            ))
            .await
            .unwrap();
        match row {
            Some(r) => (
                r.try_get("", "status").unwrap(),
                r.try_get("", "mined_block").unwrap(),
            ),
            None => (String::new(), None),
        }
    }

    /// Waits (4 minutes at most) until the transaction for `purpose` is `want`; its mined block.
    pub async fn wait_chain_tx(&self, purpose: &str, want: &str) -> Option<i64> {
        super::eventually(
            Duration::from_secs(240),
            &format!("the {purpose} transaction to be {want}"),
            || async {
                let (status, block) = self.chain_tx(purpose).await;
                (status == want).then_some(block)
            },
        )
        .await
    }
}

/// Calls an anvil method that has no typed binding.
pub async fn anvil_rpc(rpc: &str, method: &'static str, params: Value) -> Value {
    use alloy::providers::Provider;
    let provider: RootProvider = RootProvider::new_http(rpc.parse().unwrap());
    provider
        .raw_request::<_, Value>(method.into(), params)
        .await
        .unwrap()
}

pub fn token_contract(rpc: &str, token: Address) -> MintToken::MintTokenInstance<RootProvider> {
    MintToken::new(token, RootProvider::new_http(rpc.parse().unwrap()))
}

pub struct TestContracts {
    pub token: Address,
    pub usdc: Address,
    pub settler: Address,
}

/// Deploys a MintToken allowing `max_mints` mints and a MockUSDC, with a pipeline and sender
/// of their own that are stopped before the service starts its own.
pub async fn deploy_test_contracts(t: &TestDb, rpc: &str, max_mints: u64) -> TestContracts {
    // Final at once: the chain may be automining, with no blocks on top.
    let settings = SettingsHandle::load(&t.db).await.unwrap();
    settings.replace(mintflow::config::Settings {
        confirmations: 0,
        ..settings.get()
    });
    let signer = mintflow::chain::signer::load(Some(DEV_KEY), None, None).unwrap();
    let config = ChainConfig {
        rpc_url: rpc.to_owned(),
        poll_ms: 100,
        ..Default::default()
    };
    let chain = Chain::connect(t.db.clone(), settings, signer, config, None)
        .await
        .unwrap();
    let sender = SenderTask::start(&chain, "test-deploy");
    let params = TokenParams {
        name: "Test".into(),
        symbol: "TST".into(),
        amount_per_mint: U256::from(AMOUNT_PER_MINT),
        max_supply: U256::from(max_mints * AMOUNT_PER_MINT),
        admin: chain.signer(),
        minters: chain.signers(),
    };
    let wait = Duration::from_secs(60);
    let token = deploy::deploy_token(&chain, "test-token", &params, wait)
        .await
        .unwrap();
    let usdc = deploy::deploy_mock_usdc(&chain, "test-usdc", wait)
        .await
        .unwrap();
    let settler = deploy::deploy_settler(&chain, "test-settler", wait)
        .await
        .unwrap();
    sender.stop().await;
    TestContracts {
        token,
        usdc,
        settler,
    }
}

/// Grants every signer of the pool `signers` MINTER_ROLE of `token`, from the primary.
async fn grant_minters(t: &TestDb, rpc: &str, signers: &[PrivateKeySigner], token: Address) {
    let settings = SettingsHandle::load(&t.db).await.unwrap();
    settings.replace(mintflow::config::Settings {
        confirmations: 0,
        ..settings.get()
    });
    let config = ChainConfig {
        rpc_url: rpc.to_owned(),
        poll_ms: 100,
        ..Default::default()
    };
    let chain = Chain::connect_pool(t.db.clone(), settings, signers.to_vec(), config, None)
        .await
        .unwrap();
    let sender = SenderTask::start(&chain, "test-grant");
    deploy::grant_minters(&chain, "test-token", token, Duration::from_secs(60))
        .await
        .unwrap();
    sender.stop().await;
}

/// Whether the token minted each of `ids`, asked of the chain concurrently.
pub async fn minted_on_chain(
    contract: &MintToken::MintTokenInstance<RootProvider>,
    ids: &[B256],
) -> Vec<bool> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(50) {
        let calls = chunk
            .iter()
            .map(|id| async move { contract.hasMinted(*id).call().await.unwrap() });
        out.extend(futures::future::join_all(calls).await);
    }
    out
}

/// Anvil's second account: the payer in payment tests.
pub const PAYER_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

/// What the stack's server asks payers to sign for `amount` (USDC base units).
pub fn test_offer(usdc: Address, amount: u64) -> mintflow::x402::Offer {
    use alloy::signers::local::PrivateKeySigner;
    mintflow::x402::Offer {
        chain_id: 31337,
        asset: usdc,
        asset_name: "USD Coin".into(),
        asset_version: "2".into(),
        pay_to: DEV_KEY.parse::<PrivateKeySigner>().unwrap().address(),
        amount: U256::from(amount),
        min_validity_secs: 120,
    }
}

/// A fresh EIP-3009 authorization nonce.
pub fn fresh_nonce() -> B256 {
    B256::from_slice(&uuid::Uuid::new_v4().as_bytes().repeat(2))
}

/// An EIP-3009 authorization by `who` paying `value` of `usdc` to the test `PAY_TO`, valid for five
/// minutes, as the JSON API takes it: `(authorization, signature)`.
pub fn sign_authorization(
    usdc: Address,
    who: &alloy::signers::local::PrivateKeySigner,
    value: u64,
    nonce: B256,
) -> (Value, String) {
    let valid_before = chrono::Utc::now().timestamp() as u64 + 300;
    sign_authorization_until(usdc, who, value, nonce, valid_before)
}

/// `sign_authorization`, valid until unix time `valid_before`.
pub fn sign_authorization_until(
    usdc: Address,
    who: &alloy::signers::local::PrivateKeySigner,
    value: u64,
    nonce: B256,
    valid_before: u64,
) -> (Value, String) {
    use alloy::signers::SignerSync;
    use alloy::sol_types::SolStruct;
    let offer = test_offer(usdc, value);
    let message = mintflow::x402::verify::TransferWithAuthorization {
        from: who.address(),
        to: offer.pay_to,
        value: U256::from(value),
        validAfter: U256::ZERO,
        validBefore: U256::from(valid_before),
        nonce,
    };
    let sig = who
        .sign_hash_sync(&message.eip712_signing_hash(&offer.domain()))
        .unwrap();
    let authorization = serde_json::json!({
        "from": who.address().to_string(), "to": offer.pay_to.to_string(),
        "value": value.to_string(), "validAfter": "0",
        "validBefore": valid_before.to_string(), "nonce": nonce.to_string(),
    });
    (
        authorization,
        alloy::primitives::Bytes::from(sig.as_bytes()).to_string(),
    )
}

/// Gives `who` test USDC from the faucet (sent by the payer account), mining a block when the
/// chain does not mine by itself.
pub async fn fund_usdc(rpc: &str, usdc: Address, who: Address, amount: u64, mine: bool) {
    use alloy::network::EthereumWallet;
    use alloy::providers::ProviderBuilder;
    let payer: alloy::signers::local::PrivateKeySigner = PAYER_KEY.parse().unwrap();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(payer))
        .connect_http(rpc.parse().unwrap());
    let usdc = mintflow::chain::contracts::MockUSDC::new(usdc, &provider);
    let pending = usdc.mint(who, U256::from(amount)).send().await.unwrap();
    if mine {
        anvil_rpc(rpc, "anvil_mine", serde_json::json!([1])).await;
    }
    assert!(pending.get_receipt().await.unwrap().status());
}

alloy::sol! {
    /// EIP-3009's cancellation of an authorization, as its authorizer signs it.
    struct CancelAuthorization {
        address authorizer;
        bytes32 nonce;
    }
}

/// `who` cancels their authorization `nonce` with a tip that puts it before our settlement:
/// the settlement, when it is mined, reverts.
pub async fn cancel_authorization(
    stack: &Stack,
    who: &alloy::signers::local::PrivateKeySigner,
    nonce: B256,
) {
    use alloy::network::EthereumWallet;
    use alloy::providers::ProviderBuilder;
    use alloy::signers::SignerSync;
    use alloy::sol_types::SolStruct;
    let domain = test_offer(stack.usdc, 0).domain();
    let cancel = CancelAuthorization {
        authorizer: who.address(),
        nonce,
    };
    let sig = who
        .sign_hash_sync(&cancel.eip712_signing_hash(&domain))
        .unwrap();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(who.clone()))
        .connect_http(stack.anvil.endpoint().parse().unwrap());
    let _pending = mintflow::chain::contracts::MockUSDC::new(stack.usdc, &provider)
        .cancelAuthorization_1(
            who.address(),
            nonce,
            alloy::primitives::Bytes::from(sig.as_bytes()),
        )
        .gas(200_000) // estimating would see the pending settlement and revert
        .max_priority_fee_per_gas(100_000_000_000)
        .max_fee_per_gas(200_000_000_000)
        .send()
        .await
        .unwrap();
}
