//! An answer checked against the committed OpenAPI document (which the drift test keeps equal to
//! the code's): a generated client trusts the schema, so every value the server sends must be one
//! the schema allows. `null` only where the property is `nullable`, every required property
//! present, no undeclared property, the declared type, enum value, `format` (`uuid`,
//! `date-time`), `pattern`, and the bounds (`minimum`, `maximum`, `minLength`, `maxLength`,
//! `minItems`, `maxItems`). The examples the document shows are checked the same way
//! (`tests/openapi.rs`).
#![allow(dead_code)] // tests/openapi.rs includes this file alone and uses a part of it

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

/// The operation `method` on `path` (a concrete path, `/v1/mints/0193...`), as the router
/// picks it: the template with most literal segments. `None` for a route the spec does not list.
fn operation(method: &str, path: &str) -> Option<(&'static str, &'static Value)> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    spec()["paths"]
        .as_object()?
        .iter()
        .filter_map(|(template, operations)| {
            let parts: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
            let fits = parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(want, got)| want.starts_with('{') || want == got);
            let literals = parts.iter().filter(|p| !p.starts_with('{')).count();
            let op = operations.get(method.to_lowercase())?;
            fits.then_some((literals, template.as_str(), op))
        })
        .max_by_key(|(literals, ..)| *literals)
        .map(|(_, template, op)| (template, op))
}

/// Panics unless the error answer (`status` >= 400, its JSON `body`) of `method` on `path` is
/// one the spec declares for that operation: the status among its responses and the body an
/// instance of that response's schema (its `code` one of the status's codes). A route the spec
/// does not list (an unknown path, a method a path lacks) promises nothing and is not checked.
pub fn assert_declared_error(method: &str, path: &str, status: u16, body: &Value) {
    let Some((template, op)) = operation(method, path) else {
        return;
    };
    let response = &op["responses"][status.to_string()];
    assert!(
        !response.is_null(),
        "{method} {template} answered {status}, which the spec does not declare for it: {body}"
    );
    let schema = &response["content"]["application/json; charset=utf-8"]["schema"];
    assert!(
        !schema.is_null(),
        "{method} {template}'s {status} has no JSON schema"
    );
    if let Err(problem) = check(schema, body, "$") {
        panic!("{method} {template} answered {status} off its schema: {problem}\n{body:#}");
    }
}

/// Sends `req` and reads its answer; an error answer is checked against what the spec declares
/// for its operation (`assert_declared_error`).
pub async fn send_checked(
    req: reqwest::RequestBuilder,
) -> (reqwest::StatusCode, Value, reqwest::header::HeaderMap) {
    let (client, req) = req.build_split();
    let req = req.expect("a request");
    let (method, path) = (req.method().to_string(), req.url().path().to_owned());
    let res = client.execute(req).await.expect("an answer");
    let (status, headers) = (res.status(), res.headers().clone());
    let body = res.json().await.unwrap_or(Value::Null);
    if status.as_u16() >= 400 {
        assert_declared_error(&method, &path, status.as_u16(), &body);
    }
    (status, body, headers)
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
            check_bounds(schema, "minItems", "maxItems", items.len() as f64, at)?;
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
        Some("integer" | "number") => {
            check_bounds(schema, "minimum", "maximum", value.as_f64().unwrap(), at)
        }
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
    if schema["format"] == "date-time" && chrono::DateTime::parse_from_rfc3339(text).is_err() {
        return Err(format!("{at} = {text:?} is not an RFC 3339 date-time"));
    }
    check_bounds(
        schema,
        "minLength",
        "maxLength",
        text.chars().count() as f64,
        at,
    )?;
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        let re = regex::Regex::new(pattern).expect("the spec's pattern compiles");
        if !re.is_match(text) {
            return Err(format!("{at} = {text:?} does not match {pattern}"));
        }
    }
    Ok(())
}

/// `measure` (a number, a length or a count) within the schema's `low` and `high` bounds, when
/// it declares them.
fn check_bounds(
    schema: &Value,
    low: &str,
    high: &str,
    measure: f64,
    at: &str,
) -> Result<(), String> {
    if let Some(min) = schema.get(low).and_then(Value::as_f64)
        && measure < min
    {
        return Err(format!("{at}: {measure} is below its {low} {min}"));
    }
    if let Some(max) = schema.get(high).and_then(Value::as_f64)
        && measure > max
    {
        return Err(format!("{at}: {measure} is above its {high} {max}"));
    }
    Ok(())
}
