//! Filters of kinds and states, checked against the names the document lists.
use super::error::ApiError;
pub use crate::spec::names::*;

/// The kinds of a comma-separated list (none for all): 400 `invalid_filter` when one is not
/// listed.
pub fn kind_list(field: &str, raw: &str) -> Result<Vec<String>, ApiError> {
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    check_filter(field, KINDS, raw.split(','))
        .map_err(|message| ApiError::bad_request("invalid_filter", message))?;
    Ok(raw.split(',').map(str::to_owned).collect())
}

/// A query filter's name checked: 400 `invalid_filter` when it is not listed.
pub fn check_query(
    field: &str,
    known: &[(&str, &str)],
    name: Option<&str>,
) -> Result<(), ApiError> {
    check_filter(field, known, name)
        .map_err(|message| ApiError::bad_request("invalid_filter", message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflows::{
        deployment::DeploymentState, mint::MintState, mint_batch::BatchState, payment::PaymentState,
    };

    fn listed<T: serde::Serialize>(states: &[T]) {
        for state in states {
            let name = serde_json::to_value(state).unwrap();
            let name = name.as_str().unwrap();
            assert!(
                STATES.iter().any(|(s, _)| *s == name),
                "state `{name}` is not listed"
            );
        }
    }

    #[test]
    fn every_kinds_states_are_listed() {
        use MintState as M;
        listed(&[
            M::AwaitingPayment,
            M::Pending,
            M::Processing,
            M::Sent,
            M::Confirmed,
            M::Failed,
            M::Cancelled,
        ]);
        use BatchState as B;
        listed(&[B::Pending, B::Sent, B::Confirmed, B::Failed]);
        use PaymentState as P;
        listed(&[
            P::Pending,
            P::Processing,
            P::Sent,
            P::Checking,
            P::Confirmed,
            P::Failed,
        ]);
        use DeploymentState as D;
        listed(&[
            D::AwaitingPayment,
            D::Pending,
            D::Processing,
            D::Sent,
            D::Confirmed,
            D::Failed,
            D::Cancelled,
        ]);
        #[cfg(feature = "bench")]
        {
            use crate::workflows::probe::ProbeState as Q;
            listed(&[Q::First, Q::Second, Q::Third, Q::Done]);
        }
    }

    #[test]
    fn a_filter_takes_listed_names_only() {
        assert!(check_filter("kind", KINDS, ["mint", "payment"]).is_ok());
        assert!(check_filter("kind", KINDS, ["mints"]).is_err());
        assert!(check_filter("state", STATES, [MintState::Confirmed.as_str(), ""]).is_err());
        assert!(check_query("kind", KINDS, Some("probe")).is_ok());
        assert!(check_query("kind", KINDS, Some("Mint")).is_err());
        assert_eq!(kind_list("kind", "").ok(), Some(vec![]));
        assert_eq!(
            kind_list("kind", "mint,payment").ok(),
            Some(vec!["mint".to_owned(), "payment".to_owned()])
        );
        assert!(kind_list("kind", "mint,,payment").is_err());
        assert!(kind_list("kind", "mint, payment").is_err());
    }
}
