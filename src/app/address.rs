//! Addresses as requests write them: 0x and 40 hex digits, any case.
use alloy::primitives::Address;

/// `raw`, given as `field`, is not a 0x address.
#[derive(Clone, Debug, thiserror::Error)]
#[error("`{field}` must be a 0x-prefixed 20-byte hex address, got `{raw}`")]
pub struct InvalidAddress {
    pub field: String,
    pub raw: String,
}

/// Parses a 0x address, naming the field in the error.
pub fn parse(field: &str, raw: &str) -> Result<Address, InvalidAddress> {
    let hex = raw.strip_prefix("0x").or_else(|| raw.strip_prefix("0X"));
    match hex {
        Some(h) if h.len() == 40 && h.chars().all(|c| c.is_ascii_hexdigit()) => {
            Ok(raw.to_lowercase().parse().expect("validated hex"))
        }
        _ => Err(InvalidAddress {
            field: field.to_owned(),
            raw: raw.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_case_parses_and_other_shapes_name_the_field() {
        let upper = "0X00000000000000000000000000000000000000AB";
        assert_eq!(
            parse("payer", upper).unwrap(),
            Address::with_last_byte(0xab)
        );
        for raw in [
            "",
            "0x",
            "0x123",
            "00000000000000000000000000000000000000ab00",
        ] {
            let e = parse("payer", raw).unwrap_err();
            assert_eq!((e.field.as_str(), e.raw.as_str()), ("payer", raw));
        }
    }
}
