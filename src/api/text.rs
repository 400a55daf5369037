//! `Text`: a request body's string field that takes a JSON string and nothing else.
//!
//! poem-openapi's `String` also takes a JSON number or boolean and turns it into text, so
//! `{"name": false}` would create a key named `false` although the document says `name` is a
//! string. Request bodies use `Text` instead; the document says the same (`type: string`).
use std::borrow::Cow;
use std::ops::Deref;

use poem_openapi::registry::MetaSchemaRef;
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text(pub String);

impl Text {
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl Deref for Text {
    type Target = String;

    fn deref(&self) -> &String {
        &self.0
    }
}

impl From<String> for Text {
    fn from(value: String) -> Self {
        Text(value)
    }
}

impl From<&str> for Text {
    fn from(value: &str) -> Self {
        Text(value.to_owned())
    }
}

impl From<Text> for String {
    fn from(value: Text) -> Self {
        value.0
    }
}

impl Type for Text {
    const IS_REQUIRED: bool = true;

    // Validators (`min_length`, `pattern`...) see the `String` inside.
    type RawValueType = String;

    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        String::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl ParseFromJSON for Text {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(text)) => Ok(Text(text)),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl ToJSON for Text {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn takes_a_string_only() {
        assert_eq!(
            Text::parse_from_json(Some(json!("shop"))).ok(),
            Some(Text::from("shop"))
        );
        for not_a_string in [json!(false), json!(12), json!(null), json!([]), json!({})] {
            assert!(Text::parse_from_json(Some(not_a_string)).is_err());
        }
        assert!(Text::parse_from_json(None).is_err());
    }
}
