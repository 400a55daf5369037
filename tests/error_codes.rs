//! Every error code the server can send is one the document lists for its status, and every code
//! the document lists is one the server sends. The codes are found in the source: the literal
//! first argument of each `ApiError` constructor, the codes of the refusals and rate classes that
//! are built at run time, and what `to_json_error` gives poem's own rejections.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use regex::Regex;
use serde_json::Value;

type CodesByStatus = BTreeMap<u16, BTreeSet<String>>;

fn source(relative: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(relative))
        .unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The string literals of the match arms (`=> "code"`) in the body of `fn name` in `file`.
fn arms_of(file: &str, name: &str) -> Vec<String> {
    let text = source(file);
    let start = text
        .find(&format!("fn {name}("))
        .unwrap_or_else(|| panic!("no fn {name} in {file}"));
    let body = &text[start..];
    let end = body.find("\n    }\n").expect("the fn ends");
    Regex::new(r#"=> "([a-z0-9_]+)""#)
        .unwrap()
        .captures_iter(&body[..end])
        .map(|c| c[1].to_owned())
        .collect()
}

/// What the source can send, by status.
fn emitted() -> CodesByStatus {
    let status_of = |constructor: &str| match constructor {
        "bad_request" => 400,
        "unauthorized" => 401,
        "payment_required" => 402,
        "forbidden" => 403,
        "not_found" => 404,
        "conflict" => 409,
        "unprocessable" => 422,
        "too_many_requests" => 429,
        "unavailable" => 503,
        other => panic!("unknown ApiError constructor {other}"),
    };
    let mut codes = CodesByStatus::new();
    let mut add = |status: u16, code: &str| {
        codes.entry(status).or_default().insert(code.to_owned());
    };
    let constructor = Regex::new(r#"ApiError::([a-z_]+)\(\s*"([a-z0-9_]+)""#).unwrap();
    let body_new = Regex::new(r#"([A-Za-z]+Error)::new\(\s*"([a-z0-9_]+)""#).unwrap();
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    for file in files {
        let whole = std::fs::read_to_string(&file).unwrap();
        // Unit tests build codes that are never sent (one that is not declared, on purpose).
        let text = whole.split("#[cfg(test)]\nmod tests").next().unwrap();
        for c in constructor.captures_iter(text) {
            add(status_of(&c[1]), &c[2]);
        }
        // A body built directly: the 413, the 500 and the x402 402.
        for c in body_new.captures_iter(text) {
            let status = match &c[1] {
                "PayloadTooLargeError" => 413,
                "InternalError" => 500,
                "PaymentRequiredError" => 402,
                other => panic!("{}: unexpected {other}::new", file.display()),
            };
            add(status, &c[2]);
        }
    }
    // Built at run time: refusals, x402 reasons, rate classes.
    for code in arms_of("src/x402/verify.rs", "as_str") {
        add(402, &code);
    }
    for file in [
        "src/workflows/payment/exposure.rs",
        "src/workflows/payment/custom.rs",
    ] {
        for code in arms_of(file, "code") {
            add(402, &code);
        }
    }
    for code in arms_of("src/api/edge/policy.rs", "code") {
        add(429, &code);
    }
    // An x402 operation's first answer, without a payment.
    add(402, "payment_required");
    // poem's rejections of a declared operation's parameters and body (`to_json_error`).
    add(400, "invalid_parameter");
    add(400, "invalid_body");
    add(415, "unsupported_content_type");
    codes
}

/// What the document declares, by status: the `code` enum of each error response's schema.
fn declared() -> CodesByStatus {
    let spec: Value = serde_json::from_str(&mintflow::api::spec_json()).unwrap();
    let mut codes = CodesByStatus::new();
    for operations in spec["paths"].as_object().unwrap().values() {
        for op in operations.as_object().unwrap().values() {
            for (status, response) in op["responses"].as_object().unwrap() {
                let status: u16 = status.parse().unwrap();
                // `/ready`'s 503 is its readiness report, not an error body.
                if status < 400 || op["operationId"] == "ready" {
                    continue;
                }
                let schema = &response["content"]["application/json; charset=utf-8"]["schema"];
                let name = schema["$ref"]
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                    .unwrap_or_else(|| panic!("{status} of {} has no $ref", op["operationId"]));
                let enum_ = spec["components"]["schemas"][name]["properties"]["code"]["enum"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{name}.code has no enum"));
                let set: BTreeSet<String> = enum_
                    .iter()
                    .map(|c| c.as_str().unwrap().to_owned())
                    .collect();
                if let Some(seen) = codes.insert(status, set.clone()) {
                    assert_eq!(
                        seen, set,
                        "{status} has one set of codes wherever it is declared"
                    );
                }
            }
        }
    }
    codes
}

#[test]
fn every_code_sent_is_declared_for_its_status_and_every_declared_code_is_sent() {
    let emitted = emitted();
    let declared = declared();
    for (status, codes) in &emitted {
        let listed = declared.get(status).cloned().unwrap_or_default();
        let missing: Vec<_> = codes.difference(&listed).collect();
        assert!(
            missing.is_empty(),
            "{status} codes sent but not declared: {missing:?}"
        );
    }
    for (status, codes) in &declared {
        let sent = emitted.get(status).cloned().unwrap_or_default();
        let stale: Vec<_> = codes.difference(&sent).collect();
        assert!(
            stale.is_empty(),
            "{status} codes declared but never sent: {stale:?}"
        );
    }
}

/// 401 and 403 only on operations that take credentials; 402 only on payment operations;
/// 413 and 415 only where there is a request body.
#[test]
fn statuses_follow_what_an_operation_takes() {
    let spec: Value = serde_json::from_str(&mintflow::api::spec_json()).unwrap();
    for operations in spec["paths"].as_object().unwrap().values() {
        for op in operations.as_object().unwrap().values() {
            let id = op["operationId"].as_str().unwrap();
            let has = |status: &str| op["responses"].get(status).is_some();
            let public = op["security"] == serde_json::json!([{}]);
            let body = op.get("requestBody").is_some();
            if public {
                assert!(!has("401") && !has("403"), "{id} is public");
            }
            if !body {
                assert!(!has("413") && !has("415"), "{id} takes no body");
            } else {
                assert!(has("400") && has("413") && has("415"), "{id} takes a body");
            }
            assert!(has("500") || id == "health" || id == "ready", "{id}: 500");
            assert!(
                !has("405"),
                "{id}: 405 is the router's, for undeclared operations"
            );
        }
    }
    let paid = |path: &str, method: &str| {
        spec["paths"][path][method]["responses"]
            .get("402")
            .is_some()
    };
    assert!(paid("/x402/mint", "post") && paid("/v1/payments", "post"));
    assert!(!paid("/v1/mints/{id}", "get") && !paid("/v1/keys", "post"));
}

/// Every code the document lists is named (as the literal `"code"`) by some test other than
/// this file, which only compares lists: a documented refusal that nothing provokes is a claim
/// nobody checked.
#[test]
fn every_declared_code_is_named_by_a_test() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests"),
        &mut files,
    );
    let tests: String = files
        .iter()
        .filter(|f| !f.ends_with("error_codes.rs"))
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let declared: BTreeSet<String> = declared().into_values().flatten().collect();
    let untested: BTreeSet<&str> = declared
        .iter()
        .map(String::as_str)
        .filter(|code| !tests.contains(&format!("\"{code}\"")))
        .collect();
    assert_eq!(
        untested,
        BTreeSet::new(),
        "documented codes no test provokes: a new code comes with a test that asserts it"
    );
}
