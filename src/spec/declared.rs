//! `Declared`: a value as received or sent, with the shape the API document declares for it.
//!
//! A path id, an address or a transaction hash refused by poem's own validators would get
//! poem's generic `invalid_parameter` / `invalid_body`; the handlers answer with a code that
//! names what is wrong (`invalid_id`, `invalid_address`, `invalid_tx_hash`, ...). `Declared`
//! parses exactly as the value it wraps and only adds the shape (format, pattern, range, enum)
//! to the document, so generated clients and validators know what is accepted while the typed
//! codes stay.
use std::borrow::Cow;
use std::marker::PhantomData;
use std::ops::Deref;

use poem::http::HeaderValue;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToHeader, ToJSON, Type,
};
use serde_json::Value;

/// A shape the spec declares for a value.
pub trait Shape: Send + Sync + 'static {
    /// Unique among shapes: poem tells schemas apart by name.
    const NAME: &'static str;
    /// What the spec says of the value.
    fn schema() -> MetaSchema;
    /// The name of the component the schema is, for a shape used in many places (an enum):
    /// generated clients then have one type for it, not one per field.
    const COMPONENT: Option<&'static str> = None;
}

/// `T` as received, declared in the spec as `S` says.
pub struct Declared<S, T = String>(pub T, PhantomData<S>);

impl<S, T> Declared<S, T> {
    pub fn new(value: T) -> Self {
        Declared(value, PhantomData)
    }

    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<S, T: Clone> Clone for Declared<S, T> {
    fn clone(&self) -> Self {
        Declared::new(self.0.clone())
    }
}

impl<S, T: std::fmt::Debug> std::fmt::Debug for Declared<S, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<S, T> Deref for Declared<S, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<S, T> From<T> for Declared<S, T> {
    fn from(value: T) -> Self {
        Declared::new(value)
    }
}

impl<S> From<&str> for Declared<S> {
    fn from(value: &str) -> Self {
        Declared::new(value.to_owned())
    }
}

impl<S: Shape, T: Type> Type for Declared<S, T> {
    const IS_REQUIRED: bool = true;

    type RawValueType = T::RawValueType;

    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        S::NAME.into()
    }

    fn schema_ref() -> MetaSchemaRef {
        match S::COMPONENT {
            Some(name) => MetaSchemaRef::Reference(name.to_owned()),
            None => MetaSchemaRef::Inline(Box::new(S::schema())),
        }
    }

    fn register(registry: &mut Registry) {
        if let Some(name) = S::COMPONENT {
            registry.create_schema::<S, _>(name.to_owned(), |_| S::schema());
        }
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        self.0.as_raw_value()
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        self.0.raw_element_iter()
    }
}

impl<S: Shape, T: ParseFromJSON> ParseFromJSON for Declared<S, T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        // A string shape takes a JSON string only (poem's `String` would take `false`).
        if let Some(other) = value
            .as_ref()
            .filter(|v| S::schema().ty == "string" && !v.is_string())
        {
            return Err(ParseError::expected_type(other.clone()));
        }
        T::parse_from_json(value)
            .map(Declared::new)
            .map_err(ParseError::propagate)
    }
}

impl<S: Shape, T: ParseFromParameter> ParseFromParameter for Declared<S, T> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        T::parse_from_parameter(value)
            .map(Declared::new)
            .map_err(ParseError::propagate)
    }
}

impl<S: Shape, T: ToJSON> ToJSON for Declared<S, T> {
    fn to_json(&self) -> Option<Value> {
        self.0.to_json()
    }
}

impl<S: Shape, T: ToHeader> ToHeader for Declared<S, T> {
    fn to_header(&self) -> Option<HeaderValue> {
        self.0.to_header()
    }
}

/// A string matching `pattern`.
pub fn string_matching(pattern: &str) -> MetaSchema {
    MetaSchema {
        pattern: Some(pattern.into()),
        ..MetaSchema::new("string")
    }
}
