//! The payment intake against gas griefing, on a real anvil with MockUSDC, on PostgreSQL and
//! SQLite: an authorization must stay valid for `min_authorization_validity_secs` (and the x402
//! offer says so), a payer's balance must cover every payment of theirs under way, at most
//! `max_open_payments_per_payer` are under way at once, and a payer whose settlements reverted
//! `max_settlement_reverts_per_hour` times waits. Every refusal comes before anything is sent.
#[macro_use]
mod common;

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::Provider;
use alloy::providers::ProviderBuilder;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolStruct;
use common::stack::{
    PAYER_KEY, Stack, StackOptions, anvil_rpc, cancel_authorization, fresh_nonce, fund_usdc,
    sign_authorization, sign_authorization_until, test_offer,
};
use common::{Backend, eventually};
use mintflow::chain::contracts::MockUSDC;
use mintflow::x402::PaymentRequired;
use mintflow::x402::types::decode_header;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);
/// The default `MINT_PRICE`: 1 USDC.
const PRICE: u64 = 1_000_000;

alloy::sol! {
    /// The payer's consent to a custom payment's order, as the README documents it.
    struct MintRecipient {
        bytes32 txHash;
        address recipient;
        address token;
        uint256 quantity;
    }
}

on_both_backends!(
    fifty_authorizations_against_a_balance_for_three_settle_at_most_three,
    an_authorization_must_stay_valid_as_long_as_the_offer_says,
    a_payer_has_at_most_max_open_payments_under_way,
    a_payer_whose_settlements_reverted_is_refused_for_a_while,
    an_unsigned_custom_payment_buys_exactly_what_it_paid_for,
);

/// A gasless payment of one mint by `who`.
fn one_mint(stack: &Stack, who: &PrivateKeySigner) -> Value {
    let (authorization, signature) = sign_authorization(stack.usdc, who, PRICE, fresh_nonce());
    json!({ "paymentType": "gasless", "authorization": authorization, "signature": signature })
}

async fn scalar(stack: &Stack, sql: &str) -> i64 {
    stack.t.scalar_i64(sql).await
}

async fn payments(stack: &Stack) -> i64 {
    scalar(
        stack,
        "SELECT count(*) FROM workflows WHERE kind = 'payment'",
    )
    .await
}

/// Transactions the service's signer signed for payments (its settlements).
async fn settlements(stack: &Stack) -> i64 {
    scalar(
        stack,
        "SELECT count(*) FROM chain_txs WHERE purpose = 'payment'",
    )
    .await
}

/// Posts `body`, expects 402 with `code`, and checks that nothing was written or signed.
async fn refused(stack: &Stack, body: &Value, code: &str) {
    let before = (payments(stack).await, settlements(stack).await);
    let (status, answer) = stack.post("/v1/payments", body).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (402, Some(code)),
        "{answer}"
    );
    assert_eq!(
        (payments(stack).await, settlements(stack).await),
        before,
        "a refused payment wrote or sent something"
    );
}

async fn accepted(stack: &Stack, body: &Value) -> String {
    let (status, p) = stack.post("/v1/payments", body).await;
    assert_eq!(status, 202, "{p}");
    p["id"].as_str().unwrap().to_owned()
}

/// Waits for payment `id` to be `want`, mining a block each look when `mine`.
async fn payment_status(stack: &Stack, id: &str, want: &str, mine: bool) -> Value {
    let rpc = stack.anvil.endpoint();
    eventually(WAIT, &format!("payment {id} to be {want}"), || async {
        if mine {
            anvil_rpc(&rpc, "anvil_mine", json!([1])).await;
        }
        let (_, p) = stack.get(&format!("/v1/payments/{id}")).await;
        (p["status"] == want).then_some(p)
    })
    .await
}

async fn fifty_authorizations_against_a_balance_for_three_settle_at_most_three(backend: Backend) {
    let stack = Stack::start(backend, StackOptions::default()).await;
    let who = PrivateKeySigner::random();
    fund_usdc(
        &stack.anvil.endpoint(),
        stack.usdc,
        who.address(),
        3 * PRICE,
        false,
    )
    .await;
    let bodies: Vec<Value> = (0..50).map(|_| one_mint(&stack, &who)).collect();
    let answers =
        futures::future::join_all(bodies.iter().map(|b| stack.post("/v1/payments", b))).await;

    let mut ids = Vec::new();
    for (status, answer) in &answers {
        match status {
            202 => ids.push(answer["id"].as_str().unwrap().to_owned()),
            402 => assert!(
                [
                    "insufficient_balance_for_open_payments",
                    "invalid_exact_evm_insufficient_balance"
                ]
                .contains(&answer["code"].as_str().unwrap()),
                "{answer}"
            ),
            _ => panic!("{status} {answer}"),
        }
    }
    assert!(
        (1..=3).contains(&ids.len()),
        "{} accepted of 50 against a balance for 3",
        ids.len()
    );
    for id in &ids {
        payment_status(&stack, id, "confirmed", false).await;
    }
    // The signer sent one settlement per accepted payment, and none of them reverted: the
    // refused ones cost no gas.
    assert_eq!(payments(&stack).await, ids.len() as i64);
    assert_eq!(settlements(&stack).await, ids.len() as i64);
    assert_eq!(
        scalar(
            &stack,
            "SELECT count(*) FROM chain_txs WHERE purpose = 'payment' AND status <> 'confirmed'"
        )
        .await,
        0
    );
    stack.service.stop().await;
}

/// The `PAYMENT-REQUIRED` offer of `POST /x402/mint`.
async fn x402_offer(stack: &Stack) -> PaymentRequired {
    let res = stack
        .http
        .post(format!("{}/x402/mint", stack.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 402);
    decode_header(res.headers()["payment-required"].to_str().unwrap()).unwrap()
}

async fn an_authorization_must_stay_valid_as_long_as_the_offer_says(backend: Backend) {
    let stack = Stack::start(backend, StackOptions::default()).await;
    let who = PrivateKeySigner::random();
    fund_usdc(
        &stack.anvil.endpoint(),
        stack.usdc,
        who.address(),
        10 * PRICE,
        false,
    )
    .await;
    // The default floor is 120 s; the offer asks for 30 s more, the time a client may take.
    assert_eq!(x402_offer(&stack).await.accepts[0].max_timeout_seconds, 150);
    stack
        .put_setting("min_authorization_validity_secs", 200)
        .await;
    let offer = x402_offer(&stack).await.accepts[0].clone();
    assert_eq!(offer.max_timeout_seconds, 230);

    let now = chrono::Utc::now().timestamp() as u64;
    let until = |valid_before: u64| {
        let (authorization, signature) =
            sign_authorization_until(stack.usdc, &who, PRICE, fresh_nonce(), valid_before);
        json!({ "paymentType": "gasless", "authorization": authorization, "signature": signature })
    };
    refused(
        &stack,
        &until(now + 150),
        "authorization_validity_too_short",
    )
    .await;
    refused(
        &stack,
        &until(now.saturating_sub(1)),
        "invalid_exact_evm_payload_authorization_valid_before",
    )
    .await;
    // A client that signs for `maxTimeoutSeconds`, as the official one does, passes.
    let id = accepted(&stack, &until(now + offer.max_timeout_seconds)).await;
    payment_status(&stack, &id, "confirmed", false).await;
    stack.service.stop().await;
}

async fn a_payer_has_at_most_max_open_payments_under_way(backend: Backend) {
    let stack = Stack::start(
        backend,
        StackOptions {
            anvil_args: &[],
            manual_mining: true,
            settings: &[("max_open_payments_per_payer", 2)],
            ..Default::default()
        },
    )
    .await;
    let who = PrivateKeySigner::random();
    let other = PrivateKeySigner::random();
    let rpc = stack.anvil.endpoint();
    fund_usdc(&rpc, stack.usdc, who.address(), 10 * PRICE, true).await;
    fund_usdc(&rpc, stack.usdc, other.address(), 10 * PRICE, true).await;
    // Nothing is mined: both stay under way.
    let first = accepted(&stack, &one_mint(&stack, &who)).await;
    let second = accepted(&stack, &one_mint(&stack, &who)).await;
    for id in [&first, &second] {
        payment_status(&stack, id, "sent", false).await;
    }
    refused(&stack, &one_mint(&stack, &who), "too_many_open_payments").await;
    // Another payer is not held up by this one.
    let theirs = accepted(&stack, &one_mint(&stack, &other)).await;
    for id in [&first, &second, &theirs] {
        payment_status(&stack, id, "confirmed", true).await;
    }
    // Settled, they no longer count.
    let third = accepted(&stack, &one_mint(&stack, &who)).await;
    payment_status(&stack, &third, "confirmed", true).await;
    stack.service.stop().await;
}

async fn a_payer_whose_settlements_reverted_is_refused_for_a_while(backend: Backend) {
    let stack = Stack::start(
        backend,
        StackOptions {
            anvil_args: &[],
            manual_mining: true,
            settings: &[("max_settlement_reverts_per_hour", 1)],
            ..Default::default()
        },
    )
    .await;
    let rpc = stack.anvil.endpoint();
    let who = PrivateKeySigner::random();
    fund_usdc(&rpc, stack.usdc, who.address(), 10 * PRICE, true).await;
    // The payer needs gas to cancel their authorization.
    anvil_rpc(
        &rpc,
        "anvil_setBalance",
        json!([who.address().to_string(), "0xde0b6b3a7640000"]),
    )
    .await;
    let nonce = fresh_nonce();
    let (authorization, signature) = sign_authorization(stack.usdc, &who, PRICE, nonce);
    let body =
        json!({ "paymentType": "gasless", "authorization": authorization, "signature": signature });
    let id = accepted(&stack, &body).await;
    payment_status(&stack, &id, "sent", false).await;
    // The payer cancels the authorization with a higher tip: the cancellation is mined first
    // and our settlement reverts on chain, at our expense.
    cancel_authorization(&stack, &who, nonce).await;
    let p = payment_status(&stack, &id, "failed", true).await;
    assert!(p["error"].as_str().unwrap().contains("reverted"), "{p}");
    assert_eq!(
        scalar(
            &stack,
            "SELECT count(*) FROM chain_txs WHERE status = 'reverted'"
        )
        .await,
        1
    );

    refused(
        &stack,
        &one_mint(&stack, &who),
        "payer_settlements_reverted",
    )
    .await;
    // Another payer still pays.
    let other = PrivateKeySigner::random();
    fund_usdc(&rpc, stack.usdc, other.address(), PRICE, true).await;
    let theirs = accepted(&stack, &one_mint(&stack, &other)).await;
    payment_status(&stack, &theirs, "confirmed", true).await;
    // The limit is a hot setting: raised, the payer is welcome again.
    stack
        .put_setting("max_settlement_reverts_per_hour", 2)
        .await;
    let again = accepted(&stack, &one_mint(&stack, &who)).await;
    payment_status(&stack, &again, "confirmed", true).await;
    stack.service.stop().await;
}

/// The payer (anvil's second account) sends `value` USDC to `PAY_TO`; the hash once the
/// transfer is `confirmations` (1) deep.
async fn paid_to_us(stack: &Stack, value: u64) -> String {
    let payer: PrivateKeySigner = PAYER_KEY.parse().unwrap();
    let node = ProviderBuilder::new()
        .wallet(EthereumWallet::from(payer))
        .connect_http(stack.anvil.endpoint().parse().unwrap());
    let pay_to = test_offer(stack.usdc, value).pay_to;
    let receipt = MockUSDC::new(stack.usdc, &node)
        .transfer(pay_to, U256::from(value))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());
    let block = receipt.block_number.unwrap();
    eventually(WAIT, "the transfer to be confirmed", || async {
        (node.get_block_number().await.unwrap() > block).then_some(())
    })
    .await;
    receipt.transaction_hash.to_string()
}

/// A custom payment of `hash` for `quantity` mints of `token` (the default when `None`).
fn custom(hash: &str, quantity: u64, token: Option<Address>) -> Value {
    let mut body = json!({ "paymentType": "custom", "txHash": hash, "quantity": quantity });
    if let Some(token) = token {
        body["token"] = json!(token.to_string());
    }
    body
}

/// The payer's consent to `quantity` mints of `token` for themself, paid by `hash`.
fn consent(hash: &str, token: Address, quantity: u64) -> String {
    let payer: PrivateKeySigner = PAYER_KEY.parse().unwrap();
    let message = MintRecipient {
        txHash: hash.parse().unwrap(),
        recipient: payer.address(),
        token,
        quantity: U256::from(quantity),
    };
    let domain = alloy::sol_types::eip712_domain! {
        name: "mintflow",
        version: "1",
        chain_id: 31337,
    };
    let sig = payer
        .sign_hash_sync(&message.eip712_signing_hash(&domain))
        .unwrap();
    Bytes::from(sig.as_bytes()).to_string()
}

async fn an_unsigned_custom_payment_buys_exactly_what_it_paid_for(backend: Backend) {
    let stack = Stack::start(backend, StackOptions::default()).await;
    let payer: PrivateKeySigner = PAYER_KEY.parse().unwrap();
    fund_usdc(
        &stack.anvil.endpoint(),
        stack.usdc,
        payer.address(),
        20 * PRICE,
        false,
    )
    .await;
    // The payer pays for 10 mints; anyone who reads the hash off the chain may post it.
    let ten = paid_to_us(&stack, 10 * PRICE).await;
    refused(&stack, &custom(&ten, 1, None), "transfer_amount_mismatch").await;
    refused(&stack, &custom(&ten, 11, None), "transfer_too_small").await;
    let elsewhere = Some(Address::repeat_byte(9));
    refused(
        &stack,
        &custom(&ten, 10, elsewhere),
        "token_signature_required",
    )
    .await;
    let (status, p) = stack.post("/v1/payments", &custom(&ten, 10, None)).await;
    assert_eq!(status, 202, "{p}");
    assert_eq!(p["mintIds"].as_array().unwrap().len(), 10, "{p}");
    assert_eq!(p["payer"], json!(format!("{:#x}", payer.address())));
    payment_status(&stack, p["id"].as_str().unwrap(), "confirmed", false).await;

    // The payer may choose to pay more than the price, with their signature.
    let three = paid_to_us(&stack, 3 * PRICE).await;
    let mut signed = custom(&three, 2, None);
    signed["recipientSignature"] = json!(consent(&three, stack.token, 2));
    let (status, p) = stack.post("/v1/payments", &signed).await;
    assert_eq!(status, 202, "{p}");
    assert_eq!(p["mintIds"].as_array().unwrap().len(), 2, "{p}");
    stack.service.stop().await;
}
