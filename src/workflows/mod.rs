//! The domain state machines. Each kind is one file implementing `engine::Workflow`.
/// Gives a kind's state enum its stored names: `ALL`, `as_str` (the name serde writes, which
/// the `state` column holds) and `parse`. One definition, so every kind spells its states the
/// same way; the tests below tie each name to serde's.
macro_rules! state_names {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The name it is stored under (as serde writes it).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }

            /// The state a stored name spells, if it is one of this kind's.
            pub fn parse(s: &str) -> Option<$ty> {
                Self::ALL.iter().copied().find(|st| st.as_str() == s)
            }
        }
    };
}

pub mod batcher;
mod chain_step;
pub mod deployment;
pub mod mint;
pub mod mint_batch;
mod passes;
pub mod payment;
pub mod priority;
#[cfg(feature = "bench")]
pub mod probe;
pub mod settlement_batch;
pub mod settlement_batcher;
pub mod supply;
pub mod writes;

use crate::chain::Chain;
use crate::engine::Registry;
use crate::store::mints::{MINT, MINT_BATCH};

/// The kinds that are financial records: what was paid, minted and deployed (a batch is the
/// record of its mints' transaction). Retention never deletes them, nor their history; the
/// payments' receipts outlive even them.
pub const RECORDS: &[&str] = &[
    payment::PAYMENT,
    MINT,
    MINT_BATCH,
    deployment::DEPLOYMENT,
    settlement_batch::SETTLEMENT_BATCH,
];

/// Every production kind this build runs. Kinds that send transactions need the chain; a
/// process without one runs the others.
pub fn registry(chain: Option<&Chain>) -> Registry {
    let registry = Registry::new().register(mint::Mint);
    match chain {
        Some(chain) => registry
            .register(mint_batch::MintBatch::new(chain.clone()))
            .register(payment::Payment::new(chain.clone()))
            .register(deployment::Deployment::new(chain.clone()))
            .register(settlement_batch::SettlementBatch::new(chain.clone())),
        None => registry,
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;

    /// Each state's name is serde's, and parses back to it; other names parse to nothing.
    fn round_trip<T: Serialize + Copy + PartialEq + std::fmt::Debug>(
        all: &[T],
        as_str: fn(T) -> &'static str,
        parse: fn(&str) -> Option<T>,
    ) {
        for &st in all {
            let name = as_str(st);
            assert_eq!(serde_json::to_value(st).unwrap(), name, "{st:?}");
            assert_eq!(parse(name), Some(st), "{name}");
        }
        for other in ["", "Pending", "unknown", "completed"] {
            assert_eq!(parse(other), None, "{other}");
        }
    }

    #[test]
    fn state_names_round_trip() {
        use super::{deployment::DeploymentState, mint_batch::BatchState, payment::PaymentState};
        use crate::store::mints::MintState;
        round_trip(PaymentState::ALL, PaymentState::as_str, PaymentState::parse);
        round_trip(
            DeploymentState::ALL,
            DeploymentState::as_str,
            DeploymentState::parse,
        );
        round_trip(BatchState::ALL, BatchState::as_str, BatchState::parse);
        round_trip(&MintState::ALL, MintState::as_str, MintState::parse);
    }

    #[test]
    fn state_tables() {
        use super::{
            deployment::DeploymentState as D, mint_batch::BatchState as B,
            payment::PaymentState as P,
        };
        let payments = [
            (P::Pending, "pending"),
            (P::Processing, "processing"),
            (P::Sent, "sent"),
            (P::Checking, "checking"),
            (P::Confirmed, "confirmed"),
            (P::Failed, "failed"),
        ];
        assert_eq!(P::ALL.len(), payments.len());
        for (st, name) in payments {
            assert_eq!((st.as_str(), P::parse(name)), (name, Some(st)));
        }
        let deployments = [
            (D::AwaitingPayment, "awaiting_payment"),
            (D::Pending, "pending"),
            (D::Processing, "processing"),
            (D::Sent, "sent"),
            (D::Confirmed, "confirmed"),
            (D::Failed, "failed"),
            (D::Cancelled, "cancelled"),
        ];
        assert_eq!(D::ALL.len(), deployments.len());
        for (st, name) in deployments {
            assert_eq!((st.as_str(), D::parse(name)), (name, Some(st)));
        }
        let batches = [
            (B::Pending, "pending"),
            (B::Sent, "sent"),
            (B::Confirmed, "confirmed"),
            (B::Failed, "failed"),
        ];
        assert_eq!(B::ALL.len(), batches.len());
        for (st, name) in batches {
            assert_eq!((st.as_str(), B::parse(name)), (name, Some(st)));
        }
    }

    /// The names `store` spells for want of the workflows' types are the kinds' own.
    #[test]
    fn store_spellings_are_the_kinds_names() {
        use super::{deployment::DeploymentState, payment, payment::PaymentState};
        use crate::store::{held, mints::MintState, payers};
        assert_eq!(payers::PAYMENT, payment::PAYMENT);
        assert_eq!(payers::CONFIRMED, PaymentState::Confirmed.as_str());
        assert_eq!(held::CANCELLED, MintState::Cancelled.as_str());
        assert_eq!(held::CANCELLED, DeploymentState::Cancelled.as_str());
    }
}
