//! The domain state machines. Each kind is one file implementing `engine::Workflow`.
pub mod batcher;
mod chain_step;
pub mod deployment;
pub mod mint;
pub mod mint_batch;
pub mod payment;
pub mod priority;
#[cfg(feature = "bench")]
pub mod probe;
pub mod supply;
pub mod writes;

use crate::chain::Chain;
use crate::engine::Registry;
use crate::store::mints::{MINT, MINT_BATCH};

/// The kinds that are financial records: what was paid, minted and deployed (a batch is the
/// record of its mints' transaction). Retention never deletes them, nor their history; the
/// payments' receipts outlive even them.
pub const RECORDS: &[&str] = &[payment::PAYMENT, MINT, MINT_BATCH, deployment::DEPLOYMENT];

/// Every production kind this build runs. Kinds that send transactions need the chain; a
/// process without one runs the others.
pub fn registry(chain: Option<&Chain>) -> Registry {
    let registry = Registry::new().register(mint::Mint);
    match chain {
        Some(chain) => registry
            .register(mint_batch::MintBatch::new(chain.clone()))
            .register(payment::Payment::new(chain.clone()))
            .register(deployment::Deployment::new(chain.clone())),
        None => registry,
    }
}
