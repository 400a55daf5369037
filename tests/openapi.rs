//! The OpenAPI document is valid JSON for every reader: no object repeats a key. serde_json (and
//! most generators built on a JSON library) keep the last of two equal keys without a word, so
//! a repeated response status would silently lose the first answer's headers and schema.
//!
//! And it is useful to read: every operation has a one-line summary and a description that
//! says who may call it, and every example it shows is an instance of its schema (a client
//! generated from the document, or Swagger UI's "Try it out", sends them as they are).
#[path = "common/spec.rs"]
mod spec;

use std::collections::HashSet;
use std::fmt;

use serde::de::{Deserialize, Deserializer, Error, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// A JSON document read by a parser that refuses a key repeated within one object.
struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<UniqueKeys, A::Error> {
        while items.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = entries.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(A::Error::custom(format!("duplicate key {key:?}")));
            }
            entries.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }
}

fn check_unique_keys(json: &str) -> Result<(), String> {
    serde_json::from_str::<UniqueKeys>(json)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The parser catches what the document once had: `"402"` twice in one operation's responses
/// (and only that: the same key in two different objects is fine).
#[test]
fn a_repeated_key_is_refused() {
    let twice = r#"{"paths": {"/x402/mint": {"post": {"responses": {
        "200": {"description": "paid"},
        "402": {"description": "payment required", "headers": {"PAYMENT-REQUIRED": {}}},
        "402": {"description": "payment error"}
    }}}}}"#;
    let err = check_unique_keys(twice).unwrap_err();
    assert!(err.contains(r#"duplicate key "402""#), "{err}");
    // serde_json alone takes it, keeping the last 402 and losing the PAYMENT-REQUIRED header.
    let lenient: serde_json::Value = serde_json::from_str(twice).unwrap();
    let kept = &lenient["paths"]["/x402/mint"]["post"]["responses"]["402"];
    assert!(kept.get("headers").is_none(), "{kept}");

    let once_each = r#"{"a": {"402": 1}, "b": {"402": [{"402": null}, {"402": true}]}}"#;
    assert_eq!(check_unique_keys(once_each), Ok(()));
    assert!(check_unique_keys(r#"[{"k": 1.5, "k": "x"}]"#).is_err());
}

#[test]
fn the_spec_has_no_repeated_key() {
    let generated = mintflow::api::spec_json();
    check_unique_keys(&generated).unwrap_or_else(|e| panic!("the generated spec: {e}"));
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .unwrap();
    check_unique_keys(&committed).unwrap_or_else(|e| panic!("openapi/openapi.json: {e}"));
}

fn committed() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every operation of the document, as `(METHOD path, operation)`.
fn operations(doc: &Value) -> Vec<(String, &Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            all.push((format!("{} {path}", method.to_uppercase()), operation));
        }
    }
    all
}

/// A summary is what a generator makes a method's doc title and Swagger UI shows beside the
/// path: one short imperative line. The rest (who may call it, what it does, idempotency and
/// paging) is the description.
#[test]
fn every_operation_has_a_short_summary_and_a_description() {
    let doc = committed();
    let operations = operations(&doc);
    assert!(operations.len() >= 40, "{} operations", operations.len());
    for (name, operation) in operations {
        let summary = operation["summary"].as_str().unwrap_or_default();
        assert!(
            !summary.is_empty()
                && summary.len() <= 80
                && !summary.contains('\n')
                && !summary.ends_with('.'),
            "{name}: the summary should be one short line without a final period: {summary:?}"
        );
        let description = operation["description"].as_str().unwrap_or_default();
        assert!(
            description.starts_with("Who may call: "),
            "{name}: the description starts with who may call it: {description:?}"
        );
        assert!(
            description.lines().count() > 1,
            "{name}: the description says what the operation does: {description:?}"
        );
    }
}

/// Every request body has an example, and every example of the document (all are on
/// `components/schemas`) is an instance of its schema: its types, formats, patterns, enums,
/// bounds, required and undeclared properties (the checks of `tests/common/spec.rs`).
#[test]
fn every_example_fits_its_schema() {
    let doc = committed();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut checked = 0;
    for (name, schema) in schemas {
        if let Some(example) = schema.get("example") {
            spec::assert_matches(name, example);
            checked += 1;
        }
    }
    // An example anywhere else (a property, a parameter, a media type) would escape the loop.
    let mut elsewhere = Vec::new();
    find_examples(&doc, "#", &mut elsewhere);
    elsewhere
        .retain(|at| !(at.starts_with("#/components/schemas/") && at.matches('/').count() == 4));
    assert!(
        elsewhere.is_empty(),
        "examples outside the schemas: {elsewhere:?}"
    );

    for (name, operation) in operations(&doc) {
        let Some(content) = operation["requestBody"]["content"].as_object() else {
            continue;
        };
        for media in content.values() {
            let reference = media["schema"]["$ref"].as_str().unwrap_or_default();
            let schema = reference.trim_start_matches("#/components/schemas/");
            assert!(
                schemas
                    .get(schema)
                    .is_some_and(|s| s.get("example").is_some()),
                "{name}: its request body {reference:?} has no example"
            );
        }
    }
    assert!(checked >= 20, "{checked} examples");
}

/// The checker refuses what a wrong example would hold.
#[test]
fn a_wrong_example_is_refused() {
    let mut bad = committed()["components"]["schemas"]["NewKeyBody"]["example"].clone();
    bad["scopes"] = serde_json::json!(["read", "write"]);
    let refused = std::panic::catch_unwind(|| spec::assert_matches("NewKeyBody", &bad));
    assert!(refused.is_err(), "an unknown scope passed");
    let mut bad = committed()["components"]["schemas"]["NewKeyBody"]["example"].clone();
    bad["name"] = serde_json::json!("");
    let refused = std::panic::catch_unwind(|| spec::assert_matches("NewKeyBody", &bad));
    assert!(refused.is_err(), "an empty name passed its minLength");
}

fn find_examples(value: &Value, at: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(entries) => {
            for (key, inner) in entries {
                let here = format!("{at}/{key}");
                if key == "example" || key == "examples" {
                    found.push(here.clone());
                }
                find_examples(inner, &here, found);
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                find_examples(inner, &format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}
