//! The old server's routes keep its shapes exactly, for the frontends written against it: every
//! field name and JSON type of `POST /mint`, `GET /queue/status`, `GET /queue/payer/{address}`,
//! `GET /queue/item/{queueId}` and `GET /api/payment/{id}`, both in what a real server answers
//! (PostgreSQL and SQLite, anvil) and in the spec's schema of each answer.
#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use alloy::primitives::{Address, B256};
use alloy::signers::local::PrivateKeySigner;
use common::stack::{PAYER_KEY, Stack, StackOptions, fresh_nonce, fund_usdc, sign_authorization};
use common::{Backend, eventually};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(120);
/// The default `MINT_PRICE`: 1 USDC.
const PRICE: u64 = 1_000_000;

on_both_backends!(
    old_mint_route,
    old_queue_status_route,
    old_queue_payer_route,
    old_queue_item_route,
    old_payment_route,
);

/// A JSON type, as the old frontends read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Str,
    Int,
    /// Any number, fractions included.
    Num,
    Bool,
    Arr,
    Obj,
}

use Ty::*;

/// A field of an old answer: its name, its JSON type, and whether it may be `null`.
type Field = (&'static str, Ty, bool);

const MINT_ANSWER: &[Field] = &[
    ("success", Bool, false),
    ("message", Str, false),
    ("queueId", Str, false),
    ("queuePosition", Int, false),
    ("payer", Str, false),
    ("estimatedWaitSeconds", Int, false),
    ("paymentType", Str, false),
];

const QUEUE_STATUS: &[Field] = &[
    ("stats", Obj, false),
    ("recentBatches", Arr, false),
    ("batchInterval", Num, false),
    ("maxBatchSize", Int, false),
];

const QUEUE_STATS: &[Field] = &[
    ("pending_count", Int, false),
    ("processing_count", Int, false),
    ("completed_count", Int, false),
    ("failed_count", Int, false),
    ("oldest_pending", Str, true),
    ("unique_payers_pending", Int, false),
];

const PAYER_QUEUE: &[Field] = &[("payer", Str, false), ("requests", Arr, false)];

const PAYER_REQUEST: &[Field] = &[
    ("id", Str, false),
    ("status", Str, false),
    ("queue_position", Int, true),
    ("created_at", Str, false),
    ("processed_at", Str, true),
    ("mint_tx_hash", Str, true),
    ("error_message", Str, true),
];

const QUEUE_ITEM: &[Field] = &[
    ("id", Str, false),
    ("payer_address", Str, false),
    ("status", Str, false),
    ("queue_position", Int, true),
    ("created_at", Str, false),
    ("updated_at", Str, false),
    ("processed_at", Str, true),
    ("mint_tx_hash", Str, true),
    ("error_message", Str, true),
    ("retry_count", Int, false),
    ("payment_type", Str, false),
];

const PAYMENT_ANSWER: &[Field] = &[("success", Bool, false), ("payment", Obj, false)];

const PAYMENT: &[Field] = &[
    ("id", Str, false),
    ("status", Str, false),
    ("payment_type", Str, false),
    ("payer_address", Str, true),
    ("amount", Str, true),
    ("tx_hash", Str, true),
    ("error_message", Str, true),
    ("mint_ids", Arr, false),
    ("created_at", Str, false),
    ("confirmed_at", Str, true),
];

const MINT_STATUSES: &[&str] = &["pending", "processing", "completed", "failed"];
const PAYMENT_STATUSES: &[&str] = &[
    "pending",
    "processing",
    "sent",
    "completed",
    "failed",
    "confirmation_failed",
];

/// `value` is an object with exactly `fields`, each of its type (or `null` where allowed).
fn assert_shape(what: &str, value: &Value, fields: &[Field]) {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("{what} is no object: {value}"));
    let names: BTreeSet<&str> = object.keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = fields.iter().map(|f| f.0).collect();
    assert_eq!(names, want, "{what}'s fields: {value}");
    for &(name, ty, nullable) in fields {
        let v = &object[name];
        let ok = match ty {
            Str => v.is_string(),
            Int => v.is_i64() || v.is_u64(),
            Num => v.is_number(),
            Bool => v.is_boolean(),
            Arr => v.is_array(),
            Obj => v.is_object(),
        } || (nullable && v.is_null());
        assert!(ok, "{what}.{name} is not {ty:?}: {value}");
    }
}

/// The document's schema: `$ref`s (also one wrapped in `allOf`, as fields with a description
/// are) followed to their component.
fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        return resolve(spec, &spec["components"]["schemas"][name]);
    }
    match schema["allOf"].as_array().map(Vec::as_slice) {
        Some([only]) => resolve(spec, only),
        _ => schema,
    }
}

/// The JSON schema of `method path`'s `status` answer.
fn answer_schema<'a>(spec: &'a Value, method: &str, path: &str, status: &str) -> &'a Value {
    let op = &spec["paths"][path][method];
    assert!(op.is_object(), "{method} {path} is not in the spec");
    assert_eq!(op["deprecated"], true, "{method} {path} is deprecated");
    assert_eq!(
        op["tags"],
        json!(["Legacy"]),
        "{method} {path} is tagged Legacy"
    );
    let content = op["responses"][status]["content"].as_object().unwrap();
    let json = content
        .iter()
        .find(|(media, _)| media.starts_with("application/json"))
        .unwrap_or_else(|| panic!("{method} {path} answers {status} without JSON"));
    resolve(spec, &json.1["schema"])
}

/// The schema says what the answers show: the same field names and types, every field that
/// is never `null` required.
fn assert_schema(what: &str, spec: &Value, schema: &Value, fields: &[Field]) {
    let properties = schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{what}'s schema has no properties: {schema}"));
    let names: BTreeSet<&str> = properties.keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = fields.iter().map(|f| f.0).collect();
    assert_eq!(names, want, "{what}'s schema fields");
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for &(name, ty, nullable) in fields {
        let property = resolve(spec, &properties[name]);
        let want = match ty {
            Str => "string",
            Int => "integer",
            Num => "number",
            Bool => "boolean",
            Arr => "array",
            Obj => "object",
        };
        // `type` is a name, or (OpenAPI 3.1) a list of them with "null".
        let types: Vec<&str> = match &property["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            other => panic!("{what}.{name} has no type: {other}"),
        };
        assert!(
            types.contains(&want),
            "{what}.{name}: the schema says {types:?}, the answers {want}"
        );
        if !nullable {
            assert!(required.contains(name), "{what}.{name} is always sent");
        }
    }
}

/// The schema of field `name` in `schema`, followed to its component (or its items').
fn field_schema<'a>(spec: &'a Value, schema: &'a Value, name: &str) -> &'a Value {
    let field = resolve(spec, &schema["properties"][name]);
    match field["type"].as_str() {
        Some("array") => resolve(spec, &field["items"]),
        _ => field,
    }
}

fn assert_enum(what: &str, schema: &Value, values: &[&str]) {
    let listed: BTreeSet<&str> = schema["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("{what} is no enum: {schema}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        listed,
        values.iter().copied().collect::<BTreeSet<_>>(),
        "{what}"
    );
}

fn spec() -> Value {
    serde_json::from_str(&mintflow::api::spec_json()).unwrap()
}

fn payer(n: u8) -> String {
    Address::repeat_byte(n).to_string()
}

/// Queues mints the old way, with a `mint` key (the stack's admin token has every scope).
async fn old_mint(stack: &Stack, payer: &str, quantity: i64, tx: u8) -> Value {
    let hash = format!("{:#x}", B256::repeat_byte(tx));
    let body =
        json!({ "payer": payer, "quantity": quantity, "tx_hash": hash, "paymentType": "custom" });
    let (status, answer) = stack.post("/mint", &body).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

async fn cancel(stack: &Stack, id: &str) {
    let (status, answer) = stack
        .post(
            &format!("/v1/workflows/{id}/cancel?reason=test"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
}

async fn item_status(stack: &Stack, id: &str, want: &str) -> Value {
    eventually(WAIT, &format!("queue item {id} to be {want}"), || async {
        let (_, item) = stack.get(&format!("/queue/item/{id}")).await;
        (item["status"] == want).then_some(item)
    })
    .await
}

/// A stack whose batches wait for two mints: `payer` has one mint cancelled while it waits
/// (the old routes call it `failed`) and then two minted in one batch. Returns the cancelled
/// mint's id and the first minted one's.
async fn minted_and_cancelled(backend: Backend, payer: &str) -> (Stack, String, String) {
    let stack = Stack::start(
        backend,
        StackOptions {
            settings: &[("max_batch_size", 2), ("max_batch_wait_ms", 600_000)],
            ..Default::default()
        },
    )
    .await;
    let cancelled = old_mint(&stack, payer, 1, 1).await["queueId"]
        .as_str()
        .unwrap()
        .to_owned();
    cancel(&stack, &cancelled).await;
    let minted = old_mint(&stack, payer, 2, 2).await["queueId"]
        .as_str()
        .unwrap()
        .to_owned();
    item_status(&stack, &minted, "completed").await;
    (stack, cancelled, minted)
}

async fn old_mint_route(backend: Backend) {
    let spec = spec();
    for status in ["200", "202"] {
        let schema = answer_schema(&spec, "post", "/mint", status);
        assert_schema("POST /mint", &spec, schema, MINT_ANSWER);
    }
    let stack = Stack::start(backend, StackOptions::default()).await;
    let p = payer(7);
    let answer = old_mint(&stack, &p, 1, 9).await;
    assert_shape("POST /mint", &answer, MINT_ANSWER);
    assert_eq!(answer["success"], true);
    assert_eq!(answer["paymentType"], "custom");
    assert_eq!(
        answer["payer"].as_str().unwrap().to_lowercase(),
        p.to_lowercase()
    );
    // The same payment again, with the other spelling of its hash: the same mint.
    let again = json!({ "payer": p, "txHash": format!("{:#x}", B256::repeat_byte(9)), "paymentType": "custom" });
    let (status, second) = stack.post("/mint", &again).await;
    assert_eq!(status, 200, "{second}");
    assert_shape("POST /mint again", &second, MINT_ANSWER);
    assert_eq!(second["queueId"], answer["queueId"]);
    stack.service.stop().await;
}

async fn old_queue_status_route(backend: Backend) {
    let spec = spec();
    let schema = answer_schema(&spec, "get", "/queue/status", "200");
    assert_schema("GET /queue/status", &spec, schema, QUEUE_STATUS);
    let stats = field_schema(&spec, schema, "stats");
    assert_schema("GET /queue/status stats", &spec, stats, QUEUE_STATS);
    let batch = field_schema(&spec, schema, "recentBatches");
    assert_enum(
        "a batch's status",
        field_schema(&spec, batch, "status"),
        MINT_STATUSES,
    );

    let (stack, _, _) = minted_and_cancelled(backend, &payer(8)).await;
    // Snapshots of the overview are at most a second old.
    let status = eventually(WAIT, "the queue to count the batch", || async {
        let (_, s) = stack.get("/queue/status").await;
        (s["stats"]["completed_count"] == 2).then_some(s)
    })
    .await;
    assert_shape("GET /queue/status", &status, QUEUE_STATUS);
    assert_shape("GET /queue/status stats", &status["stats"], QUEUE_STATS);
    assert_eq!(
        status["stats"]["failed_count"], 1,
        "the cancelled mint: {status}"
    );
    assert_eq!(status["stats"]["pending_count"], 0, "{status}");
    assert_eq!(status["stats"]["oldest_pending"], Value::Null, "{status}");
    // Seconds, not the setting's milliseconds.
    assert_eq!(status["batchInterval"].as_f64(), Some(600.0), "{status}");
    assert_eq!(status["maxBatchSize"], 2, "{status}");
    let batches = status["recentBatches"].as_array().unwrap();
    assert_eq!(batches.len(), 1, "{status}");
    assert_eq!(batches[0]["status"], "completed", "{status}");
    stack.service.stop().await;
}

async fn old_queue_payer_route(backend: Backend) {
    let spec = spec();
    let schema = answer_schema(&spec, "get", "/queue/payer/{address}", "200");
    assert_schema("GET /queue/payer", &spec, schema, PAYER_QUEUE);
    let request = field_schema(&spec, schema, "requests");
    assert_schema("GET /queue/payer requests", &spec, request, PAYER_REQUEST);
    assert_enum(
        "a request's status",
        field_schema(&spec, request, "status"),
        MINT_STATUSES,
    );

    let p = payer(9);
    let (stack, cancelled, minted) = minted_and_cancelled(backend, &p).await;
    let (status, mine) = stack.get(&format!("/queue/payer/{p}")).await;
    assert_eq!(status, 200, "{mine}");
    assert_shape("GET /queue/payer", &mine, PAYER_QUEUE);
    let requests = mine["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 3, "{mine}");
    for r in requests {
        assert_shape("GET /queue/payer requests", r, PAYER_REQUEST);
    }
    let by_id = |id: &str| requests.iter().find(|r| r["id"] == id).unwrap().clone();
    assert_eq!(by_id(&cancelled)["status"], "failed", "{mine}");
    let done = by_id(&minted);
    assert_eq!(done["status"], "completed", "{mine}");
    assert!(done["mint_tx_hash"].as_str().unwrap().starts_with("0x"));
    assert!(done["processed_at"].is_string());
    stack.service.stop().await;
}

async fn old_queue_item_route(backend: Backend) {
    let spec = spec();
    let schema = answer_schema(&spec, "get", "/queue/item/{queueId}", "200");
    assert_schema("GET /queue/item", &spec, schema, QUEUE_ITEM);
    assert_enum(
        "an item's status",
        field_schema(&spec, schema, "status"),
        MINT_STATUSES,
    );
    let op = &spec["paths"]["/queue/item/{queueId}"]["get"];
    assert_eq!(op["parameters"][0]["name"], "queueId", "{op}");

    let (stack, cancelled, minted) = minted_and_cancelled(backend, &payer(10)).await;
    let done = item_status(&stack, &minted, "completed").await;
    assert_shape("GET /queue/item", &done, QUEUE_ITEM);
    assert!(done["mint_tx_hash"].as_str().unwrap().starts_with("0x"));
    assert_eq!(done["payment_type"], "custom");
    let (_, gone) = stack.get(&format!("/queue/item/{cancelled}")).await;
    assert_shape("GET /queue/item", &gone, QUEUE_ITEM);
    assert_eq!(gone["status"], "failed", "a cancelled mint: {gone}");
    let (code, _) = stack.get("/queue/item/not-a-uuid").await;
    assert_eq!(code, 400);
    stack.service.stop().await;
}

async fn old_payment_route(backend: Backend) {
    let spec = spec();
    let schema = answer_schema(&spec, "get", "/api/payment/{id}", "200");
    assert_schema("GET /api/payment", &spec, schema, PAYMENT_ANSWER);
    let payment = field_schema(&spec, schema, "payment");
    assert_schema("GET /api/payment payment", &spec, payment, PAYMENT);
    assert_enum(
        "a payment's status",
        field_schema(&spec, payment, "status"),
        PAYMENT_STATUSES,
    );

    let stack = Stack::start(backend, StackOptions::default()).await;
    let who: PrivateKeySigner = PAYER_KEY.parse().unwrap();
    fund_usdc(
        &stack.anvil.endpoint(),
        stack.usdc,
        who.address(),
        PRICE,
        false,
    )
    .await;
    let (authorization, signature) = sign_authorization(stack.usdc, &who, PRICE, fresh_nonce());
    let body = json!({
        "paymentType": "gasless",
        "authorization": authorization,
        "signature": signature,
        "quantity": 1,
    });
    let (status, p) = stack.post("/v1/payments", &body).await;
    assert_eq!(status, 202, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    let (status, early) = stack.get(&format!("/api/payment/{id}")).await;
    assert_eq!(status, 200, "{early}");
    assert_shape("GET /api/payment", &early, PAYMENT_ANSWER);
    assert_shape("GET /api/payment payment", &early["payment"], PAYMENT);
    let done = eventually(WAIT, "the payment to complete", || async {
        let (_, old) = stack.get(&format!("/api/payment/{id}")).await;
        (old["payment"]["status"] == "completed").then_some(old)
    })
    .await;
    assert_shape("GET /api/payment", &done, PAYMENT_ANSWER);
    assert_shape("GET /api/payment payment", &done["payment"], PAYMENT);
    assert_eq!(done["success"], true);
    assert_eq!(done["payment"]["payment_type"], "gasless");
    assert!(
        done["payment"]["tx_hash"]
            .as_str()
            .unwrap()
            .starts_with("0x")
    );
    assert!(done["payment"]["confirmed_at"].is_string(), "{done}");
    stack.service.stop().await;
}
