//! Gasless payments (a signed EIP-3009 authorization in JSON) against MockUSDC on a real
//! anvil, on PostgreSQL and SQLite: settled once, their mints started only when the
//! settlement is confirmed and cancelled when it fails.
#[macro_use]
mod common;

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolStruct;
use common::stack::{
    AMOUNT_PER_MINT, PAYER_KEY, Stack, StackOptions, anvil_rpc, cancel_authorization, fresh_nonce,
    fund_usdc, sign_authorization, test_offer,
};
use common::x402::usdc_balance;
use common::{Backend, eventually};
use mintflow::chain::contracts::MockUSDC;
use mintflow::x402::Offer;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);
/// The default `MINT_PRICE`: 1 USDC.
const PRICE: u64 = 1_000_000;

alloy::sol! {
    /// The payer's consent to another recipient, as the README documents it.
    struct MintRecipient {
        bytes32 txHash;
        address recipient;
        address token;
        uint256 quantity;
    }
}

alloy::sol!(
    #[sol(rpc)]
    TransferTwice,
    "contracts/out/TransferTwice.json"
);

/// Anvil's third account: someone who is neither the payer nor the service.
const THIRD_KEY: &str = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";

on_both_backends!(
    a_gasless_payment_settles_once_then_mints,
    refused_payments_write_nothing,
    a_settlement_reverted_on_chain_cancels_the_mints,
    custom_payments_check_the_transfer,
    our_own_settlement_is_no_custom_payment,
    only_the_payers_signature_sends_the_mints_elsewhere,
    a_transfer_moving_usdc_twice_or_for_another_is_refused,
    the_payments_page_shows_each_payments_mints,
    an_unreachable_node_is_chain_unavailable,
    without_usdc_or_a_default_token_requests_say_which,
);

fn nonce() -> B256 {
    fresh_nonce()
}

fn payer() -> PrivateKeySigner {
    PAYER_KEY.parse().unwrap()
}

fn offer(stack: &Stack, amount: u64) -> Offer {
    test_offer(stack.usdc, amount)
}

/// A gasless payment body signed by `who`.
fn signed(stack: &Stack, who: &PrivateKeySigner, value: u64, nonce: B256, quantity: u64) -> Value {
    let (authorization, signature) = sign_authorization(stack.usdc, who, value, nonce);
    json!({
        "paymentType": "gasless",
        "authorization": authorization,
        "signature": signature,
        "quantity": quantity,
    })
}

async fn fund(stack: &Stack, who: Address, amount: u64, mine: bool) {
    fund_usdc(&stack.anvil.endpoint(), stack.usdc, who, amount, mine).await
}

async fn payment_status(stack: &Stack, id: &str, want: &str) -> Value {
    eventually(WAIT, &format!("payment {id} to be {want}"), || async {
        let (_, p) = stack.get(&format!("/v1/payments/{id}")).await;
        (p["status"] == want).then_some(p)
    })
    .await
}

async fn count(stack: &Stack, kind: &str) -> i64 {
    stack
        .t
        .scalar_i64(&format!(
            "SELECT count(*) FROM workflows WHERE kind = '{kind}'"
        ))
        .await
}

async fn a_gasless_payment_settles_once_then_mints(backend: Backend) {
    let stack = Stack::start(backend, StackOptions::default()).await;
    let who = payer();
    fund(&stack, who.address(), 10 * PRICE, false).await;
    let seller = offer(&stack, 0).pay_to;
    let seller_before = usdc_balance(&stack, seller).await;
    let body = signed(&stack, &who, 2 * PRICE, nonce(), 2);

    let (status, p) = stack.post("/v1/payments", &body).await;
    assert_eq!(status, 202, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    assert_eq!(p["mintIds"].as_array().unwrap().len(), 2, "{p}");
    // The same authorization again, also many times at once: the same payment.
    let replays =
        futures::future::join_all((0..20).map(|_| stack.post("/v1/payments", &body))).await;
    for (status, again) in replays {
        assert_eq!(
            (status, again["id"].as_str()),
            (200, Some(id.as_str())),
            "{again}"
        );
    }

    let p = payment_status(&stack, &id, "confirmed").await;
    assert!(p["txHash"].as_str().unwrap().starts_with("0x"));
    for mint in p["mintIds"].as_array().unwrap() {
        eventually(WAIT, "the paid mint to be confirmed", || async {
            let (_, m) = stack
                .get(&format!("/v1/mints/{}", mint.as_str().unwrap()))
                .await;
            (m["status"] == "confirmed").then_some(())
        })
        .await;
    }
    assert_eq!(
        (count(&stack, "payment").await, count(&stack, "mint").await),
        (1, 2)
    );
    assert_eq!(
        usdc_balance(&stack, who.address()).await,
        U256::from(8 * PRICE)
    );
    assert_eq!(
        usdc_balance(&stack, seller).await - seller_before,
        U256::from(2 * PRICE)
    );
    let tokens = stack
        .token_contract()
        .balanceOf(who.address())
        .call()
        .await
        .unwrap();
    assert_eq!(tokens, U256::from(2 * AMOUNT_PER_MINT));
    let (_, h) = stack
        .get(&format!(
            "/v1/workflows/{}/history",
            p["mintIds"][0].as_str().unwrap()
        ))
        .await;
    let states: Vec<&str> = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["toState"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        [
            "awaiting_payment",
            "pending",
            "processing",
            "sent",
            "confirmed"
        ]
    );
    stack.service.stop().await;
}

async fn refused(stack: &Stack, body: &Value, code: &str) {
    refused_with(stack, body, 402, code).await;
}

async fn refused_with(stack: &Stack, body: &Value, expected: u16, code: &str) {
    let before = count(stack, "payment").await + count(stack, "mint").await;
    let (status, answer) = stack.post("/v1/payments", body).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (expected, Some(code)),
        "{answer}"
    );
    let after = count(stack, "payment").await + count(stack, "mint").await;
    assert_eq!(before, after, "a refused payment wrote something");
}

async fn refused_payments_write_nothing(backend: Backend) {
    let stack = Stack::start(backend, StackOptions::default()).await;
    let who = payer();
    fund(&stack, who.address(), PRICE, false).await;
    // The price of 1 mint is 1 USDC: paying less or more is refused.
    refused(
        &stack,
        &signed(&stack, &who, PRICE - 1, nonce(), 1),
        "invalid_exact_evm_payload_authorization_value",
    )
    .await;
    let mut expired = signed(&stack, &who, PRICE, nonce(), 1);
    expired["authorization"]["validBefore"] = json!("1000");
    refused(
        &stack,
        &expired,
        "invalid_exact_evm_payload_authorization_valid_before",
    )
    .await;
    let mut early = signed(&stack, &who, PRICE, nonce(), 1);
    early["authorization"]["validAfter"] = json!("99999999999");
    refused(
        &stack,
        &early,
        "invalid_exact_evm_payload_authorization_valid_after",
    )
    .await;
    let mut elsewhere = signed(&stack, &who, PRICE, nonce(), 1);
    elsewhere["authorization"]["to"] = json!(Address::repeat_byte(9).to_string());
    refused(
        &stack,
        &elsewhere,
        "invalid_exact_evm_payload_recipient_mismatch",
    )
    .await;
    let mut forged = signed(&stack, &who, PRICE, nonce(), 1);
    forged["authorization"]["nonce"] = json!(nonce().to_string());
    refused(&stack, &forged, "invalid_exact_evm_payload_signature").await;
    let poor = PrivateKeySigner::random();
    refused(
        &stack,
        &signed(&stack, &poor, PRICE, nonce(), 1),
        "invalid_exact_evm_insufficient_balance",
    )
    .await;
    let mut garbage = signed(&stack, &who, PRICE, nonce(), 1);
    // Not 65 bytes: a malformed request, refused before the payment is looked at.
    garbage["signature"] = json!("0x1234");
    refused_with(&stack, &garbage, 400, "invalid_authorization").await;
    // What the payment type is paid with is missing or malformed: refused before the chain is
    // asked.
    let gasless = json!({ "paymentType": "gasless", "quantity": 1 });
    refused_with(&stack, &gasless, 400, "missing_authorization").await;
    let custom_without_hash = json!({ "paymentType": "custom" });
    refused_with(&stack, &custom_without_hash, 400, "missing_tx_hash").await;
    let mut short_consent = custom(&format!("{:#x}", B256::repeat_byte(3)), None);
    short_consent["recipientSignature"] = json!("0x1234");
    refused_with(&stack, &short_consent, 400, "invalid_recipient_signature").await;
    // A malformed address is the request's fault, whatever the transfer it names (schemathesis
    // found a bad `token` answered 402 `transfer_not_found`).
    for field in ["token", "recipient"] {
        let mut bad_address = custom(&format!("{:#x}", B256::repeat_byte(3)), None);
        bad_address[field] = json!("0xnot-an-address");
        refused_with(&stack, &bad_address, 400, "invalid_address").await;
    }
    stack.service.stop().await;
}

async fn a_settlement_reverted_on_chain_cancels_the_mints(backend: Backend) {
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
    let who = payer();
    fund(&stack, who.address(), PRICE, true).await;
    let nonce = self::nonce();
    let (status, p) = stack
        .post("/v1/payments", &signed(&stack, &who, PRICE, nonce, 1))
        .await;
    assert_eq!(status, 202, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    let mint = p["mintIds"][0].as_str().unwrap().to_owned();
    payment_status(&stack, &id, "sent").await;
    // The payer cancels the authorization with a higher tip: the cancellation is mined first
    // and the settlement reverts on chain.
    cancel_authorization(&stack, &who, nonce).await;
    let p = eventually(WAIT, "the payment to fail", || async {
        anvil_rpc(&rpc, "anvil_mine", json!([1])).await;
        let (_, p) = stack.get(&format!("/v1/payments/{id}")).await;
        (p["status"] == "failed").then_some(p)
    })
    .await;
    let error = p["error"].as_str().unwrap();
    assert!(error.contains("reverted"), "{p}");
    assert!(
        error.contains("the payer cancelled the authorization in 0x"),
        "{p}"
    );
    let (_, m) = stack.get(&format!("/v1/mints/{mint}")).await;
    assert_eq!(m["status"], "cancelled", "{m}");
    let (_, h) = stack.get(&format!("/v1/workflows/{mint}/history")).await;
    let states: Vec<&str> = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["toState"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["awaiting_payment", "cancelled"], "never sent");
    let (_, old) = stack.get(&format!("/api/payment/{id}")).await;
    assert_eq!(old["payment"]["status"], "confirmation_failed", "{old}");
    assert_eq!(usdc_balance(&stack, who.address()).await, U256::from(PRICE));
    stack.service.stop().await;
}

/// The payer sends `value` USDC to `to` itself; returns the transaction hash once mined.
async fn transfer(stack: &Stack, to: Address, value: u64) -> String {
    let provider = wallet(stack, payer());
    let pending = MockUSDC::new(stack.usdc, &provider)
        .transfer(to, U256::from(value))
        .send()
        .await
        .unwrap();
    let receipt = pending.get_receipt().await.unwrap();
    assert!(receipt.status());
    receipt.transaction_hash.to_string()
}

/// A transfer to `to` of more than the payer has, mined and reverted (its gas is given, so
/// that no estimate refuses it first); its hash.
async fn reverted_transfer(stack: &Stack, to: Address) -> String {
    let provider = wallet(stack, payer());
    let pending = MockUSDC::new(stack.usdc, &provider)
        .transfer(to, U256::MAX)
        .gas(100_000)
        .send()
        .await
        .unwrap();
    let receipt = pending.get_receipt().await.unwrap();
    assert!(!receipt.status(), "the transfer reverted");
    receipt.transaction_hash.to_string()
}

fn custom(hash: &str, recipient: Option<Address>) -> Value {
    let mut body = json!({ "paymentType": "custom", "txHash": hash });
    if let Some(r) = recipient {
        body["recipient"] = json!(r.to_string());
    }
    body
}

async fn custom_payments_check_the_transfer(backend: Backend) {
    let stack = Stack::start(backend, StackOptions::default()).await;
    let who = payer();
    fund(&stack, who.address(), 10 * PRICE, false).await;
    let seller = offer(&stack, 0).pay_to;

    let hash = transfer(&stack, seller, PRICE).await;
    // Just mined: not `confirmations` (1) deep yet.
    refused(&stack, &custom(&hash, None), "transfer_not_confirmed").await;
    let (_, p) = eventually(WAIT, "the transfer to be confirmed", || async {
        let (status, p) = stack.post("/v1/payments", &custom(&hash, None)).await;
        (status == 202).then_some((status, p))
    })
    .await;
    let id = p["id"].as_str().unwrap().to_owned();
    let p = payment_status(&stack, &id, "confirmed").await;
    assert_eq!(p["paymentType"], "custom");
    let mint = p["mintIds"][0].as_str().unwrap().to_owned();
    eventually(WAIT, "the paid mint to be confirmed", || async {
        let (_, m) = stack.get(&format!("/v1/mints/{mint}")).await;
        (m["status"] == "confirmed").then_some(())
    })
    .await;
    // The same request again is the same payment; the hash for anything else is refused.
    let (status, again) = stack.post("/v1/payments", &custom(&hash, None)).await;
    assert_eq!((status, again["id"].as_str()), (200, Some(id.as_str())));
    let before = count(&stack, "payment").await;
    let elsewhere = Address::repeat_byte(5);
    let mut other = custom(&hash, Some(elsewhere));
    other["recipientSignature"] = json!(consent(&stack, &who, &hash, elsewhere));
    let (status, reused) = stack.post("/v1/payments", &other).await;
    assert_eq!(
        (status, reused["code"].as_str()),
        (409, Some("tx_hash_already_used")),
        "{reused}"
    );
    assert_eq!(count(&stack, "payment").await, before);

    let small = transfer(&stack, seller, PRICE - 1).await;
    let elsewhere = transfer(&stack, Address::repeat_byte(7), PRICE).await;
    confirmed(&stack, &elsewhere).await;
    refused(&stack, &custom(&small, None), "transfer_too_small").await;
    refused(
        &stack,
        &custom(&elsewhere, None),
        "transfer_wrong_recipient",
    )
    .await;
    refused(
        &stack,
        &custom(&format!("{:#x}", B256::repeat_byte(3)), None),
        "transfer_not_found",
    )
    .await;
    let reverted = reverted_transfer(&stack, seller).await;
    confirmed(&stack, &reverted).await;
    refused(&stack, &custom(&reverted, None), "transfer_reverted").await;
    assert_eq!(count(&stack, "mint").await, 1);
    stack.service.stop().await;
}

/// A client of the stack's node that signs as `who`.
fn wallet(stack: &Stack, who: PrivateKeySigner) -> impl Provider + Clone + use<> {
    ProviderBuilder::new()
        .wallet(EthereumWallet::from(who))
        .connect_http(stack.anvil.endpoint().parse().unwrap())
}

/// Waits until the mined transaction `hash` is `confirmations` (1) deep: then it is judged as
/// a custom payment.
async fn confirmed(stack: &Stack, hash: &str) {
    let node = wallet(stack, payer());
    let receipt = node
        .get_transaction_receipt(hash.parse().unwrap())
        .await
        .unwrap()
        .expect("a mined transaction");
    let block = receipt.block_number.unwrap();
    eventually(WAIT, "the transfer to be confirmed", || async {
        (node.get_block_number().await.unwrap() > block).then_some(())
    })
    .await;
}

/// `who`'s consent that one mint of the default token paid by `hash` goes to `recipient`: the
/// EIP-712 typed data of the README, built here from its text.
fn consent(stack: &Stack, who: &PrivateKeySigner, hash: &str, recipient: Address) -> String {
    let message = MintRecipient {
        txHash: hash.parse().unwrap(),
        recipient,
        token: stack.token,
        quantity: U256::from(1),
    };
    let domain = alloy::sol_types::eip712_domain! {
        name: "mintflow",
        version: "1",
        chain_id: 31337,
    };
    let sig = who
        .sign_hash_sync(&message.eip712_signing_hash(&domain))
        .unwrap();
    Bytes::from(sig.as_bytes()).to_string()
}

async fn token_balance(stack: &Stack, who: Address) -> U256 {
    stack.token_contract().balanceOf(who).call().await.unwrap()
}

/// Posts `body` and waits for the payment's mints to be confirmed.
async fn paid_and_minted(stack: &Stack, body: &Value) {
    let (status, p) = stack.post("/v1/payments", body).await;
    assert_eq!(status, 202, "{p}");
    let p = payment_status(stack, p["id"].as_str().unwrap(), "confirmed").await;
    for mint in p["mintIds"].as_array().unwrap() {
        eventually(WAIT, "the paid mint to be confirmed", || async {
            let (_, m) = stack
                .get(&format!("/v1/mints/{}", mint.as_str().unwrap()))
                .await;
            (m["status"] == "confirmed").then_some(())
        })
        .await;
    }
}

async fn our_own_settlement_is_no_custom_payment(backend: Backend) {
    let stack = Stack::start(backend, StackOptions::default()).await;
    let who = payer();
    fund(&stack, who.address(), PRICE, false).await;
    let (status, p) = stack
        .post("/v1/payments", &signed(&stack, &who, PRICE, nonce(), 1))
        .await;
    assert_eq!(status, 202, "{p}");
    let p = payment_status(&stack, p["id"].as_str().unwrap(), "confirmed").await;
    // The settlement mintflow sent moved the payer's USDC to PAY_TO; it is public, and it
    // paid once: posted again, for the payer or anyone else, it is refused.
    let settlement = p["txHash"].as_str().unwrap().to_owned();
    confirmed(&stack, &settlement).await;
    refused(
        &stack,
        &custom(&settlement, None),
        "transfer_from_service_signer",
    )
    .await;
    let mut elsewhere = custom(&settlement, Some(Address::repeat_byte(5)));
    elsewhere["recipientSignature"] =
        json!(consent(&stack, &who, &settlement, Address::repeat_byte(5)));
    refused(&stack, &elsewhere, "transfer_from_service_signer").await;
    assert_eq!(
        (count(&stack, "payment").await, count(&stack, "mint").await),
        (1, 1)
    );
    stack.service.stop().await;
}

async fn only_the_payers_signature_sends_the_mints_elsewhere(backend: Backend) {
    let stack = Stack::start(backend, StackOptions::default()).await;
    let a = payer();
    let b = PrivateKeySigner::random();
    fund(&stack, a.address(), 10 * PRICE, false).await;
    let seller = offer(&stack, 0).pay_to;
    let hash = transfer(&stack, seller, PRICE).await;
    confirmed(&stack, &hash).await;

    // B saw A's transfer and posts it for themself.
    let to_b = custom(&hash, Some(b.address()));
    refused(&stack, &to_b, "recipient_signature_required").await;
    let mut self_signed = to_b.clone();
    self_signed["recipientSignature"] = json!(consent(&stack, &b, &hash, b.address()));
    refused(&stack, &self_signed, "recipient_signature_invalid").await;
    // A's consent for another recipient does not name B.
    let mut not_b = to_b.clone();
    not_b["recipientSignature"] = json!(consent(&stack, &a, &hash, Address::repeat_byte(5)));
    refused(&stack, &not_b, "recipient_signature_invalid").await;

    // With A's consent the mint goes to B.
    let mut consented = to_b;
    consented["recipientSignature"] = json!(consent(&stack, &a, &hash, b.address()));
    paid_and_minted(&stack, &consented).await;
    // Another of A's transfers posted by B without a recipient mints to A.
    let second = transfer(&stack, seller, PRICE).await;
    confirmed(&stack, &second).await;
    paid_and_minted(&stack, &custom(&second, None)).await;
    assert_eq!(
        (
            token_balance(&stack, a.address()).await,
            token_balance(&stack, b.address()).await
        ),
        (U256::from(AMOUNT_PER_MINT), U256::from(AMOUNT_PER_MINT))
    );
    stack.service.stop().await;
}

async fn a_transfer_moving_usdc_twice_or_for_another_is_refused(backend: Backend) {
    let stack = Stack::start(backend, StackOptions::default()).await;
    let a = payer();
    fund(&stack, a.address(), 10 * PRICE, false).await;
    let seller = offer(&stack, 0).pay_to;
    let as_a = wallet(&stack, a.clone());
    let usdc = MockUSDC::new(stack.usdc, &as_a);
    let mined = |r: alloy::rpc::types::TransactionReceipt| {
        assert!(r.status());
        r.transaction_hash.to_string()
    };

    // A pays the price in two transfers of one transaction, through a helper contract.
    let helper = TransferTwice::deploy(&as_a).await.unwrap();
    let approve = usdc.approve(*helper.address(), U256::from(PRICE));
    mined(approve.send().await.unwrap().get_receipt().await.unwrap());
    let half = U256::from(PRICE / 2);
    let twice = helper.pay(stack.usdc, seller, half, half);
    let twice = mined(twice.send().await.unwrap().get_receipt().await.unwrap());

    // A third party moves A's USDC to PAY_TO with A's allowance: A did not send it.
    let third: PrivateKeySigner = THIRD_KEY.parse().unwrap();
    let approve = usdc.approve(third.address(), U256::from(PRICE));
    mined(approve.send().await.unwrap().get_receipt().await.unwrap());
    let as_third = wallet(&stack, third.clone());
    let from_third = MockUSDC::new(stack.usdc, &as_third);
    let pull = from_third.transferFrom(a.address(), seller, U256::from(PRICE));
    let on_behalf = mined(pull.send().await.unwrap().get_receipt().await.unwrap());

    confirmed(&stack, &on_behalf).await;
    refused(&stack, &custom(&twice, None), "transfer_ambiguous").await;
    refused(&stack, &custom(&on_behalf, None), "transfer_not_from_payer").await;
    // The owner of the funds cannot claim the third party's transaction with a consent either.
    let mut for_a = custom(&on_behalf, Some(a.address()));
    for_a["recipientSignature"] = json!(consent(&stack, &third, &on_behalf, a.address()));
    refused(&stack, &for_a, "transfer_not_from_payer").await;
    assert_eq!(
        usdc_balance(&stack, a.address()).await,
        U256::from(8 * PRICE)
    );
    stack.service.stop().await;
}

/// The list loads the mints of a whole page at once: each payment still shows its own, on
/// every page.
async fn the_payments_page_shows_each_payments_mints(backend: Backend) {
    let stack = Stack::start(backend, StackOptions::default()).await;
    let who = payer();
    fund(&stack, who.address(), 10 * PRICE, false).await;
    let mut made = std::collections::HashMap::new();
    for quantity in [1, 2, 3] {
        let body = signed(&stack, &who, quantity * PRICE, nonce(), quantity);
        let (status, p) = stack.post("/v1/payments", &body).await;
        assert_eq!(status, 202, "{p}");
        assert_eq!(p["mintIds"].as_array().unwrap().len() as u64, quantity);
        made.insert(p["id"].as_str().unwrap().to_owned(), p["mintIds"].clone());
    }

    let (status, first) = stack.get("/v1/payments?limit=2").await;
    assert_eq!(status, 200, "{first}");
    let cursor = first["nextCursor"].as_str().expect("a second page");
    let (status, second) = stack
        .get(&format!("/v1/payments?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(status, 200, "{second}");
    let shown: Vec<&Value> = [&first, &second]
        .into_iter()
        .flat_map(|page| page["items"].as_array().unwrap())
        .collect();
    assert_eq!(shown.len(), 3, "{first} {second}");
    for p in shown {
        let id = p["id"].as_str().unwrap();
        assert_eq!(&p["mintIds"], &made[id], "payment {id}");
        assert_eq!(p["deploymentId"], Value::Null);
    }
    stack.service.stop().await;
}

/// With the node unreachable, neither a payment nor a token registration can be checked: 503
/// `chain_unavailable`, and nothing is written.
async fn an_unreachable_node_is_chain_unavailable(backend: Backend) {
    let stack = Stack::start(
        backend,
        StackOptions {
            node_secret: Some("node"),
            ..Default::default()
        },
    )
    .await;
    stack.proxy.as_ref().unwrap().down().await;
    let gasless = signed(&stack, &payer(), PRICE, nonce(), 1);
    refused_with(&stack, &gasless, 503, "chain_unavailable").await;
    let by_transfer = custom(&format!("{:#x}", B256::repeat_byte(3)), None);
    refused_with(&stack, &by_transfer, 503, "chain_unavailable").await;
    let token = json!({
        "address": Address::repeat_byte(4).to_string(),
        "amountPerMint": "1",
        "maxSupply": "10",
    });
    let (status, e) = stack.post("/v1/tokens", &token).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (503, Some("chain_unavailable")),
        "{e}"
    );
    let (_, tokens) = stack.get("/v1/tokens").await;
    assert_eq!(
        tokens.as_array().unwrap().len(),
        1,
        "the default token only"
    );
    stack.service.stop().await;
}

/// A service started without USDC takes no payment (503 `payments_not_configured`, for the
/// JSON route and x402 alike), and one without a default token no mint that names no token
/// (422 `no_default_token`). Nothing is written.
async fn without_usdc_or_a_default_token_requests_say_which(backend: Backend) {
    let stack = Stack::start(
        backend,
        StackOptions {
            configure: |config| {
                let contracts = &mut config.chain.as_mut().unwrap().contracts;
                contracts.usdc = None;
                contracts.token = None;
            },
            ..Default::default()
        },
    )
    .await;
    let who = payer();
    refused_with(
        &stack,
        &signed(&stack, &who, PRICE, nonce(), 1),
        503,
        "payments_not_configured",
    )
    .await;
    let (status, e) = stack.post("/x402/mint", &json!({ "quantity": 1 })).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (503, Some("payments_not_configured")),
        "{e}"
    );
    let (status, e) = stack
        .post("/v1/mints", &json!({ "payer": who.address().to_string() }))
        .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (422, Some("no_default_token")),
        "{e}"
    );
    assert_eq!(
        count(&stack, "payment").await + count(&stack, "mint").await,
        0
    );
    stack.service.stop().await;
}
