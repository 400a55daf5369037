//! Where a transaction and each of its signed attempts are: the `status` columns of
//! `chain_txs` and `chain_tx_attempts`, typed. The pipeline (`chain/`) and the queries here
//! spell a status only through these enums (and the SQL lists below, tied to them by a test).

/// Where a logical transaction is (`chain_txs.status`):
/// `signed` -> `sent` -> `mined` -> `confirmed` | `reverted`; or `failed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxStatus {
    /// Signed and stored, maybe not broadcast yet.
    Signed,
    /// Broadcast, no receipt seen yet.
    Sent,
    /// A receipt was seen; not deep enough yet (a reorg makes it `sent` again).
    Mined,
    /// Mined and `confirmations` blocks deep.
    Confirmed,
    /// Mined and final, but it reverted.
    Reverted,
    /// It can never land (its nonce was used by another transaction, or freed).
    Failed,
}

impl TxStatus {
    pub const ALL: [TxStatus; 6] = [
        TxStatus::Signed,
        TxStatus::Sent,
        TxStatus::Mined,
        TxStatus::Confirmed,
        TxStatus::Reverted,
        TxStatus::Failed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            TxStatus::Signed => "signed",
            TxStatus::Sent => "sent",
            TxStatus::Mined => "mined",
            TxStatus::Confirmed => "confirmed",
            TxStatus::Reverted => "reverted",
            TxStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<TxStatus> {
        TxStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Not final yet: the sender still follows it (the statuses of `OPEN`).
    pub const fn is_open(self) -> bool {
        matches!(self, TxStatus::Signed | TxStatus::Sent | TxStatus::Mined)
    }
}

impl std::fmt::Display for TxStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one signed attempt of a transaction is (`chain_tx_attempts.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttemptStatus {
    /// Signed and stored, not broadcast yet.
    Signed,
    /// Broadcast at least once.
    Broadcast,
    /// The attempt whose receipt was seen (the winner).
    Mined,
    /// Another attempt of the same nonce was mined.
    Replaced,
}

impl AttemptStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Signed => "signed",
            AttemptStatus::Broadcast => "broadcast",
            AttemptStatus::Mined => "mined",
            AttemptStatus::Replaced => "replaced",
        }
    }
}

/// The open transactions (`TxStatus::is_open`) as an SQL list, written out as the predicate of
/// `idx_chain_txs_open` spells it: PostgreSQL uses a partial index only for a query whose text
/// implies its predicate, which a bound parameter never does. The test below ties the text to
/// the typed names.
pub(crate) const OPEN: &str = "('signed', 'sent', 'mined')";

/// The open transactions no receipt was seen for yet, as an SQL list.
pub(crate) const UNMINED: &str = "('signed', 'sent')";

#[cfg(test)]
mod tests {
    use super::*;

    /// `('a', 'b')`: an SQL list of names.
    fn sql_list(names: impl IntoIterator<Item = &'static str>) -> String {
        let quoted: Vec<String> = names.into_iter().map(|n| format!("'{n}'")).collect();
        format!("({})", quoted.join(", "))
    }

    #[test]
    fn sql_spellings_are_the_typed_names() {
        let open = TxStatus::ALL.into_iter().filter(|s| s.is_open());
        assert_eq!(OPEN, sql_list(open.map(TxStatus::as_str)));
        assert_eq!(
            UNMINED,
            sql_list([TxStatus::Signed.as_str(), TxStatus::Sent.as_str()])
        );
    }

    #[test]
    fn names_round_trip() {
        for status in TxStatus::ALL {
            assert_eq!(TxStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(TxStatus::parse("pending"), None);
    }
}
