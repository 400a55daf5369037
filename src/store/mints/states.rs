//! A mint's states as the store spells them. `store` sits below `workflows` and cannot name
//! the `mint` workflow's own state enum, so that enum maps to these names and every query of
//! the store builds its SQL from them.
/// Where a mint is (the `state` column of a `mint` workflow).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MintStateName {
    /// Part of a payment that is not confirmed yet.
    AwaitingPayment,
    /// Queued, waiting for a batch.
    Pending,
    /// Taken into a batch whose transaction is being prepared.
    Processing,
    /// Its batch's transaction is with the sender.
    Sent,
    Confirmed,
    Failed,
    Cancelled,
}

impl MintStateName {
    pub const ALL: [MintStateName; 7] = [
        MintStateName::AwaitingPayment,
        MintStateName::Pending,
        MintStateName::Processing,
        MintStateName::Sent,
        MintStateName::Confirmed,
        MintStateName::Failed,
        MintStateName::Cancelled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            MintStateName::AwaitingPayment => "awaiting_payment",
            MintStateName::Pending => "pending",
            MintStateName::Processing => "processing",
            MintStateName::Sent => "sent",
            MintStateName::Confirmed => "confirmed",
            MintStateName::Failed => "failed",
            MintStateName::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<MintStateName> {
        MintStateName::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// The mint queue: the predicate of its partial index, written out as the index spells it.
/// PostgreSQL uses a partial index only for a query whose text implies its predicate, which a
/// bound parameter never does; the test below ties the text to the typed names.
pub(crate) const QUEUED: &str = "kind = 'mint' AND state = 'pending' AND status = 'waiting'";

/// The states of a mint a batch carries (formed or sent), as an SQL list.
pub(crate) const IN_BATCH: &str = "('processing', 'sent')";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::mints::MINT;
    use crate::store::workflows::Status;

    #[test]
    fn sql_spellings_are_the_typed_names() {
        assert_eq!(
            QUEUED,
            format!(
                "kind = '{MINT}' AND state = '{}' AND status = '{}'",
                MintStateName::Pending.as_str(),
                Status::Waiting.as_str()
            )
        );
        assert_eq!(
            IN_BATCH,
            format!(
                "('{}', '{}')",
                MintStateName::Processing.as_str(),
                MintStateName::Sent.as_str()
            )
        );
    }

    #[test]
    fn names_round_trip() {
        for state in MintStateName::ALL {
            assert_eq!(MintStateName::parse(state.as_str()), Some(state));
        }
        assert_eq!(MintStateName::parse("queued"), None);
    }
}
