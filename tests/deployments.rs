//! Paid token deployments on a real anvil, on PostgreSQL and SQLite: concurrent requests are
//! all queued and deployed (through the new path and the old one), each token usable for a
//! mint at once; a repeated request is the first deployment. Tokens mintflow did not deploy
//! are registered (route and CLI) after their on-chain checks, and minted through.
#[macro_use]
mod common;

use std::process::Command;
use std::time::Duration;

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, U256};
use alloy::providers::ProviderBuilder;
use alloy::signers::local::PrivateKeySigner;
use common::stack::{
    PAYER_KEY, Stack, StackOptions, fresh_nonce, fund_usdc, sign_authorization, token_contract,
};
use common::{Backend, DEV_KEY, eventually};
use mintflow::chain::contracts::MintToken;
use serde_json::{Value, json};

alloy::sol!(
    #[sol(rpc)]
    LegacyMintToken,
    "contracts/out/LegacyMintToken.json"
);

const WAIT: Duration = Duration::from_secs(180);
/// The default `DEPLOY_PRICE`: 10 USDC.
const DEPLOY_PRICE: u64 = 10_000_000;
const DEPLOYMENTS: usize = 20;

on_both_backends!(concurrent_paid_deployments_are_all_deployed_and_mintable);

fn body(stack: &Stack, payer: &PrivateKeySigner, n: usize) -> Value {
    let (authorization, signature) =
        sign_authorization(stack.usdc, payer, DEPLOY_PRICE, fresh_nonce());
    json!({
        "name": format!("Token {n}"), "symbol": format!("T{n}"),
        "amountPerMint": "5", "maxSupply": "1000",
        "owner": payer.address().to_string(),
        "payment": { "authorization": authorization, "signature": signature },
    })
}

async fn concurrent_paid_deployments_are_all_deployed_and_mintable(backend: Backend) {
    // One payer pays for all of them at once: the intake's per-payer cap is not under test.
    let stack = Stack::start(
        backend,
        StackOptions {
            settings: &[("max_open_payments_per_payer", DEPLOYMENTS as i64)],
            // A pool: every signer becomes a minter of each deployed token.
            signers: 2,
            ..Default::default()
        },
    )
    .await;
    let payer: PrivateKeySigner = PAYER_KEY.parse().unwrap();
    // Twice the price of all: a settlement mined but not yet confirmed counts against the
    // balance it already left, and a request coming then would be refused.
    fund_usdc(
        &stack.anvil.endpoint(),
        stack.usdc,
        payer.address(),
        2 * DEPLOYMENTS as u64 * DEPLOY_PRICE,
        false,
    )
    .await;
    // A spec that cannot be deployed is refused with its code, and paid nothing (the count of
    // payments at the end is the 20 alone).
    for (field, value, status, code) in [
        ("name", "", 422, "invalid_name"),
        ("symbol", "", 422, "invalid_symbol"),
        ("amountPerMint", "0", 422, "invalid_supply"),
        ("maxSupply", "a lot", 400, "invalid_number"),
    ] {
        let mut refused = body(&stack, &payer, DEPLOYMENTS);
        refused[field] = json!(value);
        let (got, e) = stack.post("/v1/deployments", &refused).await;
        assert_eq!(
            (got, e["code"].as_str()),
            (status, Some(code)),
            "{field}: {e}"
        );
    }
    let bodies: Vec<Value> = (0..DEPLOYMENTS).map(|n| body(&stack, &payer, n)).collect();
    // Every other one through the old path, `POST /api/deploy`: the same operation.
    let path = |n: usize| ["/v1/deployments", "/api/deploy"][n % 2];
    let answers = futures::future::join_all(
        bodies
            .iter()
            .enumerate()
            .map(|(n, b)| stack.post(path(n), b)),
    )
    .await;
    let mut ids = Vec::new();
    for (status, d) in &answers {
        assert_eq!(*status, 202, "no request is refused for concurrency: {d}");
        ids.push(d["id"].as_str().unwrap().to_owned());
    }

    let mut addresses = Vec::new();
    for id in &ids {
        let d = eventually(
            WAIT,
            &format!("deployment {id} to be confirmed"),
            || async {
                let (_, d) = stack.get(&format!("/v1/deployments/{id}")).await;
                (d["status"] == "confirmed").then_some(d)
            },
        )
        .await;
        addresses.push(d["address"].as_str().unwrap().to_owned());
    }
    let (_, tokens) = stack.get("/v1/tokens").await;
    assert_eq!(
        tokens.as_array().unwrap().len(),
        DEPLOYMENTS + 1,
        "the 20 and the default token"
    );
    let (_, t) = stack.get(&format!("/v1/tokens/{}", addresses[0])).await;
    assert_eq!(
        (t["symbol"].as_str(), t["deployer"].as_str()),
        (
            Some("T0"),
            Some(payer.address().to_string().to_lowercase().as_str())
        )
    );

    // Every signer of the pool may mint each token (not the primary alone).
    let signers = stack.service.chain.as_ref().unwrap().signers();
    assert_eq!(signers.len(), 2);
    for address in &addresses {
        let token = token_contract(&stack.anvil.endpoint(), address.parse().unwrap());
        let role = token.MINTER_ROLE().call().await.unwrap();
        for signer in &signers {
            assert!(
                token.hasRole(role, *signer).call().await.unwrap(),
                "{signer} mints {address}"
            );
        }
    }

    // Each token takes a mint at once.
    let mut mints = Vec::new();
    for address in &addresses {
        let (status, m) = stack
            .post(
                "/v1/mints",
                &json!({ "payer": payer.address().to_string(), "token": address }),
            )
            .await;
        assert_eq!(status, 202, "{m}");
        mints.push(m["id"].as_str().unwrap().to_owned());
    }
    for id in &mints {
        eventually(WAIT, &format!("mint {id} to be confirmed"), || async {
            let (_, m) = stack.get(&format!("/v1/mints/{id}")).await;
            (m["status"] == "confirmed").then_some(())
        })
        .await;
    }
    for address in &addresses {
        let token = token_contract(&stack.anvil.endpoint(), address.parse().unwrap());
        assert_eq!(
            token.balanceOf(payer.address()).call().await.unwrap(),
            U256::from(5)
        );
    }

    // The same request again: the first deployment, not paid again.
    let (status, again) = stack.post("/v1/deployments", &bodies[0]).await;
    assert_eq!(
        (status, again["id"].as_str()),
        (200, Some(ids[0].as_str())),
        "{again}"
    );
    let payments = stack
        .t
        .scalar_i64("SELECT count(*) FROM workflows WHERE kind = 'payment'")
        .await;
    assert_eq!(payments, DEPLOYMENTS as i64);
    stack.service.stop().await;
}

/// What the old-interface test token mints per id.
const LEGACY_AMOUNT: u64 = 7;

/// Tokens with only the old server's `batchMint` and `hasMinted` are registered through the
/// route and the CLI (the same use case) and minted through; an EOA, a contract without the
/// functions, a token whose minter is someone else, a value the contract contradicts and a second
/// registration are refused with their codes, and change nothing. On PostgreSQL only: the
/// checks do not touch the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_mintflow_did_not_deploy_are_checked_registered_and_minted() {
    let stack = Stack::start(Backend::Postgres, StackOptions::default()).await;
    let rpc = stack.anvil.endpoint();
    let payer: PrivateKeySigner = PAYER_KEY.parse().unwrap();
    // Deployed by the payer: the signer's nonces belong to the service's pipeline.
    let as_payer = ProviderBuilder::new()
        .wallet(EthereumWallet::from(payer.clone()))
        .connect_http(rpc.parse().unwrap());
    let signer = DEV_KEY.parse::<PrivateKeySigner>().unwrap().address();
    let amount = U256::from(LEGACY_AMOUNT);
    let by_route = *LegacyMintToken::deploy(&as_payer, amount, signer)
        .await
        .unwrap()
        .address();
    let by_cli = *LegacyMintToken::deploy(&as_payer, amount, signer)
        .await
        .unwrap()
        .address();
    let not_ours = *LegacyMintToken::deploy(&as_payer, amount, payer.address())
        .await
        .unwrap()
        .address();

    let stack_ref = &stack;
    let register = |address: Address, values: bool| {
        let mut body = json!({ "address": address.to_string() });
        if values {
            body["amountPerMint"] = json!(LEGACY_AMOUNT.to_string());
            body["maxSupply"] = json!((100 * LEGACY_AMOUNT).to_string());
        }
        async move { stack_ref.post("/v1/tokens", &body).await }
    };
    for (address, code) in [
        (payer.address(), "not_a_contract"),
        (stack.usdc, "token_lacks_function"),
        (not_ours, "signer_may_not_mint"),
    ] {
        let (status, e) = register(address, true).await;
        assert_eq!((status, e["code"].as_str()), (422, Some(code)), "{e}");
    }
    // A value given must be the one the contract tells.
    let told = *MintToken::deploy(
        &as_payer,
        "Told".into(),
        "TOLD".into(),
        U256::from(5),
        U256::from(500),
        signer,
        vec![signer],
    )
    .await
    .unwrap()
    .address();
    let other_amount = json!({ "address": told.to_string(), "amountPerMint": "6" });
    let (status, e) = stack.post("/v1/tokens", &other_amount).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (422, Some("conflicting_token_value")),
        "the contract says 5: {e}"
    );
    let (status, e) = register(by_route, false).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (422, Some("missing_token_value")),
        "the old token has no amountPerMint() to read: {e}"
    );
    // Admin only: a `read` key is refused before any check.
    let reader = common::http_as(&common::create_key(&stack.t.db, "reader", "read").await);
    let res = reader
        .post(format!("{}/v1/tokens", stack.base))
        .json(&json!({ "address": by_route.to_string() }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["code"], "insufficient_scope", "{err}");
    let (status, t) = register(by_route, true).await;
    assert_eq!(status, 201, "{t}");
    assert_eq!(
        (t["symbol"].as_str(), t["amountPerMint"].as_str()),
        (Some("OLD"), Some("7"))
    );
    let (status, e) = register(by_route, true).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (409, Some("token_already_registered")),
        "{e}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_mintflow"))
        .args(["tokens", "add", &by_cli.to_string(), "--json"])
        .args(["--amount-per-mint", "7", "--max-supply", "700"])
        .env("DATABASE_URL", &stack.t.url)
        .env("RPC_URL", &rpc)
        .env("SIGNER_PRIVATE_KEY", DEV_KEY)
        .env("USER", "dana")
        .output()
        .expect("run mintflow");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let t: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(t["address"], by_cli.to_string().to_lowercase());

    // Three mints to the route's token, one to the CLI's: batches of the old interface.
    let mut mints = Vec::new();
    for token in [by_route, by_route, by_route, by_cli] {
        let body = json!({ "payer": payer.address().to_string(), "token": token.to_string() });
        let (status, m) = stack.post("/v1/mints", &body).await;
        assert_eq!(status, 202, "{m}");
        mints.push(m["id"].as_str().unwrap().to_owned());
    }
    for id in &mints {
        eventually(WAIT, &format!("mint {id} to be confirmed"), || async {
            let (_, m) = stack.get(&format!("/v1/mints/{id}")).await;
            (m["status"] == "confirmed").then_some(())
        })
        .await;
    }
    for (token, mints) in [(by_route, 3), (by_cli, 1)] {
        let token = LegacyMintToken::new(token, &as_payer);
        let balance = token.balanceOf(payer.address()).call().await.unwrap();
        assert_eq!(balance, U256::from(mints * LEGACY_AMOUNT));
    }

    // The refusals recorded nothing: two registrations, each audited once.
    let (_, tokens) = stack.get("/v1/tokens").await;
    assert_eq!(
        tokens.as_array().unwrap().len(),
        3,
        "the default and the two"
    );
    let audited = stack
        .t
        .scalar_i64(
            "SELECT count(*) FROM audit_log WHERE action = 'token.register' \
             AND (actor = 'admin' OR actor = 'dana')",
        )
        .await;
    assert_eq!(audited, 2);
    stack.service.stop().await;
}
