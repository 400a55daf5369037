//! The OpenAPI document is valid JSON for every reader: no object repeats a key. serde_json (and
//! most generators built on a JSON library) keep the last of two equal keys without a word, so
//! a repeated response status would silently lose the first answer's headers and schema.
use std::collections::HashSet;
use std::fmt;

use serde::de::{Deserialize, Deserializer, Error, MapAccess, SeqAccess, Visitor};

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
