//! What the intake use cases (mints, payments, deployments) work with: the process's store
//! connections, engine client, chain, settings and clock, borrowed from whoever serves the
//! request.
use sea_orm::DatabaseConnection;

use crate::chain::Chain;
use crate::config::SettingsHandle;
use crate::config::contracts::Contracts;
use crate::engine::Client;
use crate::store::time::Clock;
use crate::workflows::batcher::QueueSignal;

/// Borrowed for one request: building it costs nothing.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// Intake and every read that precedes a write.
    pub db: &'a DatabaseConnection,
    /// Reads that change nothing (pages of lists), apart from the engine's connections.
    pub read_db: &'a DatabaseConnection,
    pub client: &'a Client,
    /// `None` when the process has no chain configured.
    pub chain: Option<&'a Chain>,
    pub contracts: &'a Contracts,
    pub settings: &'a SettingsHandle,
    /// Wakes this process's mint batcher once mints are queued.
    pub queue: &'a QueueSignal,
    /// The process's clock: the time every use case stamps and compares.
    pub clock: &'a Clock,
}

/// Intake needs a chain, and this process has none.
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error("this server has no chain configured (RPC_URL)")]
pub struct NoChain;

impl<'a> Context<'a> {
    pub fn chain(&self) -> Result<&'a Chain, NoChain> {
        self.chain.ok_or(NoChain)
    }
}
