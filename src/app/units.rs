//! Amounts of token base units as requests write them: decimal integers of 1 to 77 digits.
use alloy::primitives::U256;

/// `raw`, given as `field`, is not an amount of base units.
#[derive(Clone, Debug, thiserror::Error)]
#[error("`{field}` must be a decimal integer of 1 to 77 digits, got `{raw}`")]
pub struct InvalidNumber {
    pub field: String,
    pub raw: String,
}

/// Whether `raw` is 1 to 77 decimal digits (the API declares the same as `DECIMAL_PATTERN`).
pub fn is_decimal(raw: &str) -> bool {
    (1..=77).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_digit())
}

/// Parses an amount of base units, naming the field in the error.
pub fn parse(field: &str, raw: &str) -> Result<U256, InvalidNumber> {
    is_decimal(raw)
        .then(|| U256::from_str_radix(raw, 10).ok())
        .flatten()
        .ok_or_else(|| InvalidNumber {
            field: field.to_owned(),
            raw: raw.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_that_fit_parse_and_others_name_the_field() {
        assert_eq!(parse("f", "42").unwrap(), U256::from(42));
        assert_eq!(
            parse("f", &"9".repeat(77)).unwrap().to_string(),
            "9".repeat(77)
        );
        for raw in ["", "-1", "0x10", "1.5", "1".repeat(78).as_str()] {
            let e = parse("f", raw).unwrap_err();
            assert_eq!((e.field.as_str(), e.raw.as_str()), ("f", raw));
        }
    }
}
