//! An answer checked against the committed OpenAPI document (which the drift test keeps equal to
//! the code's): a generated client trusts the schema, so every value the server sends must be one
//! the schema allows. `null` only where the property is `nullable`, every required property
//! present, no undeclared property, the declared type, enum value, `format: uuid` and `pattern`.
use std::sync::OnceLock;

use serde_json::{Map, Value};

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
                .expect("read openapi/openapi.json");
        serde_json::from_str(&text).expect("openapi/openapi.json is JSON")
    })
}

/// Panics, naming the path inside `value`, where `value` is not an instance of the named
/// schema under `components/schemas`.
pub fn assert_matches(schema: &str, value: &Value) {
    let reference = Value::String(format!("#/components/schemas/{schema}"));
    let mut root = Map::new();
    root.insert("$ref".into(), reference);
    if let Err(problem) = check(&Value::Object(root), value, "$") {
        panic!("the answer is not a {schema} as the spec says: {problem}\n{value:#}");
    }
}

fn resolve(schema: &Value) -> &Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected $ref {reference}"));
            let target = &spec()["components"]["schemas"][name];
            assert!(!target.is_null(), "$ref to a missing schema {name}");
            resolve(target)
        }
        None => schema,
    }
}

fn check(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(schema);
    // A `oneOf` says for itself whether `null` is one of its choices (api::nullable's is).
    if value.is_null() && schema.get("oneOf").is_none() {
        // `nullable` beside the schema's type; a free-form value (no type at all) may be
        // anything, `null` included.
        let free_form = ["type", "allOf", "oneOf", "enum"]
            .iter()
            .all(|key| schema.get(key).is_none());
        return if schema["nullable"] == true || free_form {
            Ok(())
        } else {
            Err(format!("{at} is null but its schema is not nullable"))
        };
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for part in parts {
            check(part, value, at)?;
        }
    }
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let fits = options
            .iter()
            .filter(|o| check(o, value, at).is_ok())
            .count();
        if fits != 1 {
            return Err(format!("{at} fits {fits} of its oneOf schemas, not one"));
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Err(format!("{at} = {value} is not one of {allowed:?}"));
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => check_object(schema, value, at),
        Some("array") => {
            let items = value
                .as_array()
                .ok_or_else(|| format!("{at} is not an array"))?;
            for (i, item) in items.iter().enumerate() {
                check(&schema["items"], item, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        Some("string") => check_string(schema, value, at),
        Some("integer") if !(value.is_i64() || value.is_u64()) => {
            Err(format!("{at} = {value} is not an integer"))
        }
        Some("number") if !value.is_number() => Err(format!("{at} = {value} is not a number")),
        Some("boolean") if !value.is_boolean() => Err(format!("{at} = {value} is not a boolean")),
        _ => Ok(()),
    }
}

fn check_object(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let fields = value
        .as_object()
        .ok_or_else(|| format!("{at} is not an object"))?;
    let empty = Map::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for name in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = name.as_str().unwrap();
        if !fields.contains_key(name) {
            return Err(format!("{at}.{name} is required but missing"));
        }
    }
    for (name, field) in fields {
        match properties.get(name) {
            Some(property) => check(property, field, &format!("{at}.{name}"))?,
            None => match schema.get("additionalProperties") {
                Some(Value::Object(extra)) => check(
                    &Value::Object(extra.clone()),
                    field,
                    &format!("{at}.{name}"),
                )?,
                Some(Value::Bool(true)) => {}
                // A free-form object (`detail`, `data`) declares no properties at all.
                _ if properties.is_empty() => {}
                _ => return Err(format!("{at}.{name} is not declared in the schema")),
            },
        }
    }
    Ok(())
}

fn check_string(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let text = value
        .as_str()
        .ok_or_else(|| format!("{at} = {value} is not a string"))?;
    if schema["format"] == "uuid" && uuid::Uuid::parse_str(text).is_err() {
        return Err(format!("{at} = {text:?} is not a UUID"));
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        let re = regex::Regex::new(pattern).expect("the spec's pattern compiles");
        if !re.is_match(text) {
            return Err(format!("{at} = {text:?} does not match {pattern}"));
        }
    }
    Ok(())
}
