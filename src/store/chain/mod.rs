//! Queries of the transaction pipeline: signers and their nonces, logical transactions (one per
//! nonce) and their signed attempts.
mod progress;
mod signers;
mod status;
mod txs;

use sea_orm::FromQueryResult;
use uuid::Uuid;

pub use progress::*;
pub use signers::*;
pub use status::*;
pub use txs::*;

/// A logical transaction: one nonce of one signer.
#[derive(Clone, Debug, PartialEq, FromQueryResult)]
pub struct TxRow {
    pub id: Uuid,
    pub chain_id: i64,
    pub signer: String,
    pub nonce: i64,
    pub idempotency_key: String,
    pub owner_workflow_id: Option<Uuid>,
    pub purpose: String,
    pub to_address: Option<String>,
    pub value: String,
    pub input: Vec<u8>,
    pub gas_limit: i64,
    /// A `TxStatus` name (`TxRow::tx_status` reads it).
    pub status: String,
    pub mined_block: Option<i64>,
    pub mined_block_hash: Option<String>,
    pub winner_hash: Option<String>,
    pub contract_address: Option<String>,
    pub gas_used: Option<i64>,
    pub error: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub confirmed_at_ms: Option<i64>,
    /// Consecutive sender passes that read the nonce as used with no receipt for any attempt.
    pub nonce_taken_reads: i64,
}

impl TxRow {
    /// The stored status, typed (`None` for a name this build does not know).
    pub fn tx_status(&self) -> Option<TxStatus> {
        TxStatus::parse(&self.status)
    }
}

/// One signed variant of a transaction (the first, or a fee bump).
#[derive(Clone, Debug, PartialEq, FromQueryResult)]
pub struct AttemptRow {
    pub id: i64,
    pub tx_id: Uuid,
    pub hash: String,
    pub raw: Vec<u8>,
    pub max_fee_per_gas: String,
    pub max_priority_fee_per_gas: String,
    /// `tx`, or `filler` for a self-transfer that frees the nonce.
    pub kind: String,
    /// An `AttemptStatus` name.
    pub status: String,
    pub created_at_ms: i64,
    /// When this attempt was first broadcast.
    pub broadcast_at_ms: Option<i64>,
    /// The chain's head when this attempt was first broadcast (for `bump_after_blocks`).
    pub broadcast_block: Option<i64>,
}
