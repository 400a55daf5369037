//! mintflow as an x402 facilitator: a resource server built with the official middleware
//! (`@x402/express`, its HTTP facilitator client pointed at mintflow with a `facilitate` key)
//! sells to the official buyer (`@x402/fetch`) on anvil (`tools/x402-facilitated.mjs`); the
//! payment settles through mintflow's payment workflow, once; a payee outside
//! `FACILITATOR_PAY_TO` is refused by verify and settle, and nothing is paid to it; a key
//! given payees of its own (`facilitatorPayTo`) settles for those only.
#[macro_use]
mod common;

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use common::stack::{
    PAYER_KEY, Stack, StackOptions, anvil_rpc, fresh_nonce, fund_usdc, sign_authorization,
};
use common::x402::{PRICE, WAIT, funded, seller, usdc_balance};
use common::{Backend, eventually};
use mintflow::service::ServiceConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(
    the_official_middleware_sells_through_mintflow_once_and_to_allowed_payees_only,
    the_facilitator_api_needs_a_facilitate_key_but_supported_is_public,
    a_settlement_the_wait_does_not_see_is_pending_and_still_settles_once,
    a_key_with_its_own_payees_settles_for_them_only,
);

/// The payee `FACILITATOR_PAY_TO` allows.
const ALLOWED: Address = Address::repeat_byte(0x5e);
/// A payee it does not.
const OTHER: Address = Address::repeat_byte(0x0e);
/// 0.25 USDC.
const AMOUNT: u64 = PRICE / 4;

fn allow_one_payee(config: &mut ServiceConfig) {
    let chain = config.chain.as_mut().expect("the stack has a chain");
    chain.contracts.facilitator_pay_to = vec![ALLOWED];
}

async fn start(backend: Backend) -> Stack {
    let opts = StackOptions {
        configure: allow_one_payee,
        ..Default::default()
    };
    Stack::start(backend, opts).await
}

/// A new key with `scopes`, created by the admin.
async fn key(stack: &Stack, scopes: Value) -> String {
    let (status, created) = stack
        .post(
            "/v1/keys",
            &json!({ "name": "resource-server", "scopes": scopes }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    created["key"].as_str().unwrap().to_owned()
}

async fn the_official_middleware_sells_through_mintflow_once_and_to_allowed_payees_only(
    backend: Backend,
) {
    let stack = start(backend).await;
    let payer = funded(&stack).await;
    let key = key(&stack, json!(["facilitate"])).await;
    let env = [
        (
            "FACILITATOR_URL",
            format!("{}/x402/facilitator", stack.base),
        ),
        ("FACILITATOR_KEY", key),
        ("X402_PRIVATE_KEY", PAYER_KEY.to_owned()),
        ("X402_ASSET", stack.usdc.to_string()),
        ("X402_NETWORK", "eip155:31337".to_owned()),
        ("X402_AMOUNT", AMOUNT.to_string()),
        ("X402_PAY_TO", ALLOWED.to_string()),
        ("X402_OTHER_PAY_TO", OTHER.to_string()),
    ];
    let out = tokio::process::Command::new("node")
        .arg("tools/x402-facilitated.mjs")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .envs(env)
        .output()
        .await
        .expect("run node tools/x402-facilitated.mjs (npm ci --prefix tools)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();

    // Sold: the middleware verified and settled through mintflow.
    let sold = &result["sold"];
    assert_eq!(sold["status"], 200, "{result}");
    assert_eq!(sold["body"]["resource"], "sold");
    assert_eq!(sold["paymentResponse"]["success"], true, "{result}");
    assert_eq!(sold["paymentResponse"]["network"], "eip155:31337");
    let tx = sold["paymentResponse"]["transaction"].as_str().unwrap();
    assert_eq!(tx.len(), 66, "{result}");

    // The same PAYMENT-SIGNATURE again: refused, nothing more paid.
    let replay = &result["replay"];
    assert_eq!(replay["status"], 402, "{result}");
    assert_eq!(
        replay["paymentRequired"]["error"],
        "invalid_exact_evm_nonce_already_used"
    );

    // A payee outside the allow-list: refused by the middleware's verify, and by verify and
    // settle asked directly, with the typed reason.
    assert!(result["elsewherePaid"].as_bool().unwrap(), "{result}");
    let elsewhere = &result["elsewhere"];
    assert_eq!(elsewhere["status"], 402, "{result}");
    assert_eq!(elsewhere["paymentRequired"]["error"], "pay_to_not_allowed");
    let verify = &result["elsewhereVerify"];
    assert_eq!(verify["status"], 200, "{result}");
    assert_eq!(verify["body"]["isValid"], false);
    assert_eq!(verify["body"]["invalidReason"], "pay_to_not_allowed");
    assert_eq!(
        verify["body"]["payer"].as_str().map(str::to_lowercase),
        Some(payer.address().to_string().to_lowercase())
    );
    let settle = &result["elsewhereSettle"];
    assert_eq!(settle["status"], 200, "{result}");
    assert_eq!(settle["body"]["success"], false);
    assert_eq!(settle["body"]["errorReason"], "pay_to_not_allowed");
    assert_eq!(settle["body"]["transaction"], "");

    // Paid once, to the allowed payee only.
    assert_eq!(usdc_balance(&stack, ALLOWED).await, U256::from(AMOUNT));
    assert_eq!(usdc_balance(&stack, OTHER).await, U256::ZERO);
    assert_eq!(
        usdc_balance(&stack, payer.address()).await,
        U256::from(10 * PRICE - AMOUNT)
    );
    // As one ordinary payment workflow, buying nothing.
    let (status, list) = stack
        .get(&format!("/v1/payments?payer={}", payer.address()))
        .await;
    assert_eq!(status, 200, "{list}");
    let payments = list["items"].as_array().unwrap();
    assert_eq!(payments.len(), 1, "{list}");
    assert_eq!(payments[0]["status"], "confirmed", "{list}");
    assert_eq!(payments[0]["txHash"].as_str(), Some(tx));
    assert_eq!(payments[0]["mintIds"], json!([]));
    stack.service.stop().await;
}

async fn the_facilitator_api_needs_a_facilitate_key_but_supported_is_public(backend: Backend) {
    let stack = start(backend).await;
    let anyone = reqwest::Client::new();
    let supported: Value = anyone
        .get(format!("{}/x402/facilitator/supported", stack.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        supported["kinds"],
        json!([{ "x402Version": 2, "scheme": "exact", "network": "eip155:31337" }])
    );

    let body = json!({ "x402Version": 2, "paymentPayload": {}, "paymentRequirements": {} });
    for path in ["verify", "settle"] {
        let url = format!("{}/x402/facilitator/{path}", stack.base);
        let res = anyone.post(&url).json(&body).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let refused: Value = res.json().await.unwrap();
        assert_eq!(refused["code"], "missing_credentials", "{refused}");

        let reader = key(&stack, json!(["read", "mint"])).await;
        let res = common::http_as(&reader)
            .post(&url)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let refused: Value = res.json().await.unwrap();
        assert_eq!(refused["code"], "insufficient_scope", "{refused}");
    }

    // With the key, a malformed payment is an invalid one (200), not an error.
    let facilitate = common::http_as(&key(&stack, json!(["facilitate"])).await);
    let url = format!("{}/x402/facilitator/verify", stack.base);
    let res = facilitate.post(&url).json(&body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["isValid"], false);
    assert_eq!(answer["invalidReason"], "invalid_payment_requirements");

    // A body without the requirements, or with something else than an object, is malformed.
    for body in [
        json!({ "x402Version": 2, "paymentPayload": {} }),
        json!({ "x402Version": 2, "paymentPayload": {}, "paymentRequirements": 7 }),
    ] {
        for path in ["verify", "settle"] {
            let url = format!("{}/x402/facilitator/{path}", stack.base);
            let res = facilitate.post(&url).json(&body).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path} {body}");
            let refused: Value = res.json().await.unwrap();
            assert_eq!(refused["code"], "invalid_body", "{path} {body}: {refused}");
        }
    }
    stack.service.stop().await;
}

/// The test stack's `PAY_TO` (its signer) allowed too: `sign_authorization` pays it.
fn allow_the_signer(config: &mut ServiceConfig) {
    let chain = config.chain.as_mut().expect("the stack has a chain");
    chain.contracts.facilitator_pay_to = vec![ALLOWED, seller()];
}

async fn a_settlement_the_wait_does_not_see_is_pending_and_still_settles_once(backend: Backend) {
    // No block is mined unless the test mines one: the settlement stays sent. The wait is the
    // offer's maxTimeoutSeconds at most: 6 + 30 s here.
    let opts = StackOptions {
        anvil_args: &[],
        manual_mining: true,
        settings: &[("min_authorization_validity_secs", 6)],
        configure: allow_the_signer,
        ..Default::default()
    };
    let stack = Stack::start(backend, opts).await;
    let rpc = stack.anvil.endpoint();
    let (payer, request) = request_to_seller(&stack).await;
    let (status, verified) = stack.post("/x402/facilitator/verify", &request).await;
    assert_eq!(
        (status, &verified["isValid"]),
        (200, &json!(true)),
        "{verified}"
    );

    let (status, pending) = stack.post("/x402/facilitator/settle", &request).await;
    assert_eq!(status, 200, "{pending}");
    assert_eq!(pending["success"], false, "{pending}");
    assert_eq!(pending["errorReason"], "settlement_pending", "{pending}");
    let id = pending["paymentId"].as_str().unwrap().to_owned();

    // It settles without the request.
    let payment = eventually(WAIT, "the facilitated payment to be confirmed", || async {
        anvil_rpc(&rpc, "anvil_mine", json!([1])).await;
        let (_, p) = stack.get(&format!("/v1/payments/{id}")).await;
        (p["status"] == "confirmed").then_some(p)
    })
    .await;
    assert_eq!(payment["mintIds"], json!([]), "{payment}");
    let seller_before = usdc_balance(&stack, seller()).await;

    // And once: verify and settle refuse it again, and nothing more is paid.
    let (_, verified) = stack.post("/x402/facilitator/verify", &request).await;
    assert_eq!(
        verified["invalidReason"], "invalid_exact_evm_nonce_already_used",
        "{verified}"
    );
    let (_, again) = stack.post("/x402/facilitator/settle", &request).await;
    assert_eq!(
        (&again["success"], &again["errorReason"]),
        (
            &json!(false),
            &json!("invalid_exact_evm_nonce_already_used")
        ),
        "{again}"
    );
    anvil_rpc(&rpc, "anvil_mine", json!([1])).await;
    assert_eq!(usdc_balance(&stack, seller()).await, seller_before);
    assert_eq!(
        usdc_balance(&stack, payer).await,
        U256::from(PRICE - AMOUNT)
    );
    stack.service.stop().await;
}

/// A facilitator request paying `AMOUNT` to the stack's `PAY_TO` (`seller()`), and its payer
/// (funded with `PRICE`).
async fn request_to_seller(stack: &Stack) -> (Address, Value) {
    let payer: PrivateKeySigner = PAYER_KEY.parse().unwrap();
    fund_usdc(
        &stack.anvil.endpoint(),
        stack.usdc,
        payer.address(),
        PRICE,
        true,
    )
    .await;
    let (authorization, signature) = sign_authorization(stack.usdc, &payer, AMOUNT, fresh_nonce());
    let requirements = json!({
        "scheme": "exact", "network": "eip155:31337", "amount": AMOUNT.to_string(),
        "asset": stack.usdc.to_string(), "payTo": seller().to_string(), "maxTimeoutSeconds": 300,
        "extra": { "name": "USD Coin", "version": "2" },
    });
    let request = json!({
        "x402Version": 2,
        "paymentPayload": {
            "x402Version": 2,
            "payload": { "authorization": authorization, "signature": signature },
            "accepted": requirements,
        },
        "paymentRequirements": requirements,
    });
    (payer.address(), request)
}

/// The answer to `request` posted to `url` as `client`.
async fn answer_to(client: &reqwest::Client, url: &str, request: &Value) -> Value {
    let res = client.post(url).json(request).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// A `facilitate` key with payees of its own, and the key as stored.
async fn key_for_payees(stack: &Stack, name: &str, payees: &[Address]) -> (String, Value) {
    let body = json!({ "name": name, "scopes": ["facilitate"], "facilitatorPayTo": payees });
    let (status, created) = stack.post("/v1/keys", &body).await;
    assert_eq!(status, 201, "{created}");
    (created["key"].as_str().unwrap().to_owned(), created)
}

async fn a_key_with_its_own_payees_settles_for_them_only(backend: Backend) {
    // The server settles for two payees; each resource server's key for its own.
    let opts = StackOptions {
        configure: allow_the_signer,
        ..Default::default()
    };
    let stack = Stack::start(backend, opts).await;
    let (_, request) = request_to_seller(&stack).await;
    let seller_before = usdc_balance(&stack, seller()).await;

    let (other_shop, created) = key_for_payees(&stack, "other-shop", &[ALLOWED]).await;
    let other_shop = common::http_as(&other_shop);
    // The attack: a key settling a payment to a payee the server allows, but not for it.
    let verify = format!("{}/x402/facilitator/verify", stack.base);
    let settle = format!("{}/x402/facilitator/settle", stack.base);
    let verified = answer_to(&other_shop, &verify, &request).await;
    assert_eq!(
        (&verified["isValid"], &verified["invalidReason"]),
        (&json!(false), &json!("pay_to_not_allowed")),
        "{verified}"
    );
    let settled = answer_to(&other_shop, &settle, &request).await;
    assert_eq!(
        (&settled["success"], &settled["errorReason"]),
        (&json!(false), &json!("pay_to_not_allowed")),
        "{settled}"
    );
    let (_, payments) = stack.get("/v1/payments").await;
    assert_eq!(
        payments["items"],
        json!([]),
        "nothing was created: {payments}"
    );
    assert_eq!(
        created["facilitatorPayTo"],
        json!([ALLOWED.to_string()]),
        "{created}"
    );

    // The seller's own key settles it, once.
    let (seller_key, _) = key_for_payees(&stack, "seller-shop", &[seller()]).await;
    let (status, whoami) = {
        let res = common::http_as(&seller_key)
            .get(format!("{}/v1/whoami", stack.base))
            .send()
            .await
            .unwrap();
        (res.status(), res.json::<Value>().await.unwrap())
    };
    assert_eq!(status, StatusCode::OK);
    assert_eq!(whoami["facilitatorPayTo"], json!([seller().to_string()]));
    let settled = answer_to(&common::http_as(&seller_key), &settle, &request).await;
    assert_eq!(settled["success"], true, "{settled}");
    assert_eq!(
        usdc_balance(&stack, seller()).await,
        seller_before + U256::from(AMOUNT)
    );

    // Payees are for facilitation: a key without that scope cannot have them, and the list
    // is not empty.
    for (body, answer) in [
        (
            json!({ "name": "reader", "scopes": ["read"], "facilitatorPayTo": [ALLOWED] }),
            (422, "invalid_key_request"),
        ),
        (
            json!({ "name": "empty", "scopes": ["facilitate"], "facilitatorPayTo": [] }),
            (400, "invalid_body"),
        ),
        (
            json!({ "name": "typo", "scopes": ["facilitate"], "facilitatorPayTo": ["0x5e"] }),
            (400, "invalid_address"),
        ),
    ] {
        let (status, refused) = stack.post("/v1/keys", &body).await;
        assert_eq!(
            (status, refused["code"].as_str().unwrap()),
            answer,
            "{body}: {refused}"
        );
    }
    let (_, keys) = stack.get("/v1/keys").await;
    assert_eq!(
        keys.as_array().unwrap().len(),
        2,
        "nothing else was created: {keys}"
    );
    stack.service.stop().await;
}
