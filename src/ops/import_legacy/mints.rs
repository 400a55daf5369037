//! The old `mint_queue` as mintflow mints. Each old row becomes one `mint` workflow whose
//! idempotency key is the old id (`legacy:mint_queue:{id}`), so a second import finds it, and
//! whose on-chain id is the old `tx_hash_bytes32`: the contract's `hasMinted(id)` then stops a
//! second mint of an item the old server already minted, even one it never marked completed.
use alloy::primitives::{Address, B256};
use sea_orm::ConnectionTrait;
use serde_json::json;

use super::old_db::{OldRow, number, row_id, text};
use super::{Counts, NotImported};
use crate::engine::{Client, StartError, Started};
use crate::store::moves::{Move, move_parked};
use crate::store::workflows::Status;
use crate::workflows::mint::{Mint, MintRequest, MintState, PaymentType, new_mint};

pub const TABLE: &str = "mint_queue";

/// What an old item becomes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// `pending` and `processing`: queued again under the old on-chain id.
    Pending,
    /// `completed`: minted by the old server in `tx_hash`; nothing is sent.
    Confirmed { tx_hash: String },
    /// `failed`: failed with the old error; minted only if an operator retries it.
    Failed { error: String },
}

/// One old item, understood.
#[derive(Clone, Debug)]
pub struct OldMint {
    pub old_id: String,
    old_status: String,
    payer: Address,
    onchain_id: B256,
    payment_type: PaymentType,
    pub outcome: Outcome,
    /// The old queue order: `queue_position`, then `created_at`.
    pub order: (Option<f64>, Option<String>),
}

/// Reads one row, or says why it cannot be mapped (nothing is guessed).
pub fn parse(row: &OldRow) -> Result<OldMint, NotImported> {
    let old_id = row_id(row);
    let refuse = |reason: String| NotImported {
        table: TABLE,
        id: old_id.clone(),
        reason,
    };
    let old_id = old_id.clone().ok_or_else(|| refuse("no `id`".into()))?;
    let payer = text(row, "payer_address")
        .ok_or_else(|| refuse("no `payer_address`".into()))?
        .parse::<Address>()
        .map_err(|_| refuse("`payer_address` is not an address".into()))?;
    let onchain_id = text(row, "tx_hash_bytes32")
        .ok_or_else(|| refuse("no `tx_hash_bytes32`: no on-chain id to mint it under".into()))?
        .parse::<B256>()
        .map_err(|_| refuse("`tx_hash_bytes32` is not 32 bytes of hex".into()))?;
    let payment_type = match text(row, "payment_type") {
        None | Some("none") => PaymentType::None,
        Some("x402") => PaymentType::X402,
        Some("gasless") => PaymentType::Gasless,
        Some("custom") => PaymentType::Custom,
        Some(other) => return Err(refuse(format!("unknown `payment_type` `{other}`"))),
    };
    let old_status = text(row, "status").unwrap_or_default().to_owned();
    // The old server's statuses: its own words, not `MintState`'s, so they stay literal.
    let outcome = match old_status.as_str() {
        "pending" | "processing" => Outcome::Pending,
        "completed" => {
            let hash = text(row, "mint_tx_hash")
                .ok_or_else(|| refuse("`completed` without `mint_tx_hash`".into()))?;
            let hash = hash
                .parse::<B256>()
                .map_err(|_| refuse("`mint_tx_hash` is not a transaction hash".into()))?;
            Outcome::Confirmed {
                tx_hash: format!("{hash:#x}"),
            }
        }
        "failed" => Outcome::Failed {
            error: text(row, "error_message")
                .unwrap_or("failed on the old server (no error recorded)")
                .to_owned(),
        },
        "" => return Err(refuse("no `status`".into())),
        other => return Err(refuse(format!("unknown `status` `{other}`"))),
    };
    Ok(OldMint {
        old_id,
        old_status,
        payer,
        onchain_id,
        payment_type,
        outcome,
        order: (
            number(row, "queue_position"),
            text(row, "created_at").map(str::to_owned),
        ),
    })
}

/// Creates the mints of `items` for `token` inside the caller's transaction, through the same
/// creation path as a request's mints; completed and failed ones are then moved to their end
/// state in the same transaction, so no worker ever sees them queued.
pub async fn import<C: ConnectionTrait>(
    client: &Client,
    conn: &C,
    token: Address,
    items: &[OldMint],
    out: &mut Counts,
) -> Result<(), sea_orm::DbErr> {
    for item in items {
        let key = format!("legacy:{TABLE}:{}", item.old_id);
        let request = MintRequest {
            payer: item.payer,
            recipient: item.payer,
            token,
            quantity: 1,
            payment_type: item.payment_type,
            key: key.clone(),
            parent_id: None,
            // The old server had no priorities: imported mints queue at the default.
            priority: crate::workflows::priority::DEFAULT,
        };
        let (data, mut opts) = new_mint(&request, key, item.onchain_id);
        // The old row as imported: changed on the old server since, it is a conflict.
        opts.request_body = Some(
            serde_json::to_vec(&json!({
                "old_status": item.old_status, "data": data, "outcome": item.outcome,
            }))
            .expect("serializes"),
        );
        let id = match client
            .start_in::<Mint, _>(conn, MintState::Pending, &data, opts)
            .await
        {
            Ok(Started::Created(id)) => id,
            Ok(Started::Existing(_)) => {
                out.already_imported += 1;
                continue;
            }
            Err(StartError::IdempotencyConflict { existing }) => {
                out.not_imported.push(NotImported {
                    table: TABLE,
                    id: Some(item.old_id.clone()),
                    reason: format!(
                        "imported before as mint {existing}, and changed on the old server since"
                    ),
                });
                continue;
            }
            Err(StartError::Db(e)) => return Err(e),
        };
        let now = client.clock().now_ms();
        let state = finish(conn, id, &item.outcome, &item.old_id, now).await?;
        *out.created.entry(state.as_str()).or_default() += 1;
    }
    Ok(())
}

/// Moves a just created (queued) mint to the end state its old item had, at `now`.
async fn finish<C: ConnectionTrait>(
    conn: &C,
    id: uuid::Uuid,
    outcome: &Outcome,
    old_id: &str,
    now: i64,
) -> Result<MintState, sea_orm::DbErr> {
    let (state, status, tx_hash, error) = match outcome {
        Outcome::Pending => return Ok(MintState::Pending),
        Outcome::Confirmed { tx_hash } => (
            MintState::Confirmed,
            Status::Completed,
            Some(tx_hash.as_str()),
            None,
        ),
        Outcome::Failed { error } => (
            MintState::Failed,
            Status::Failed,
            None,
            Some(error.as_str()),
        ),
    };
    let ids = [id];
    let m = Move {
        ids: &ids,
        from_states: &[MintState::Pending.as_str()],
        from_statuses: &[Status::Waiting],
        to_state: state.as_str(),
        to_status: status,
        event: "imported",
        patch: json!({ "tx_hash": tx_hash }),
        tx_hash,
        error,
        detail: Some(json!({ "legacy_table": TABLE, "legacy_id": old_id })),
        worker: None,
        run_now: false,
    };
    move_parked(conn, &m, now).await?;
    Ok(state)
}
