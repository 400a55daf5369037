//! Front-running a settlement, on PostgreSQL and SQLite against MockUSDC on a real anvil mining
//! by hand: a third party submits the buyer's signed authorization before our settlement lands.
//! The buyer paid all the same, so the payment confirms with the third party's transaction and
//! its mint is minted once. Until then, no API view shows the signed authorization.
#[macro_use]
mod common;

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{Provider, ProviderBuilder, RootProvider};
use alloy::signers::local::PrivateKeySigner;
use common::ops::SseClient;
use common::stack::{
    ADMIN_TOKEN, AMOUNT_PER_MINT, PAYER_KEY, Stack, StackOptions, anvil_rpc, fresh_nonce,
    fund_usdc, sign_authorization, sign_authorization_until, test_offer,
};
use common::x402::usdc_balance;
use common::{Backend, eventually};
use mintflow::chain::contracts::MockUSDC;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);
/// The default `MINT_PRICE`: 1 USDC.
const PRICE: u64 = 1_000_000;
/// Anvil's third account: someone who is neither the payer nor the service.
const THIRD_KEY: &str = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";

on_both_backends!(
    a_front_run_settlement_confirms_with_the_transaction_that_paid,
    a_settlement_that_failed_waits_while_its_authorization_can_still_pay
);

fn provider(stack: &Stack) -> RootProvider {
    RootProvider::new_http(stack.anvil.endpoint().parse().unwrap())
}

/// Every API answer about `payment` and its family while it is not final, as text: the
/// payment views, the workflow views and histories, the workflow list and the event stream
/// (whose events are also what webhooks post).
async fn every_view(stack: &Stack, payment: &str, mint: &str) -> Vec<(String, String)> {
    let paths = [
        format!("/v1/payments/{payment}"),
        "/v1/payments".to_owned(),
        format!("/api/payment/{payment}"),
        format!("/v1/workflows/{payment}"),
        format!("/v1/workflows/{payment}/history"),
        format!("/v1/workflows/{mint}"),
        format!("/v1/workflows/{mint}/history"),
        "/v1/workflows?kind=payment".to_owned(),
        "/v1/workflows".to_owned(),
    ];
    let mut seen = Vec::new();
    for path in paths {
        let (status, body) = stack.get(&path).await;
        assert_eq!(status, 200, "{path}: {body}");
        seen.push((path, body.to_string()));
    }
    // The stream from its start, up to the payment's move to `sent`.
    let url = format!("{}/v1/events", stack.base);
    let mut events = SseClient::connect(&url, ADMIN_TOKEN, Some(0)).await;
    loop {
        let e = events.next().await.expect("the stream stays open");
        seen.push(("/v1/events".to_owned(), e.data.to_string()));
        if e.data["workflowId"] == payment && e.data["toState"] == "sent" {
            break;
        }
    }
    seen
}

/// Posts a gasless payment of one mint: its request body, the payment's id and its mint's id.
async fn pay_gasless(
    stack: &Stack,
    authorization: Value,
    signature: &str,
) -> (Value, String, String) {
    let body = json!({
        "paymentType": "gasless",
        "authorization": authorization,
        "signature": signature,
        "quantity": 1,
    });
    let (status, p) = stack.post("/v1/payments", &body).await;
    assert_eq!(status, 202, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    let mint = p["mintIds"][0].as_str().unwrap().to_owned();
    (body, id, mint)
}

/// A third party submits the signed authorization of the payment request `body` (by `payer`)
/// with a high tip, so it is mined before anything else pending: its transaction's hash.
async fn submit_as_third_party(
    stack: &Stack,
    payer: Address,
    body: &Value,
    signature: &str,
    nonce: B256,
) -> B256 {
    let third: PrivateKeySigner = THIRD_KEY.parse().unwrap();
    let wallet = ProviderBuilder::new()
        .wallet(EthereumWallet::from(third))
        .connect_http(stack.anvil.endpoint().parse().unwrap());
    let a = &body["authorization"];
    let number = |v: &Value| U256::from_str_radix(v.as_str().unwrap(), 10).unwrap();
    *MockUSDC::new(stack.usdc, &wallet)
        .transferWithAuthorization_0(
            payer,
            test_offer(stack.usdc, PRICE).pay_to,
            U256::from(PRICE),
            number(&a["validAfter"]),
            number(&a["validBefore"]),
            nonce,
            signature.parse::<Bytes>().unwrap(),
        )
        .gas(200_000)
        .max_priority_fee_per_gas(100_000_000_000)
        .max_fee_per_gas(200_000_000_000)
        .send()
        .await
        .unwrap()
        .tx_hash()
}

async fn a_front_run_settlement_confirms_with_the_transaction_that_paid(backend: Backend) {
    let stack = Stack::start(
        backend,
        StackOptions {
            anvil_args: &[],
            manual_mining: true,
            ..Default::default()
        },
    )
    .await;
    let rpc = stack.anvil.endpoint();
    let payer: PrivateKeySigner = PAYER_KEY.parse().unwrap();
    fund_usdc(&rpc, stack.usdc, payer.address(), 5 * PRICE, true).await;
    let pay_to = test_offer(stack.usdc, PRICE).pay_to;
    let pay_to_before = usdc_balance(&stack, pay_to).await;
    let nonce: B256 = fresh_nonce();
    let (authorization, signature) = sign_authorization(stack.usdc, &payer, PRICE, nonce);
    let (body, id, mint) = pay_gasless(&stack, authorization, &signature).await;

    // Our settlement is broadcast and waits in the node's pool: nothing is mined by itself.
    let ours: B256 = eventually(WAIT, "our settlement in the node's pool", || async {
        let (_, p) = stack.get(&format!("/v1/payments/{id}")).await;
        let hash: B256 = p["txHash"].as_str()?.parse().ok()?;
        let pooled = provider(&stack)
            .get_transaction_by_hash(hash)
            .await
            .unwrap();
        (p["status"] == "sent" && pooled.is_some()).then_some(hash)
    })
    .await;

    // Not final: no view shows the signature or the authorization.
    let secret = signature.trim_start_matches("0x").to_lowercase();
    for (path, text) in every_view(&stack, &id, &mint).await {
        assert!(
            !text.to_lowercase().contains(&secret),
            "{path} shows the signature"
        );
    }
    let (_, w) = stack.get(&format!("/v1/workflows/{id}")).await;
    assert_eq!(w["data"].get("authorization"), None, "{w}");

    // A third party submits the same signed authorization with a higher tip: mined first, in
    // the same block as ours, which then reverts (the nonce is used).
    let theirs = submit_as_third_party(&stack, payer.address(), &body, &signature, nonce).await;

    let p = eventually(WAIT, "the payment to confirm", || async {
        anvil_rpc(&rpc, "anvil_mine", json!([1])).await;
        let (_, p) = stack.get(&format!("/v1/payments/{id}")).await;
        assert_ne!(p["status"], "failed", "{p}");
        (p["status"] == "confirmed").then_some(p)
    })
    .await;
    let their_receipt = provider(&stack)
        .get_transaction_receipt(theirs)
        .await
        .unwrap()
        .unwrap();
    let our_receipt = provider(&stack)
        .get_transaction_receipt(ours)
        .await
        .unwrap()
        .unwrap();
    assert!(their_receipt.status() && !our_receipt.status(), "the race");
    assert_eq!(their_receipt.block_number, our_receipt.block_number);
    assert_eq!(p["txHash"], format!("{theirs:#x}"), "{p}");
    assert_eq!(p["blockNumber"].as_u64(), their_receipt.block_number, "{p}");
    // Its receipt in the ledger names the transaction that paid.
    let receipt = mintflow::store::receipts::find(&stack.t.db, id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(receipt.tx_hash, Some(format!("{theirs:#x}")));
    assert_eq!(receipt.block, their_receipt.block_number.map(|b| b as i64));
    let (_, h) = stack.get(&format!("/v1/workflows/{id}/history")).await;
    let states: Vec<&str> = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["toState"].as_str().unwrap())
        .collect();
    assert!(states.contains(&"checking"), "{states:?}");
    assert_eq!(states.last(), Some(&"confirmed"), "{states:?}");

    // The mint proceeds, once.
    eventually(WAIT, "the paid mint to be confirmed", || async {
        anvil_rpc(&rpc, "anvil_mine", json!([1])).await;
        let (_, m) = stack.get(&format!("/v1/mints/{mint}")).await;
        (m["status"] == "confirmed").then_some(())
    })
    .await;
    anvil_rpc(&rpc, "anvil_mine", json!([3])).await;
    let tokens = stack
        .token_contract()
        .balanceOf(payer.address())
        .call()
        .await
        .unwrap();
    assert_eq!(tokens, U256::from(AMOUNT_PER_MINT), "minted exactly once");
    assert_eq!(
        stack
            .t
            .scalar_i64("SELECT count(*) FROM workflows WHERE kind = 'mint'")
            .await,
        1
    );
    // The payer paid once, to us.
    assert_eq!(
        usdc_balance(&stack, payer.address()).await,
        U256::from(4 * PRICE)
    );
    assert_eq!(
        usdc_balance(&stack, pay_to).await - pay_to_before,
        U256::from(PRICE)
    );

    // Final now: the authorization is spent and public on chain, and the checkpoint shows it
    // (which is also what makes the checks above able to fail).
    let (_, w) = stack.get(&format!("/v1/workflows/{id}")).await;
    let shown = w["data"]["authorization"]["signature"].as_str().unwrap();
    assert_eq!(shown.trim_start_matches("0x").to_lowercase(), secret);
    stack.service.stop().await;
}

/// Our settlement reverts because the payer moved their funds away first: the authorization
/// is unused, but it is public now (in our reverted transaction) and valid for a while, so the
/// payment is not failed. The payer is funded again and a third party lands the authorization:
/// the payment confirms with that transaction and its mint is minted once.
async fn a_settlement_that_failed_waits_while_its_authorization_can_still_pay(backend: Backend) {
    let stack = Stack::start(
        backend,
        StackOptions {
            anvil_args: &[],
            manual_mining: true,
            // An authorization valid for 30 s only, so the test waits for its expiry.
            settings: &[("min_authorization_validity_secs", 6)],
            ..Default::default()
        },
    )
    .await;
    let rpc = stack.anvil.endpoint();
    let who = PrivateKeySigner::random();
    fund_usdc(&rpc, stack.usdc, who.address(), PRICE, true).await;
    // The payer needs gas to move their funds.
    anvil_rpc(
        &rpc,
        "anvil_setBalance",
        json!([who.address().to_string(), "0xde0b6b3a7640000"]),
    )
    .await;
    let nonce: B256 = fresh_nonce();
    let valid_before = chrono::Utc::now().timestamp() as u64 + 30;
    let (authorization, signature) =
        sign_authorization_until(stack.usdc, &who, PRICE, nonce, valid_before);
    let (body, id, mint) = pay_gasless(&stack, authorization, &signature).await;
    eventually(WAIT, "our settlement in the node's pool", || async {
        let (_, p) = stack.get(&format!("/v1/payments/{id}")).await;
        (p["status"] == "sent").then_some(())
    })
    .await;

    // The payer moves the funds away with a higher tip: mined first, our settlement reverts.
    let wallet = ProviderBuilder::new()
        .wallet(EthereumWallet::from(who.clone()))
        .connect_http(rpc.parse().unwrap());
    let elsewhere = Address::repeat_byte(0x77);
    let _moved_away = MockUSDC::new(stack.usdc, &wallet)
        .transfer(elsewhere, U256::from(PRICE))
        .gas(100_000)
        .max_priority_fee_per_gas(100_000_000_000)
        .max_fee_per_gas(200_000_000_000)
        .send()
        .await
        .unwrap();
    let w = eventually(
        WAIT,
        "the payment waiting on its usable authorization",
        || async {
            anvil_rpc(&rpc, "anvil_mine", json!([1])).await;
            let (_, w) = stack.get(&format!("/v1/workflows/{id}")).await;
            let waiting = w["state"] == "checking"
                && w["lastError"]
                    .as_str()
                    .is_some_and(|e| e.contains("may still pay"));
            waiting.then_some(w)
        },
    )
    .await;
    let (_, p) = stack.get(&format!("/v1/payments/{id}")).await;
    assert_eq!(p["status"], "checking", "{p} {w}");

    // Funded again, the payer's authorization is landed by someone else: it paid us.
    fund_usdc(&rpc, stack.usdc, who.address(), PRICE, true).await;
    let theirs = submit_as_third_party(&stack, who.address(), &body, &signature, nonce).await;
    let p = eventually(WAIT, "the payment to confirm", || async {
        anvil_rpc(&rpc, "anvil_mine", json!([1])).await;
        let (_, p) = stack.get(&format!("/v1/payments/{id}")).await;
        assert_ne!(p["status"], "failed", "{p}");
        (p["status"] == "confirmed").then_some(p)
    })
    .await;
    assert_eq!(p["txHash"], format!("{theirs:#x}"), "{p}");
    eventually(WAIT, "the paid mint to be confirmed", || async {
        anvil_rpc(&rpc, "anvil_mine", json!([1])).await;
        let (_, m) = stack.get(&format!("/v1/mints/{mint}")).await;
        (m["status"] == "confirmed").then_some(())
    })
    .await;
    let tokens = stack
        .token_contract()
        .balanceOf(who.address())
        .call()
        .await
        .unwrap();
    assert_eq!(tokens, U256::from(AMOUNT_PER_MINT), "minted exactly once");
    assert_eq!(usdc_balance(&stack, who.address()).await, U256::ZERO);
    stack.service.stop().await;
}
