//! A payment settled in a batch (with a `Settler` configured): after its simulation it parks in
//! `processing` until the settlement batcher takes it into a `settlement_batch`, which moves it
//! to `sent` (naming the batch) and later hands it its outcome. The payment's own step then
//! acts on it exactly as on a settlement of its own: settled, it is `paid`; failed, it goes to
//! `checking`, which asks the token what became of the authorization.
use serde::{Deserialize, Serialize};

/// What a settlement batch reported for one payment, written into its checkpoint by the batch.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchOutcome {
    /// The settler's `Settled` event for the authorization, in `hash` at `block`.
    Settled { hash: String, block: i64 },
    /// The settler's `Failed` event (with the token's reason), or the batch did not settle.
    Failed { reason: String },
}
