//! Paid token deployments on a real anvil, on PostgreSQL and SQLite: concurrent requests are
//! all queued and deployed, each token usable for a mint at once; a repeated request is the
//! first deployment.
#[macro_use]
mod common;

use std::time::Duration;

use alloy::primitives::U256;
use alloy::signers::local::PrivateKeySigner;
use common::stack::{
    PAYER_KEY, Stack, StackOptions, fresh_nonce, fund_usdc, sign_authorization, token_contract,
};
use common::{Backend, eventually};
use serde_json::{Value, json};

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
    let bodies: Vec<Value> = (0..DEPLOYMENTS).map(|n| body(&stack, &payer, n)).collect();
    let answers =
        futures::future::join_all(bodies.iter().map(|b| stack.post("/v1/deployments", b))).await;
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
