//! What the payments API shows of a payment: its status, amounts, settlement and what it paid
//! for.
use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use uuid::Uuid;

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::mint_views::PaymentTypeDto;
use crate::api::workflows::{Shown, shown_status};
use crate::app::payments::shown::{self, Payment};
use crate::chain::signer::address_key;
use crate::store::time::{from_ms, opt_from_ms};
use crate::store::workflows::{ListFilter, Status};
use crate::workflows::payment::{PaymentKind, PaymentState};

/// A payment and its mints.
#[derive(Object)]
#[oai(example)]
#[oai(rename_all = "camelCase")]
pub struct PaymentView {
    pub id: Uuid,
    // A payment that ends without confirming never shows `pending`.
    // (A plain comment: a described $ref becomes an `allOf` that generators refuse.)
    pub status: PaymentStatus,
    pub payment_type: PaymentTypeDto,
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{40}$"), nullable)]
    pub payer: Option<String>,
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{40}$"), nullable)]
    pub pay_to: Option<String>,
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{40}$"), nullable)]
    pub asset: Option<String>,
    /// USDC base units.
    #[oai(nullable)]
    pub amount: Option<String>,
    /// The settlement transaction.
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{64}$"), nullable)]
    pub tx_hash: Option<String>,
    #[oai(nullable)]
    pub block_number: Option<i64>,
    #[oai(nullable)]
    pub error: Option<String>,
    pub mint_ids: Vec<Uuid>,
    /// The deployment it pays for, if any.
    #[oai(nullable)]
    pub deployment_id: Option<Uuid>,
    /// True when this authorization was accepted before with the same request.
    pub existing: bool,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
}

/// Where a payment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Accepted; its settlement is being simulated.
    Pending,
    /// Verified on chain; the settlement is being submitted.
    Processing,
    /// The settlement transaction is with the sender.
    Sent,
    /// The settlement did not land; whether the authorization paid through someone else's
    /// transaction is being checked.
    Checking,
    /// Settled, `confirmations` blocks deep; its mints are queued.
    Confirmed,
    /// Refused on chain or given up; its mints are cancelled.
    Failed,
    /// Cancelled by an operator.
    Cancelled,
}

impl PaymentStatus {
    /// Its name: the state's it shows, or the engine status's that ended the payment.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => PaymentState::Pending.as_str(),
            PaymentStatus::Processing => PaymentState::Processing.as_str(),
            PaymentStatus::Sent => PaymentState::Sent.as_str(),
            PaymentStatus::Checking => PaymentState::Checking.as_str(),
            PaymentStatus::Confirmed => PaymentState::Confirmed.as_str(),
            PaymentStatus::Failed => PaymentState::Failed.as_str(),
            PaymentStatus::Cancelled => Status::Cancelled.as_str(),
        }
    }

    /// What `shown_status` makes of a payment row's engine `status` and `state`.
    pub fn shown(status: &str, state: &str) -> PaymentStatus {
        match shown_status(status, state, PaymentState::parse, PaymentState::Confirmed) {
            Shown::State(Some(PaymentState::Pending) | None) => PaymentStatus::Pending,
            Shown::State(Some(PaymentState::Processing)) => PaymentStatus::Processing,
            Shown::State(Some(PaymentState::Sent)) => PaymentStatus::Sent,
            Shown::State(Some(PaymentState::Checking)) => PaymentStatus::Checking,
            Shown::State(Some(PaymentState::Confirmed)) => PaymentStatus::Confirmed,
            Shown::State(Some(PaymentState::Failed)) | Shown::Failed => PaymentStatus::Failed,
            Shown::Cancelled => PaymentStatus::Cancelled,
        }
    }

    /// Narrows `filter` to payments in this status, as `shown_status` derives it.
    pub(super) fn narrow(self, filter: ListFilter) -> ListFilter {
        let live = |state: &str| ListFilter {
            state: Some(state.to_owned()),
            unfinished: true,
            ..filter.clone()
        };
        match self {
            PaymentStatus::Pending => live(PaymentState::Pending.as_str()),
            PaymentStatus::Processing => live(PaymentState::Processing.as_str()),
            PaymentStatus::Sent => live(PaymentState::Sent.as_str()),
            PaymentStatus::Checking => live(PaymentState::Checking.as_str()),
            PaymentStatus::Confirmed => ListFilter {
                state: Some(PaymentState::Confirmed.as_str().into()),
                ..filter
            },
            PaymentStatus::Failed => ListFilter {
                status: Some(Status::Failed),
                ..filter
            },
            PaymentStatus::Cancelled => ListFilter {
                status: Some(Status::Cancelled),
                ..filter
            },
        }
    }
}

/// A page of payments, newest first.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct PaymentPage {
    pub items: Vec<PaymentView>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// The payment `id` as the API shows it (404 `payment_not_found` when there is none).
pub async fn find(app: &AppState, id: Uuid) -> Result<PaymentView, ApiError> {
    shown::find(&app.context(), id)
        .await?
        .map(view)
        .ok_or_else(|| ApiError::not_found("payment_not_found", format!("no payment {id}")))
}

/// A payment as the API shows it, with its mints.
pub fn view(p: Payment) -> PaymentView {
    let Payment {
        row,
        data,
        mint_ids,
        deployment_id,
    } = p;
    let data = data.as_ref();
    PaymentView {
        id: row.id,
        status: PaymentStatus::shown(&row.status, &row.state),
        payment_type: data.map_or(PaymentTypeDto::None, |d| match d.kind {
            PaymentKind::X402 => PaymentTypeDto::X402,
            PaymentKind::Gasless => PaymentTypeDto::Gasless,
            PaymentKind::Custom => PaymentTypeDto::Custom,
        }),
        payer: data.map(|d| address_key(d.payer)),
        pay_to: data.map(|d| address_key(d.pay_to)),
        asset: data.map(|d| address_key(d.asset)),
        amount: data.map(|d| d.amount.to_string()),
        tx_hash: data.and_then(|d| d.tx_hash.clone()),
        block_number: data.and_then(|d| d.block),
        error: row.last_error,
        mint_ids,
        deployment_id,
        existing: false,
        created_at: from_ms(row.created_at_ms),
        finished_at: opt_from_ms(row.finished_at_ms),
    }
}
