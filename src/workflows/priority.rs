//! Mint priority: which pending mints of a token the batcher takes first, and who may ask for
//! how much of it.
//!
//! A mint's priority is its workflow row's `priority` (the engine runs higher first too, which
//! only matters for the rare step a mint runs when an operator retries it). The batcher takes
//! a token's pending mints highest priority first, then oldest first; the partial index
//! `idx_workflows_pending_mints_by_priority` keeps that claim an index scan.

/// Priority of a mint that asks for none.
pub const DEFAULT: i16 = 0;
/// Highest priority a mint may have.
pub const MAX: i16 = 100;

/// Why a requested priority is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("`priority` must be between {DEFAULT} and {MAX}, got {0}")]
    OutOfRange(i64),
    #[error(
        "`priority` {requested} is above this key's maximum of {max}; ask an admin for a key allowed more"
    )]
    AboveKeyMaximum { requested: i16, max: i16 },
}

/// A priority within `DEFAULT..=MAX`.
pub fn in_range(requested: i64) -> Result<i16, Refusal> {
    i16::try_from(requested)
        .ok()
        .filter(|p| (DEFAULT..=MAX).contains(p))
        .ok_or(Refusal::OutOfRange(requested))
}

/// The priority a caller's mint gets: `requested` (the default when absent) if it is in range
/// and within `caller_max`, the most the caller's key allows (`MAX` for admins).
pub fn admit(requested: Option<i64>, caller_max: i16) -> Result<i16, Refusal> {
    let priority = in_range(requested.unwrap_or(i64::from(DEFAULT)))?;
    if priority > caller_max {
        return Err(Refusal::AboveKeyMaximum {
            requested: priority,
            max: caller_max,
        });
    }
    Ok(priority)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_may_ask_up_to_its_maximum() {
        assert_eq!(admit(None, 0), Ok(DEFAULT));
        assert_eq!(admit(Some(10), 10), Ok(10));
        assert_eq!(
            admit(Some(11), 10),
            Err(Refusal::AboveKeyMaximum {
                requested: 11,
                max: 10
            })
        );
        assert_eq!(admit(Some(i64::from(MAX)), MAX), Ok(MAX));
    }

    #[test]
    fn out_of_range_is_refused_before_the_key_is_asked() {
        for bad in [-1, i64::from(MAX) + 1, i64::from(i16::MAX) + 1, i64::MIN] {
            assert_eq!(
                admit(Some(bad), MAX),
                Err(Refusal::OutOfRange(bad)),
                "{bad}"
            );
            assert_eq!(admit(Some(bad), 0), Err(Refusal::OutOfRange(bad)), "{bad}");
        }
        assert_eq!(in_range(i64::from(MAX)), Ok(MAX));
    }
}
