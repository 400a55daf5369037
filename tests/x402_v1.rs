//! x402 v1 beside v2 on the same routes: the official v1 client (`x402-fetch` 1.x, what the old
//! server's buyers run) pays `mintflow` on an anvil that is chain 84532 (`base-sepolia`, a
//! network v1 knows by name), and so does the official v2 client; a replayed `X-PAYMENT` pays
//! once, and an unreadable one is a 400 that writes nothing.
#[macro_use]
mod common;

use alloy::primitives::U256;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::stack::{Stack, StackOptions};
use common::x402::{
    PRICE, assert_minted, funded, official_client, run_client, seller, usdc_balance,
};
use common::{Backend, spec};
use mintflow::x402::PaymentRequired;
use serde_json::{Value, json};

on_both_backends!(
    x402_fetch_v1_pays_and_gets_its_mint_beside_v2,
    an_unreadable_or_refused_x_payment_writes_nothing,
);

/// Base Sepolia's chain id: v1 clients sign for networks they know by name.
const BASE_SEPOLIA: &[&str] = &["--block-time", "1", "--chain-id", "84532"];

async fn base_sepolia(backend: Backend) -> Stack {
    let opts = StackOptions {
        anvil_args: BASE_SEPOLIA,
        ..Default::default()
    };
    Stack::start(backend, opts).await
}

/// Pays `path` with `x402-fetch` 1.x (`tools/x402-pay-v1.mjs`); its printed result.
async fn v1_client(stack: &Stack, path: &str, body: &Value) -> Value {
    let env = [
        ("X402_NETWORK", "base-sepolia".to_owned()),
        ("X402_MAX_VALUE", (10 * PRICE).to_string()),
        ("X402_BODY", body.to_string()),
    ];
    run_client(stack, "x402-pay-v1.mjs", path, &env).await
}

/// `POST /x402/mint` for one mint with these headers, checked against the spec.
async fn post_mint(stack: &Stack, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut req = stack
        .http
        .post(format!("{}/x402/mint", stack.base))
        .json(&json!({ "quantity": 1 }));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let (status, body, _) = spec::send_checked(req).await;
    (status.as_u16(), body)
}

async fn payments(stack: &Stack) -> i64 {
    stack
        .t
        .scalar_i64("SELECT count(*) FROM workflows WHERE kind = 'payment'")
        .await
}

async fn x402_fetch_v1_pays_and_gets_its_mint_beside_v2(backend: Backend) {
    let stack = base_sepolia(backend).await;
    let payer = funded(&stack).await;
    let seller_before = usdc_balance(&stack, seller()).await;

    // One 402 for both versions: the v1 offer in the body, the v2 one in PAYMENT-REQUIRED.
    let req = stack
        .http
        .post(format!("{}/x402/mint", stack.base))
        .json(&json!({ "quantity": 1 }));
    let (status, body, headers) = spec::send_checked(req).await;
    assert_eq!(status, 402, "{body}");
    assert_eq!(
        (&body["code"], &body["x402Version"]),
        (&json!("payment_required"), &json!(1))
    );
    let v1_offer = &body["accepts"][0];
    assert_eq!(v1_offer["scheme"], "exact");
    assert_eq!(v1_offer["network"], "base-sepolia");
    assert_eq!(v1_offer["maxAmountRequired"], PRICE.to_string());
    assert_eq!(v1_offer["payTo"], seller().to_string());
    assert_eq!(v1_offer["asset"], stack.usdc.to_string());
    assert_eq!(v1_offer["extra"]["name"], "USD Coin");
    let v2: PaymentRequired = serde_json::from_slice(
        &STANDARD
            .decode(headers["payment-required"].to_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(v2.accepts[0].network, "eip155:84532");

    // v1: pays with X-PAYMENT, gets X-PAYMENT-RESPONSE and its mint.
    let paid = v1_client(&stack, "/x402/mint", &json!({ "quantity": 1 })).await;
    assert_eq!(paid["status"], 200, "{paid}");
    let settled = &paid["paymentResponse"];
    assert_eq!(
        (&settled["success"], &settled["network"]),
        (&json!(true), &json!("base-sepolia")),
        "{paid}"
    );
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
    let payment = paid["body"]["paymentId"].as_str().unwrap();
    let (_, view) = stack.get(&format!("/v1/payments/{payment}")).await;
    assert_eq!(view["status"], "confirmed", "{view}");
    let mint = paid["body"]["mintIds"][0].as_str().unwrap().to_owned();
    assert_minted(&stack, &mint, payer.address(), 1).await;

    // The same X-PAYMENT again pays nothing: the documented replay code.
    let x_payment = paid["xPayment"].as_str().unwrap();
    let (status, body) = post_mint(&stack, &[("X-PAYMENT", x_payment)]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (402, Some("invalid_exact_evm_nonce_already_used")),
        "{body}"
    );
    assert_eq!(payments(&stack).await, 1);

    // v2 on the same route and chain still pays.
    let v2_paid = official_client(&stack, "eip155:84532", "/x402/mint", &json!({})).await;
    assert_eq!(v2_paid["status"], 200, "{v2_paid}");
    assert_eq!(
        v2_paid["paymentResponse"]["network"], "eip155:84532",
        "{v2_paid}"
    );
    let mint = v2_paid["body"]["mintIds"][0].as_str().unwrap().to_owned();
    assert_minted(&stack, &mint, payer.address(), 2).await;

    // The old `POST /mint` takes X-PAYMENT too.
    let body = json!({ "payer": payer.address().to_string(), "quantity": 1 });
    let old = v1_client(&stack, "/mint", &body).await;
    assert_eq!(old["status"], 200, "{old}");
    assert_eq!(old["paymentResponse"]["success"], true, "{old}");
    let mint = old["body"]["queueId"].as_str().unwrap().to_owned();
    assert_minted(&stack, &mint, payer.address(), 3).await;
    assert_eq!(
        usdc_balance(&stack, payer.address()).await,
        U256::from(7 * PRICE)
    );
    stack.service.stop().await;
}

async fn an_unreadable_or_refused_x_payment_writes_nothing(backend: Backend) {
    let stack = base_sepolia(backend).await;
    let payer = funded(&stack).await;
    // A v1 payment that reads, for the refusals below (they come before the signature's check).
    let v1_payment = |change: fn(&mut Value)| {
        let mut payment = json!({
            "x402Version": 1, "scheme": "exact", "network": "base-sepolia",
            "payload": {
                "signature": format!("0x{}", "11".repeat(65)),
                "authorization": {
                    "from": payer.address().to_string(), "to": seller().to_string(),
                    "value": PRICE.to_string(), "validAfter": "0", "validBefore": "4000000000",
                    "nonce": format!("0x{}", "07".repeat(32)),
                },
            },
        });
        change(&mut payment);
        STANDARD.encode(payment.to_string())
    };

    // Unreadable: 400 with the header's name.
    let not_v1: fn(&mut Value) = |p| p["x402Version"] = json!(2);
    let short_nonce: fn(&mut Value) = |p| p["payload"]["authorization"]["nonce"] = json!("0x07");
    for unreadable in [
        "%%%".to_owned(),
        STANDARD.encode("{nope"),
        v1_payment(not_v1),
        v1_payment(short_nonce),
    ] {
        let (status, body) = post_mint(&stack, &[("X-PAYMENT", &unreadable)]).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_payment_signature")),
            "{body}"
        );
        assert!(body["message"].as_str().unwrap().contains("X-PAYMENT"));
    }
    // Both versions at once: 400, whichever would pay.
    let both = [("X-PAYMENT", "a"), ("PAYMENT-SIGNATURE", "b")];
    let (status, body) = post_mint(&stack, &both).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_payment_signature"))
    );

    // Readable but refused, with the x402 reason and the offer again.
    let other_network: fn(&mut Value) = |p| p["network"] = json!("base");
    let unknown_network: fn(&mut Value) = |p| p["network"] = json!("moon");
    let other_scheme: fn(&mut Value) = |p| p["scheme"] = json!("upto");
    let bad_signature: fn(&mut Value) = |_| {};
    for (change, code) in [
        (other_network, "invalid_network"),
        (unknown_network, "invalid_network"),
        (other_scheme, "unsupported_scheme"),
        (bad_signature, "invalid_exact_evm_payload_signature"),
    ] {
        let (status, body) = post_mint(&stack, &[("X-PAYMENT", &v1_payment(change))]).await;
        assert_eq!((status, body["code"].as_str()), (402, Some(code)), "{body}");
        assert_eq!(body["accepts"][0]["network"], "base-sepolia", "{body}");
    }
    assert_eq!(payments(&stack).await, 0);
    stack.service.stop().await;
}
