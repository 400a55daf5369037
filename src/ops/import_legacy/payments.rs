//! The old `payment_queue` as mintflow payments, where the model allows. mintflow continues a
//! payment from its payer's signed authorization, which the old table does not hold, so only
//! finished payments are imported: `completed` as `confirmed`, `failed` and
//! `confirmation_failed` with a transaction as `failed` (keeping the transaction, so the old
//! API still says `confirmation_failed`). Each is recorded as a `custom` payment of its
//! transaction (the only kind that carries a transaction without an authorization) with its
//! receipt, which reserves that transaction: it can never pay for anything again here.
//! Payments still in flight, and failed ones that sent nothing, are reported.
use alloy::primitives::{Address, B256, U256};
use sea_orm::ConnectionTrait;
use serde_json::json;

use super::NotImported;
use super::old_db::{OldRow, number, row_id, text};
use crate::chain::signer::address_key;
use crate::engine::{Client, StartError, StartOptions, Started};
use crate::store::moves::{Move, move_parked};
use crate::store::receipts::{self, Reserved};
use crate::store::workflows::Status;
use crate::workflows::payment::{Payment, PaymentData, PaymentKind, PaymentState, receipt};

pub const TABLE: &str = "payment_queue";

/// Where imported payments were paid: mintflow's USDC and `PAY_TO`, on the token's chain.
#[derive(Clone, Copy, Debug)]
pub struct Destination {
    pub chain_id: i64,
    pub asset: Address,
    pub pay_to: Address,
}

/// One old finished payment, understood.
pub struct OldPayment {
    old_id: String,
    old_status: String,
    data: PaymentData,
    confirmed: bool,
    error: Option<String>,
}

/// Reads one row, or says why it is not imported.
pub fn parse(row: &OldRow, to: &Destination) -> Result<OldPayment, NotImported> {
    let old_id = row_id(row);
    let refuse = |reason: &str| NotImported {
        table: TABLE,
        id: old_id.clone(),
        reason: reason.to_owned(),
    };
    let old_id = old_id.clone().ok_or_else(|| refuse("no `id`"))?;
    let old_status = text(row, "status").unwrap_or_default().to_owned();
    // The old server's statuses: its own words, not `PaymentState`'s, so they stay literal.
    let confirmed = match old_status.as_str() {
        "completed" => true,
        "failed" | "confirmation_failed" => false,
        "pending" | "processing" | "sent" => {
            return Err(refuse(
                "still in flight on the old server: mintflow cannot continue a settlement \
                 without the payer's signed authorization; let the old server finish it",
            ));
        }
        _ => return Err(refuse("unknown `status`")),
    };
    let tx = text(row, "tx_hash").or_else(|| text(row, "transaction_hash"));
    let Some(tx) = tx else {
        return Err(refuse(if confirmed {
            "`completed` without its transaction hash"
        } else {
            "failed before sending a transaction: nothing was paid, nothing to keep"
        }));
    };
    let tx = tx
        .parse::<B256>()
        .map_err(|_| refuse("the transaction hash is not 32 bytes of hex"))?;
    let payer = text(row, "payer_address")
        .and_then(|p| p.parse::<Address>().ok())
        .ok_or_else(|| refuse("no payer address"))?;
    let amount = number(row, "amount")
        .filter(|a| a.fract() == 0.0 && *a >= 0.0)
        .map(|a| U256::from(a as u128))
        .ok_or_else(|| refuse("`amount` is not a whole number of base units"))?;
    let error = text(row, "error").or_else(|| text(row, "error_message"));
    Ok(OldPayment {
        old_id,
        old_status,
        data: PaymentData {
            transfer_tx: Some(tx),
            tx_hash: Some(format!("{tx:#x}")),
            ..PaymentData::new(PaymentKind::Custom, to.asset, payer, to.pay_to, amount)
        },
        confirmed,
        error: (!confirmed).then(|| {
            error
                .unwrap_or("failed on the old server (no error recorded)")
                .to_owned()
        }),
    })
}

/// What importing one old payment did.
pub enum Imported {
    /// A new payment in this state.
    Created(&'static str),
    /// An earlier import created it.
    Already,
    /// Refused: the caller rolls its transaction back.
    Refused(NotImported),
}

/// Creates the payment of `item` and its receipt, finished, inside the caller's transaction
/// (its own: a refusal comes after the payment was written).
pub async fn import<C: ConnectionTrait>(
    client: &Client,
    conn: &C,
    to: &Destination,
    item: &OldPayment,
) -> Result<Imported, sea_orm::DbErr> {
    let refuse = |reason: String| NotImported {
        table: TABLE,
        id: Some(item.old_id.clone()),
        reason,
    };
    let opts = StartOptions {
        idempotency_key: Some(format!("legacy:{TABLE}:{}", item.old_id)),
        request_body: Some(
            serde_json::to_vec(&json!({ "old_status": item.old_status, "data": item.data }))
                .expect("serializes"),
        ),
        waiting: true,
        payer: Some(address_key(item.data.payer)),
        tx_hash: item.data.tx_hash.clone(),
        ..Default::default()
    };
    let id = match client
        .start_in::<Payment, _>(conn, PaymentState::Pending, &item.data, opts)
        .await
    {
        Ok(Started::Created(id)) => id,
        Ok(Started::Existing(_)) => return Ok(Imported::Already),
        Err(StartError::IdempotencyConflict { existing }) => {
            return Ok(Imported::Refused(refuse(format!(
                "imported before as payment {existing}, and changed on the old server since"
            ))));
        }
        Err(StartError::Db(e)) => return Err(e),
    };
    let receipt = receipt::of(&item.data, to.chain_id as u64, id, crate::store::now_ms());
    if let Reserved::Taken(first) = receipts::reserve(conn, &receipt).await? {
        return Ok(Imported::Refused(refuse(format!(
            "its transaction already paid for payment {first}"
        ))));
    }
    let (state, status) = if item.confirmed {
        (PaymentState::Confirmed, Status::Completed)
    } else {
        (PaymentState::Failed, Status::Failed)
    };
    let ids = [id];
    let m = Move {
        ids: &ids,
        from_states: &[PaymentState::Pending.as_str()],
        from_statuses: &[Status::Waiting],
        to_state: state.as_str(),
        to_status: status,
        event: "imported",
        patch: json!({}),
        tx_hash: item.data.tx_hash.as_deref(),
        error: item.error.as_deref(),
        detail: Some(json!({ "legacy_table": TABLE, "legacy_id": item.old_id })),
        worker: None,
        run_now: false,
    };
    move_parked(conn, &m, crate::store::now_ms()).await?;
    Ok(Imported::Created(state.as_str()))
}
