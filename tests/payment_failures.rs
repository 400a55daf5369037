//! Payments that end without confirming, against MockUSDC on a real anvil, on PostgreSQL and
//! SQLite: whether the engine gives up on one or an operator cancels it, what it paid for (mints
//! in `awaiting_payment`, a deployment) is cancelled with it and no view says `pending`; an
//! operator's retry of the payment puts them back, and they mint once it confirms.
//!
//! The settlement fails transiently because the signer has no ether for gas (anvil's
//! `anvil_setBalance`): the payment is accepted and simulated, then each submission is refused
//! for insufficient funds until the balance comes back.
#[macro_use]
mod common;

use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use common::stack::{
    AMOUNT_PER_MINT, PAYER_KEY, Stack, StackOptions, anvil_rpc, fresh_nonce, fund_usdc,
    sign_authorization,
};
use common::{Backend, DEV_KEY, eventually};
use mintflow::cli::archive::{self, ArchiveArgs};
use mintflow::store;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(120);
/// The default `MINT_PRICE`: 1 USDC.
const PRICE: u64 = 1_000_000;
/// The default `DEPLOY_PRICE`: 10 USDC.
const DEPLOY_PRICE: u64 = 10_000_000;

on_both_backends!(
    a_payment_the_engine_gave_up_on_cancels_its_mints_until_retried,
    an_operator_cancel_takes_the_mints_and_the_deployment_until_retried,
    a_failed_payment_whose_deployment_was_archived_buys_no_other,
);

fn payer() -> PrivateKeySigner {
    PAYER_KEY.parse().unwrap()
}

/// The service's signer, which pays the settlements' gas.
fn signer() -> Address {
    DEV_KEY.parse::<PrivateKeySigner>().unwrap().address()
}

/// Sets the signer's ether: none makes every settlement fail transiently before it is signed.
async fn signer_ether(stack: &Stack, wei: U256) {
    anvil_rpc(
        &stack.anvil.endpoint(),
        "anvil_setBalance",
        json!([signer().to_string(), format!("{wei:#x}")]),
    )
    .await;
}

fn plenty() -> U256 {
    U256::from(10u64).pow(U256::from(22u64))
}

/// A gasless payment for `quantity` mints.
fn mints_body(stack: &Stack, quantity: u64) -> Value {
    let (authorization, signature) =
        sign_authorization(stack.usdc, &payer(), quantity * PRICE, fresh_nonce());
    json!({
        "paymentType": "gasless",
        "authorization": authorization,
        "signature": signature,
        "quantity": quantity,
    })
}

fn deployment_body(stack: &Stack) -> Value {
    let (authorization, signature) =
        sign_authorization(stack.usdc, &payer(), DEPLOY_PRICE, fresh_nonce());
    json!({
        "name": "Stranded", "symbol": "STR", "amountPerMint": "5", "maxSupply": "1000",
        "owner": payer().address().to_string(),
        "payment": { "authorization": authorization, "signature": signature },
    })
}

async fn accepted(stack: &Stack, path: &str, body: &Value) -> Value {
    let (status, answer) = stack.post(path, body).await;
    assert_eq!(status, 202, "{answer}");
    answer
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

async fn workflow(stack: &Stack, id: &str) -> Value {
    stack.get(&format!("/v1/workflows/{id}")).await.1
}

async fn events(stack: &Stack, id: &str) -> Vec<Value> {
    let (_, h) = stack.get(&format!("/v1/workflows/{id}/history")).await;
    h["events"].as_array().unwrap().clone()
}

/// Payment `id` has ended as `status` (`failed`, `cancelled`), and so has every view of it;
/// what it paid for is cancelled, with the reason naming the payment.
async fn stranded_nothing(stack: &Stack, id: &str, status: &str, children: &[(&str, &str)]) {
    let (_, p) = stack.get(&format!("/v1/payments/{id}")).await;
    assert_eq!(p["status"], status, "{p}");
    let (_, old) = stack.get(&format!("/api/payment/{id}")).await;
    assert_ne!(old["payment"]["status"], "pending", "{old}");
    for live in ["pending", "processing", "sent", "checking"] {
        let (_, page) = stack.get(&format!("/v1/payments?status={live}")).await;
        assert!(
            page["items"].as_array().unwrap().is_empty(),
            "no payment is {live}: {page}"
        );
    }
    let (_, page) = stack.get(&format!("/v1/payments?status={status}")).await;
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == id),
        "{page}"
    );
    for (path, child) in children {
        let (_, view) = stack.get(&format!("{path}/{child}")).await;
        assert_eq!(view["status"], "cancelled", "{view}");
        assert!(view["error"].as_str().unwrap().contains(id), "{view}");
        let row = workflow(stack, child).await;
        assert_eq!(
            (row["state"].as_str(), row["status"].as_str()),
            (Some("cancelled"), Some("cancelled"))
        );
        let last = events(stack, child).await.pop().unwrap();
        assert_eq!(last["event"], "parent_ended", "{last}");
        assert_eq!(last["detail"]["parent"], id, "{last}");
    }
    for waiting in ["awaiting_payment", "pending"] {
        let (_, page) = stack.get(&format!("/v1/mints?status={waiting}")).await;
        assert!(
            page["items"].as_array().unwrap().is_empty(),
            "no mint is {waiting}: {page}"
        );
    }
    let awaiting = stack
        .t
        .scalar_i64("SELECT count(*) FROM workflows WHERE state = 'awaiting_payment'")
        .await;
    assert_eq!(awaiting, 0, "nothing is left awaiting a payment that ended");
}

/// Retries payment `id` as an operator: its children come back to `awaiting_payment` in the
/// retry's own transaction (the history shows them back before the payment moves them on).
async fn retry(stack: &Stack, id: &str, children: &[&str]) {
    let (status, answer) = stack
        .post(&format!("/v1/workflows/{id}/retry"), &json!({}))
        .await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("running")),
        "{answer}"
    );
    for child in children {
        let back = events(stack, child)
            .await
            .into_iter()
            .find(|e| e["event"] == "parent_retried")
            .expect("the child was put back");
        assert_eq!(
            (back["fromState"].as_str(), back["toState"].as_str()),
            (Some("cancelled"), Some("awaiting_payment"))
        );
    }
}

async fn confirmed(stack: &Stack, path: &str, id: &str) {
    eventually(WAIT, &format!("{path}/{id} to be confirmed"), || async {
        let (_, v) = stack.get(&format!("{path}/{id}")).await;
        (v["status"] == "confirmed").then_some(())
    })
    .await;
}

async fn to_states(stack: &Stack, id: &str) -> Vec<String> {
    events(stack, id)
        .await
        .iter()
        .map(|e| e["toState"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_payment_the_engine_gave_up_on_cancels_its_mints_until_retried(backend: Backend) {
    let stack = Stack::start(
        backend,
        StackOptions {
            settings: &[("retry_max_attempts", 3)],
            ..Default::default()
        },
    )
    .await;
    fund_usdc(
        &stack.anvil.endpoint(),
        stack.usdc,
        payer().address(),
        10 * PRICE,
        false,
    )
    .await;
    signer_ether(&stack, U256::ZERO).await;

    let p = accepted(&stack, "/v1/payments", &mints_body(&stack, 2)).await;
    let id = p["id"].as_str().unwrap().to_owned();
    let mints = ids(&p["mintIds"]);
    let p = eventually(WAIT, "the engine to give up on the payment", || async {
        let (_, p) = stack.get(&format!("/v1/payments/{id}")).await;
        (p["status"] != "pending" && p["status"] != "processing").then_some(p)
    })
    .await;
    assert!(
        p["error"]
            .as_str()
            .unwrap()
            .contains("gave up after 3 attempts"),
        "{p}"
    );
    // The engine failed it in the middle of its way: the state says where, the view says failed.
    let row = workflow(&stack, &id).await;
    assert_eq!(
        (row["state"].as_str(), row["status"].as_str()),
        (Some("processing"), Some("failed"))
    );
    let children: Vec<(&str, &str)> = mints.iter().map(|m| ("/v1/mints", m.as_str())).collect();
    stranded_nothing(&stack, &id, "failed", &children).await;

    signer_ether(&stack, plenty()).await;
    // The balance the last attempt saw may be quoted for a second more: a budget for that.
    stack.put_setting("retry_max_attempts", 100).await;
    retry(
        &stack,
        &id,
        &mints.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    confirmed(&stack, "/v1/payments", &id).await;
    for mint in &mints {
        confirmed(&stack, "/v1/mints", mint).await;
        assert_eq!(
            to_states(&stack, mint).await,
            [
                "awaiting_payment",
                "cancelled",
                "awaiting_payment",
                "pending",
                "processing",
                "sent",
                "confirmed"
            ]
        );
    }
    let tokens = stack
        .token_contract()
        .balanceOf(payer().address())
        .call()
        .await
        .unwrap();
    assert_eq!(tokens, U256::from(2 * AMOUNT_PER_MINT));
    stack.service.stop().await;
}

async fn an_operator_cancel_takes_the_mints_and_the_deployment_until_retried(backend: Backend) {
    let stack = Stack::start(
        backend,
        StackOptions {
            settings: &[("retry_max_attempts", 1_000_000)],
            ..Default::default()
        },
    )
    .await;
    let funds = 2 * PRICE + DEPLOY_PRICE;
    fund_usdc(
        &stack.anvil.endpoint(),
        stack.usdc,
        payer().address(),
        funds,
        false,
    )
    .await;
    signer_ether(&stack, U256::ZERO).await;

    let p = accepted(&stack, "/v1/payments", &mints_body(&stack, 2)).await;
    let payment = p["id"].as_str().unwrap().to_owned();
    let mints = ids(&p["mintIds"]);
    let d = accepted(&stack, "/v1/deployments", &deployment_body(&stack)).await;
    let deployment = d["id"].as_str().unwrap().to_owned();
    let deployment_payment = d["paymentId"].as_str().unwrap().to_owned();
    for id in [&payment, &deployment_payment] {
        eventually(WAIT, "the settlement to be retried", || async {
            let events = events(&stack, id).await;
            events
                .iter()
                .any(|e| e["event"] == "retry_scheduled")
                .then_some(())
        })
        .await;
        let (status, answer) = stack
            .post(
                &format!("/v1/workflows/{id}/cancel?reason=signer%20out%20of%20gas"),
                &json!({}),
            )
            .await;
        assert_eq!(
            (status, answer["status"].as_str()),
            (200, Some("cancelled")),
            "{answer}"
        );
    }
    let children: Vec<(&str, &str)> = mints.iter().map(|m| ("/v1/mints", m.as_str())).collect();
    stranded_nothing(&stack, &payment, "cancelled", &children).await;
    stranded_nothing(
        &stack,
        &deployment_payment,
        "cancelled",
        &[("/v1/deployments", deployment.as_str())],
    )
    .await;
    let (_, m) = stack.get(&format!("/v1/mints/{}", mints[0])).await;
    assert!(
        m["error"].as_str().unwrap().contains("signer out of gas"),
        "the operator's reason reaches the children: {m}"
    );

    signer_ether(&stack, plenty()).await;
    retry(
        &stack,
        &payment,
        &mints.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    retry(&stack, &deployment_payment, &[&deployment]).await;
    for mint in &mints {
        confirmed(&stack, "/v1/mints", mint).await;
    }
    confirmed(&stack, "/v1/deployments", &deployment).await;
    confirmed(&stack, "/v1/payments", &payment).await;
    stack.service.stop().await;
}

/// A deployment's payment the engine gave up on stays (failed records are kept) while its
/// cancelled deployment is archived: the same request again finds the payment but no
/// deployment of it, and is refused with 409 `not_a_deployment` instead of deploying unpaid.
async fn a_failed_payment_whose_deployment_was_archived_buys_no_other(backend: Backend) {
    let stack = Stack::start(
        backend,
        StackOptions {
            settings: &[("retry_max_attempts", 3)],
            ..Default::default()
        },
    )
    .await;
    let rpc = stack.anvil.endpoint();
    fund_usdc(&rpc, stack.usdc, payer().address(), DEPLOY_PRICE, false).await;
    signer_ether(&stack, U256::ZERO).await;
    let body = deployment_body(&stack);
    let d = accepted(&stack, "/v1/deployments", &body).await;
    let payment = d["paymentId"].as_str().unwrap().to_owned();
    eventually(WAIT, "the engine to give up on the payment", || async {
        let (_, p) = stack.get(&format!("/v1/payments/{payment}")).await;
        (p["status"] == "failed").then_some(())
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let args = ArchiveArgs {
        before: store::now_ms() + 1,
        out: dir.path().join("archive.jsonl"),
        page_size: 10,
    };
    archive::run(&stack.t.db, &args).await.unwrap();
    let kinds = "SELECT count(*) FROM workflows WHERE kind IN ('payment', 'deployment')";
    assert_eq!(
        stack.t.scalar_i64(kinds).await,
        1,
        "the failed payment alone"
    );

    signer_ether(&stack, plenty()).await;
    let (status, e) = stack.post("/v1/deployments", &body).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (409, Some("not_a_deployment")),
        "{e}"
    );
    // The message tells this case from an authorization that paid for mints.
    let message = e["message"].as_str().unwrap_or_default();
    assert!(message.contains("was archived"), "{e}");
    assert_eq!(stack.t.scalar_i64(kinds).await, 1, "nothing was written");
    stack.service.stop().await;
}
