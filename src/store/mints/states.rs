//! A mint's states as the store spells them. `store` sits below `workflows` and cannot name
//! the `mint` workflow module, so the enum lives here and the workflow re-exports it; every
//! query of the store builds its SQL from it.
use serde::{Deserialize, Serialize};

/// Where a mint is (the `state` column of a `mint` workflow): the `mint` workflow's own state
/// type (`workflows::mint::MintState` is this enum), so the store and the workflow spell a state
/// one way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MintState {
    /// Part of a payment that is not confirmed yet; the payment moves it to `pending` (or
    /// `cancelled`).
    AwaitingPayment,
    /// Queued, waiting for a batch.
    Pending,
    /// Taken into a batch whose transaction is being prepared.
    Processing,
    /// Its batch's transaction is signed and handed to the sender.
    Sent,
    /// Its batch's transaction is `confirmations` blocks deep.
    Confirmed,
    Failed,
    Cancelled,
}

impl MintState {
    pub const ALL: [MintState; 7] = [
        MintState::AwaitingPayment,
        MintState::Pending,
        MintState::Processing,
        MintState::Sent,
        MintState::Confirmed,
        MintState::Failed,
        MintState::Cancelled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            MintState::AwaitingPayment => "awaiting_payment",
            MintState::Pending => "pending",
            MintState::Processing => "processing",
            MintState::Sent => "sent",
            MintState::Confirmed => "confirmed",
            MintState::Failed => "failed",
            MintState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<MintState> {
        MintState::ALL.into_iter().find(|st| st.as_str() == s)
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
                MintState::Pending.as_str(),
                Status::Waiting.as_str()
            )
        );
        assert_eq!(
            IN_BATCH,
            format!(
                "('{}', '{}')",
                MintState::Processing.as_str(),
                MintState::Sent.as_str()
            )
        );
    }

    #[test]
    fn names_round_trip() {
        for state in MintState::ALL {
            assert_eq!(MintState::parse(state.as_str()), Some(state));
        }
        assert_eq!(MintState::parse("queued"), None);
    }
}
