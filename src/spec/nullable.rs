//! A field sent as `null` whose schema is a `$ref` (an object or an enum). poem-openapi writes
//! `#[oai(nullable)]` on such a field as `allOf` beside `nullable` but no `type`, which OpenAPI
//! 3.0 gives no meaning (`nullable` only applies beside a `type`) and Redocly refuses. Naming
//! the type beside that `allOf` satisfies Redocly, but generators then read the field as the
//! referenced schema alone (openapi-python-client's client fails on the `null`); so this
//! writes it as `oneOf` the reference or a `null` of its type, which every reader takes as
//! "the schema, or null".
use std::borrow::Cow;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

/// `Some` is sent as `T`, `None` as `null`, and the schema says both.
#[derive(Clone, Debug, Default)]
pub struct Nullable<T>(pub Option<T>);

impl<T> From<Option<T>> for Nullable<T> {
    fn from(value: Option<T>) -> Self {
        Nullable(value)
    }
}

impl<T: Type> Type for Nullable<T> {
    const IS_REQUIRED: bool = false;

    type RawValueType = T::RawValueType;

    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        format!("nullable_{}", T::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let inner = T::schema_ref();
        let ty = match &inner {
            MetaSchemaRef::Reference(name) => {
                let mut registry = Registry::new();
                T::register(&mut registry);
                registry
                    .schemas
                    .get(name)
                    .map_or("object", |schema| schema.ty)
            }
            MetaSchemaRef::Inline(schema) => schema.ty,
        };
        let null = MetaSchema {
            nullable: true,
            enum_items: vec![Value::Null],
            ..MetaSchema::new(ty)
        };
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            one_of: vec![inner, MetaSchemaRef::Inline(Box::new(null))],
            ..MetaSchema::ANY
        }))
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        self.0.as_ref().and_then(Type::as_raw_value)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        match &self.0 {
            Some(value) => value.raw_element_iter(),
            None => Box::new(std::iter::empty()),
        }
    }

    fn is_none(&self) -> bool {
        self.0.is_none()
    }
}

impl<T: ToJSON> ToJSON for Nullable<T> {
    fn to_json(&self) -> Option<Value> {
        self.0.to_json()
    }
}

impl<T: ParseFromJSON> ParseFromJSON for Nullable<T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        Option::<T>::parse_from_json(value)
            .map(Nullable)
            .map_err(ParseError::propagate)
    }
}
