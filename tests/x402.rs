//! x402 v2 end to end: the official npm client (`@x402/fetch` + `@x402/evm`, run with node)
//! pays `mintflow` on anvil; replays and malformed headers are refused and write nothing.
#[macro_use]
mod common;

use alloy::primitives::{B256, Bytes, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolStruct;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::stack::{PAYER_KEY, Stack, StackOptions, anvil_rpc, cancel_authorization, fund_usdc};
use common::x402::{PRICE, WAIT, assert_minted, funded, seller, usdc_balance};
use common::{Backend, eventually};
use mintflow::x402::types::{PaymentRequired, encode_header};
use mintflow::x402::verify::{SIGNING_LEEWAY_SECS, TransferWithAuthorization};
use mintflow::x402::{Authorization, ExactPayload, Offer, PaymentPayload};
use serde_json::{Value, json};

on_both_backends!(
    the_official_client_pays_and_gets_its_mint,
    the_official_client_pays_for_a_deployment,
    a_replayed_payment_signature_pays_once,
    the_official_client_pays_the_old_mint_route,
    a_settlement_reverted_while_the_client_waits_is_refused,
);

/// Pays `path` with the official client on anvil's default chain.
async fn official_client(stack: &Stack, path: &str, body: &Value) -> Value {
    common::x402::official_client(stack, "eip155:31337", path, body).await
}

async fn the_official_client_pays_for_a_deployment(backend: Backend) {
    let stack = Stack::start(backend, StackOptions::default()).await;
    let payer = funded(&stack).await;
    let seller_before = usdc_balance(&stack, seller()).await;
    let spec = json!({
        "name": "Paid", "symbol": "PAID", "amountPerMint": "7", "maxSupply": "700",
        "owner": payer.address().to_string(),
    });
    let result = official_client(&stack, "/x402/deploy", &spec).await;
    assert_eq!(
        (
            result["status"].as_i64(),
            result["paymentResponse"]["success"].as_bool()
        ),
        (Some(200), Some(true)),
        "{result}"
    );
    // 10 USDC, the default DEPLOY_PRICE, from the payer to the seller.
    assert_eq!(usdc_balance(&stack, payer.address()).await, U256::ZERO);
    assert_eq!(
        usdc_balance(&stack, seller()).await - seller_before,
        U256::from(10 * PRICE)
    );
    let id = result["body"]["deploymentId"].as_str().unwrap().to_owned();
    let d = eventually(WAIT, "the deployment to be confirmed", || async {
        let (_, d) = stack.get(&format!("/v1/deployments/{id}")).await;
        (d["status"] == "confirmed").then_some(d)
    })
    .await;
    let address = d["address"].as_str().unwrap();
    let (status, token) = stack.get(&format!("/v1/tokens/{address}")).await;
    assert_eq!(
        (status, token["symbol"].as_str()),
        (200, Some("PAID")),
        "{token}"
    );
    stack.service.stop().await;
}

async fn the_official_client_pays_and_gets_its_mint(backend: Backend) {
    let stack = Stack::start(backend, StackOptions::default()).await;
    let payer = funded(&stack).await;
    let seller_before = usdc_balance(&stack, seller()).await;
    let result = official_client(&stack, "/x402/mint", &json!({ "quantity": 1 })).await;
    assert_eq!(result["status"], 200, "{result}");
    let settled = &result["paymentResponse"];
    assert_eq!(settled["success"], true, "{result}");
    assert_eq!(settled["network"], "eip155:31337");
    assert!(settled["transaction"].as_str().unwrap().starts_with("0x"));
    assert_eq!(
        settled["payer"].as_str().unwrap().to_lowercase(),
        payer.address().to_string().to_lowercase()
    );

    assert_eq!(
        usdc_balance(&stack, payer.address()).await,
        U256::from(9 * PRICE)
    );
    assert_eq!(
        usdc_balance(&stack, seller()).await - seller_before,
        U256::from(PRICE)
    );
    let mint = result["body"]["mintIds"][0].as_str().unwrap().to_owned();
    assert_minted(&stack, &mint, payer.address(), 1).await;

    // The old path is the same operation: paid and minted again.
    let old = official_client(&stack, "/api/x402-batch-mint", &json!({ "quantity": 1 })).await;
    assert_eq!(old["status"], 200, "{old}");
    assert_eq!(old["paymentResponse"]["success"], true, "{old}");
    assert_eq!(
        usdc_balance(&stack, seller()).await - seller_before,
        U256::from(2 * PRICE)
    );
    let mint = old["body"]["mintIds"][0].as_str().unwrap().to_owned();
    assert_minted(&stack, &mint, payer.address(), 2).await;
    // The old stats count both payments, settled (a snapshot up to a second old).
    let stats = eventually(WAIT, "both payments in /api/payment-stats", || async {
        let (status, stats) = stack.get("/api/payment-stats").await;
        assert_eq!(status, 200, "{stats}");
        (stats["confirmed"] == 2).then_some(stats)
    })
    .await;
    assert_eq!(
        stats,
        json!({ "total": 2, "pending": 0, "processing": 0, "sent": 0, "confirmed": 2,
                "confirmation_failed": 0 })
    );
    stack.service.stop().await;
}

/// A PAYMENT-SIGNATURE for the offer in `required`, signed by `payer`, valid for
/// `valid_secs` seconds from now.
fn payment_signature(
    required: &PaymentRequired,
    payer: &PrivateKeySigner,
    valid_secs: i64,
) -> String {
    let accepted = required.accepts[0].clone();
    let offer = Offer {
        chain_id: 31337,
        asset: accepted.asset.parse().unwrap(),
        asset_name: accepted.extra["name"].as_str().unwrap().into(),
        asset_version: accepted.extra["version"].as_str().unwrap().into(),
        pay_to: accepted.pay_to.parse().unwrap(),
        amount: U256::from_str_radix(&accepted.amount, 10).unwrap(),
        min_validity_secs: accepted.max_timeout_seconds - SIGNING_LEEWAY_SECS,
    };
    let valid_before = (chrono::Utc::now().timestamp() + valid_secs) as u64;
    let nonce = B256::from_slice(&uuid::Uuid::new_v4().as_bytes().repeat(2));
    let message = TransferWithAuthorization {
        from: payer.address(),
        to: offer.pay_to,
        value: offer.amount,
        validAfter: U256::ZERO,
        validBefore: U256::from(valid_before),
        nonce,
    };
    let sig = payer
        .sign_hash_sync(&message.eip712_signing_hash(&offer.domain()))
        .unwrap();
    encode_header(&PaymentPayload {
        x402_version: 2,
        payload: ExactPayload {
            authorization: Authorization {
                from: payer.address().to_string(),
                to: offer.pay_to.to_string(),
                value: offer.amount.to_string(),
                valid_after: "0".into(),
                valid_before: valid_before.to_string(),
                nonce: nonce.to_string(),
            },
            signature: Bytes::from(sig.as_bytes()).to_string(),
        },
        resource: Some(required.resource.clone()),
        accepted,
    })
}

async fn pay(stack: &Stack, signature: Option<&str>) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = stack
        .http
        .post(format!("{}/x402/mint", stack.base))
        .json(&json!({ "quantity": 1 }));
    if let Some(s) = signature {
        req = req.header("PAYMENT-SIGNATURE", s);
    }
    let (status, body, headers) = common::spec::send_checked(req).await;
    (status.as_u16(), body, headers)
}

async fn payments(stack: &Stack) -> i64 {
    stack
        .t
        .scalar_i64("SELECT count(*) FROM workflows WHERE kind = 'payment'")
        .await
}

async fn a_replayed_payment_signature_pays_once(backend: Backend) {
    let stack = Stack::start(backend, StackOptions::default()).await;
    let payer = funded(&stack).await;
    // Unpaid: 402 with the offer.
    let (status, body, headers) = pay(&stack, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (402, Some("payment_required")),
        "{body}"
    );
    assert_eq!(headers["cache-control"], "no-store");
    let offered = STANDARD
        .decode(headers["payment-required"].to_str().unwrap())
        .unwrap();
    let required: PaymentRequired = serde_json::from_slice(&offered).unwrap();
    assert_eq!(required.accepts[0].network, "eip155:31337");
    assert_eq!(required.accepts[0].amount, PRICE.to_string());
    assert_eq!(required.accepts[0].extra["name"], "USD Coin");

    // Unreadable signatures: 400, nothing written.
    for unreadable in ["%%%".to_owned(), STANDARD.encode("{nope")] {
        let (status, body, _) = pay(&stack, Some(&unreadable)).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_payment_signature")),
            "{body}"
        );
    }
    // Another protocol version, or another scheme than `exact`: refused with the reason.
    let tampered = |change: fn(&mut Value)| {
        let signed = payment_signature(&required, &payer, 300);
        let mut payload: Value = serde_json::from_slice(&STANDARD.decode(signed).unwrap()).unwrap();
        change(&mut payload);
        STANDARD.encode(payload.to_string())
    };
    let other_version: fn(&mut Value) = |p| p["x402Version"] = json!(1);
    let other_scheme: fn(&mut Value) = |p| p["accepted"]["scheme"] = json!("upto");
    // An offer the server never made (a lower price), and a payer that is no address.
    let other_offer: fn(&mut Value) = |p| p["accepted"]["amount"] = json!("1");
    let no_address: fn(&mut Value) = |p| p["payload"]["authorization"]["from"] = json!("me");
    for (change, code) in [
        (other_version, "invalid_x402_version"),
        (other_scheme, "unsupported_scheme"),
        (other_offer, "invalid_payment_requirements"),
        (no_address, "invalid_payload"),
    ] {
        let (status, body, _) = pay(&stack, Some(&tampered(change))).await;
        assert_eq!((status, body["code"].as_str()), (402, Some(code)), "{body}");
    }
    assert_eq!(payments(&stack).await, 0);

    // Signed for another chain, or expired: refused with the reason, nothing written.
    let mut elsewhere = required.clone();
    elsewhere.accepts[0].network = "eip155:1".into();
    let (status, body, _) = pay(&stack, Some(&payment_signature(&elsewhere, &payer, 300))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (402, Some("invalid_network")),
        "{body}"
    );
    let (status, body, headers) =
        pay(&stack, Some(&payment_signature(&required, &payer, -10))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (
            402,
            Some("invalid_exact_evm_payload_authorization_valid_before")
        ),
        "{body}"
    );
    assert!(headers.contains_key("payment-required"));
    assert_eq!(payments(&stack).await, 0);

    // The same signature 20 times at once, then again: one payment, one transfer, one mint.
    let signature = payment_signature(&required, &payer, 300);
    let answers = futures::future::join_all((0..20).map(|_| pay(&stack, Some(&signature)))).await;
    let paid: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 200).collect();
    assert_eq!(paid.len(), 1, "{answers:?}");
    for (status, body, _) in answers.iter().filter(|(s, _, _)| *s != 200) {
        assert_eq!(
            (*status, body["code"].as_str()),
            (402, Some("invalid_exact_evm_nonce_already_used")),
            "{body}"
        );
    }
    let (status, body, _) = pay(&stack, Some(&signature)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (402, Some("invalid_exact_evm_nonce_already_used")),
        "{body}"
    );
    assert_eq!(payments(&stack).await, 1);
    assert_eq!(
        stack
            .t
            .scalar_i64("SELECT count(*) FROM workflows WHERE kind = 'mint'")
            .await,
        1
    );
    assert_eq!(
        usdc_balance(&stack, payer.address()).await,
        U256::from(9 * PRICE)
    );
    stack.service.stop().await;
}

/// The payer cancels the authorization while the client waits for its settlement, which then
/// reverts on chain: 402 `invalid_transaction_state`, in the body and in `PAYMENT-RESPONSE`,
/// and the mint it paid for is cancelled.
async fn a_settlement_reverted_while_the_client_waits_is_refused(backend: Backend) {
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
    fund_usdc(&rpc, stack.usdc, payer.address(), PRICE, true).await;
    let (_, _, headers) = pay(&stack, None).await;
    let offered = STANDARD
        .decode(headers["payment-required"].to_str().unwrap())
        .unwrap();
    let required: PaymentRequired = serde_json::from_slice(&offered).unwrap();
    let signature = payment_signature(&required, &payer, 300);
    let signed: Value = serde_json::from_slice(&STANDARD.decode(&signature).unwrap()).unwrap();
    let nonce: B256 = signed["payload"]["authorization"]["nonce"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // While the request waits: once the settlement is sent, the cancellation goes before it,
    // and blocks are mined until the payment has failed.
    let cancel_first = async {
        let payment = eventually(WAIT, "the settlement to be sent", || async {
            let (_, page) = stack.get("/v1/payments").await;
            let p = page["items"][0].clone();
            (p["status"] == "sent").then_some(p)
        })
        .await;
        cancel_authorization(&stack, &payer, nonce).await;
        let id = payment["id"].as_str().unwrap();
        eventually(WAIT, "the payment to fail", || async {
            anvil_rpc(&rpc, "anvil_mine", json!([1])).await;
            let (_, p) = stack.get(&format!("/v1/payments/{id}")).await;
            (p["status"] == "failed").then_some(())
        })
        .await;
        payment
    };
    let ((status, body, headers), payment) =
        tokio::join!(pay(&stack, Some(&signature)), cancel_first);
    assert_eq!(
        (status, body["code"].as_str()),
        (402, Some("invalid_transaction_state")),
        "{body}"
    );
    let settlement: Value = serde_json::from_slice(
        &STANDARD
            .decode(headers["payment-response"].to_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            settlement["success"].as_bool(),
            settlement["errorReason"].as_str()
        ),
        (Some(false), Some("invalid_transaction_state")),
        "{settlement}"
    );
    let mint = payment["mintIds"][0].as_str().unwrap();
    let (_, m) = stack.get(&format!("/v1/mints/{mint}")).await;
    assert_eq!(m["status"], "cancelled", "{m}");
    assert_eq!(
        usdc_balance(&stack, payer.address()).await,
        U256::from(PRICE)
    );
    stack.service.stop().await;
}

/// The old `POST /mint` is paid like the old server's: the official client, without any key,
/// pays the 402 and gets its mint. What the buyer holds is public by id (the payment, its mint,
/// the old queue item and payment), and none of it shows the signature or checkpoint data;
/// lists of them need a key.
async fn the_official_client_pays_the_old_mint_route(backend: Backend) {
    let stack = Stack::start(backend, StackOptions::default()).await;
    let payer = funded(&stack).await;
    let body = json!({ "payer": payer.address().to_string(), "quantity": 2 });
    let result = official_client(&stack, "/mint", &body).await;
    assert_eq!(result["status"], 200, "{result}");
    assert_eq!(result["paymentResponse"]["success"], true, "{result}");
    assert_eq!(result["body"]["success"], true, "{result}");
    assert_eq!(
        usdc_balance(&stack, payer.address()).await,
        U256::from(8 * PRICE),
        "two mints at MINT_PRICE"
    );
    let mint = result["body"]["queueId"].as_str().unwrap().to_owned();
    assert_minted(&stack, &mint, payer.address(), 2).await;

    // The payment's checkpoint holds the buyer's signature; no public answer shows it.
    let (payment, data): (String, String) = {
        let row = mintflow::store::workflows::list(
            &stack.t.db,
            &mintflow::store::workflows::ListFilter {
                kind: Some("payment".into()),
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .remove(0);
        (row.id.to_string(), row.data.to_string())
    };
    let signature = serde_json::from_str::<Value>(&data).unwrap()["authorization"]["signature"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("the checkpoint keeps the signature: {data}"));
    let anon = reqwest::Client::new();
    let payer_hex = payer.address().to_string();
    for path in [
        format!("/v1/payments/{payment}"),
        format!("/v1/mints/{mint}"),
        format!("/api/payment/{payment}"),
        format!("/queue/item/{mint}"),
        format!("/queue/payer/{payer_hex}"),
    ] {
        let res = anon
            .get(format!("{}{path}", stack.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path} is public");
        let text = res.text().await.unwrap();
        assert!(
            !text.contains(&signature[2..]),
            "{path} shows the signature: {text}"
        );
        assert!(
            !text.contains("\"data\""),
            "{path} shows checkpoint data: {text}"
        );
    }
    for path in [
        "/v1/payments",
        "/v1/mints",
        "/queue/status",
        "/api/payment-stats",
    ] {
        let res = anon
            .get(format!("{}{path}", stack.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{path} needs a key");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["code"], "missing_credentials", "{path}: {err}");
    }
    stack.service.stop().await;
}
