//! Mint priority: which pending mints of a token the batcher takes first, and who may ask for
//! how much of it.
//!
//! A mint's priority is its workflow row's `priority` (the engine runs higher first too, which
//! only matters for the rare step a mint runs when an operator retries it). The batcher takes
//! a token's pending mints highest priority first, then oldest first; the partial index
//! `idx_workflows_pending_mints_by_priority` keeps that claim an index scan.
use std::cmp::Ordering;

use uuid::Uuid;

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

/// A pending mint's place in its token's queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueuePlace {
    pub priority: i16,
    /// UUIDv7: grows with the time the mint was queued.
    pub id: Uuid,
}

impl Ord for QueuePlace {
    /// The batcher's claim order: `Less` is taken first (higher priority, then older).
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .priority
            .cmp(&self.priority)
            .then(self.id.cmp(&other.id))
    }
}

impl PartialOrd for QueuePlace {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn higher_priority_is_taken_first_then_the_oldest() {
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
        let mut queue = [
            QueuePlace {
                priority: 0,
                id: ids[0],
            },
            QueuePlace {
                priority: 0,
                id: ids[1],
            },
            QueuePlace {
                priority: 5,
                id: ids[3],
            },
            QueuePlace {
                priority: 5,
                id: ids[2],
            },
        ];
        queue.sort();
        let order: Vec<Uuid> = queue.iter().map(|p| p.id).collect();
        assert_eq!(order, [ids[2], ids[3], ids[0], ids[1]]);
    }

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
