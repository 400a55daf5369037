//! The shapes the API's requests declare: ids, addresses, hashes, amounts, keys, positions
//! (each checked by its handler, which answers with a code naming the field).
use poem_openapi::registry::MetaSchema;

pub use crate::spec::declared::{Declared, Shape, string_matching};

/// A path id: a UUID (`invalid_id` otherwise).
pub struct UuidShape;

impl Shape for UuidShape {
    const NAME: &'static str = "declared_uuid";

    fn schema() -> MetaSchema {
        MetaSchema::new_with_format("string", "uuid")
    }
}

/// A 0x address (`invalid_address` otherwise).
pub struct AddressShape;

impl Shape for AddressShape {
    const NAME: &'static str = "declared_address";

    fn schema() -> MetaSchema {
        string_matching(ADDRESS_PATTERN)
    }
}

/// A 0x transaction hash (`invalid_tx_hash` otherwise).
pub struct HashShape;

impl Shape for HashShape {
    const NAME: &'static str = "declared_hash";

    fn schema() -> MetaSchema {
        string_matching(HASH_PATTERN)
    }
}

/// A 65-byte (r, s, v) signature in 0x hex.
pub struct SignatureShape;

impl Shape for SignatureShape {
    const NAME: &'static str = "declared_signature";

    fn schema() -> MetaSchema {
        string_matching(r"^0x[0-9a-fA-F]{130}$")
    }
}

/// An `Idempotency-Key`: 1 to 200 visible ASCII characters (`invalid_idempotency_key`
/// otherwise), without `#` and not starting with `payment:` (`reserved_idempotency_key`).
pub struct IdempotencyKeyShape;

impl Shape for IdempotencyKeyShape {
    const NAME: &'static str = "declared_idempotency_key";

    fn schema() -> MetaSchema {
        MetaSchema {
            min_length: Some(1),
            max_length: Some(200),
            // No `#` and no `payment:` prefix: the service names its own mints so.
            ..string_matching(IDEMPOTENCY_KEY_PATTERN)
        }
    }
}

/// A setting's new value: an integer (`invalid_value` otherwise, also when out of range).
pub struct SettingValueShape;

impl Shape for SettingValueShape {
    const NAME: &'static str = "declared_setting_value";

    fn schema() -> MetaSchema {
        MetaSchema::new_with_format("integer", "int64")
    }
}

/// How many mints one request asks for: 1 to `MAX_QUANTITY` (`quantity_out_of_range`
/// otherwise).
pub struct QuantityShape;

impl Shape for QuantityShape {
    const NAME: &'static str = "declared_quantity";

    fn schema() -> MetaSchema {
        MetaSchema {
            minimum: Some(1.0),
            maximum: Some(f64::from(crate::workflows::mint::MAX_QUANTITY)),
            ..MetaSchema::new_with_format("integer", "int64")
        }
    }
}

/// A mint's priority: 0 to 100 (`priority_out_of_range` otherwise).
pub struct PriorityShape;

impl Shape for PriorityShape {
    const NAME: &'static str = "declared_priority";

    fn schema() -> MetaSchema {
        MetaSchema {
            minimum: Some(f64::from(crate::workflows::priority::DEFAULT)),
            maximum: Some(f64::from(crate::workflows::priority::MAX)),
            ..MetaSchema::new_with_format("integer", "int64")
        }
    }
}

/// An event position to resume after: never negative (`invalid_position` otherwise).
pub struct PositionShape;

impl Shape for PositionShape {
    const NAME: &'static str = "declared_position";

    fn schema() -> MetaSchema {
        MetaSchema {
            minimum: Some(0.0),
            ..MetaSchema::new_with_format("integer", "int64")
        }
    }
}

/// The `nextCursor` of a list that pages by position (the audit log, a delivery log): digits
/// (`invalid_parameter` otherwise).
pub struct PositionCursorShape;

impl Shape for PositionCursorShape {
    const NAME: &'static str = "declared_position_cursor";

    fn schema() -> MetaSchema {
        string_matching("^[0-9]{1,18}$")
    }
}

/// A `Last-Event-ID`: an event position, or empty for none (`invalid_last_event_id`).
pub struct EventIdShape;

impl Shape for EventIdShape {
    const NAME: &'static str = "declared_event_id";

    fn schema() -> MetaSchema {
        string_matching(EVENT_ID_PATTERN)
    }
}

/// An unsigned 256-bit integer in decimal: a token amount, a supply, a timestamp of an
/// authorization (`invalid_number` or `invalid_authorization` otherwise).
pub struct DecimalShape;

impl Shape for DecimalShape {
    const NAME: &'static str = "declared_decimal";

    fn schema() -> MetaSchema {
        string_matching(DECIMAL_PATTERN)
    }
}

fn text_of_length(max: usize) -> MetaSchema {
    MetaSchema {
        min_length: Some(1),
        max_length: Some(max),
        ..MetaSchema::new("string")
    }
}

/// A token's name: 1 to 64 characters (`invalid_name` otherwise).
pub struct TokenNameShape;

impl Shape for TokenNameShape {
    const NAME: &'static str = "declared_token_name";

    fn schema() -> MetaSchema {
        text_of_length(64)
    }
}

/// A token's symbol: 1 to 16 characters (`invalid_symbol` otherwise).
pub struct TokenSymbolShape;

impl Shape for TokenSymbolShape {
    const NAME: &'static str = "declared_token_symbol";

    fn schema() -> MetaSchema {
        text_of_length(16)
    }
}

/// The pattern of an `Idempotency-Key`.
pub const IDEMPOTENCY_KEY_PATTERN: &str = r##"^(?!payment:)[!"$-~]{1,200}$"##;
/// The pattern of a `Last-Event-ID`.
pub const EVENT_ID_PATTERN: &str = "^[0-9]{0,18}$";
/// Up to 77 decimal digits: every such number fits in 256 bits.
pub const DECIMAL_PATTERN: &str = "^[0-9]{1,77}$";

/// Whether `raw` is what `DECIMAL_PATTERN` allows.
pub use crate::app::units::is_decimal;

/// Whether `raw` is `0x` and `bytes` bytes of hex.
pub fn is_hex_of(raw: &str, bytes: usize) -> bool {
    raw.strip_prefix("0x")
        .is_some_and(|hex| hex.len() == 2 * bytes && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The pattern of a 0x address, as every view and request declares it.
pub const ADDRESS_PATTERN: &str = r"^0x[0-9a-fA-F]{40}$";
/// The pattern of a 0x transaction hash or other 32-byte value.
pub const HASH_PATTERN: &str = r"^0x[0-9a-fA-F]{64}$";

/// A path id, or the `nextCursor` of a list that pages by id.
pub type UuidText = Declared<UuidShape>;
/// The `nextCursor` of a list that pages by position.
pub type PositionCursor = Declared<PositionCursorShape>;
/// An address in a request.
pub type AddressText = Declared<AddressShape>;
/// A transaction hash in a request.
pub type HashText = Declared<HashShape>;
/// A 65-byte signature in a request.
pub type SignatureText = Declared<SignatureShape>;
/// A decimal amount in a request.
pub type DecimalText = Declared<DecimalShape>;
