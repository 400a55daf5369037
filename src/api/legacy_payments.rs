//! The old server's payment paths, kept for existing frontends: `GET /api/payment/{id}`,
//! `GET /api/payment-stats` and `POST /api/x402-batch-mint`. A failed payment is
//! `confirmation_failed` here, as it was there.
use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::{
    Object, OpenApi, Tags,
    param::{Header, Path},
    payload::Json,
};
use uuid::Uuid;

use super::AppState;
use super::auth::{Access, Read};
use super::error::{ApiError, parse_uuid};
use super::payments::find;
use super::workflows::shown_status;
use super::x402::{X402Error, X402MintBody, X402Response, paid_mint};
use crate::workflows::payment::PAYMENT;

#[derive(Tags)]
pub enum LegacyPaymentsTag {
    /// The old server's payment endpoints, unchanged for existing frontends.
    LegacyPayments,
}

/// The old payment record.
#[derive(Object)]
pub struct LegacyPayment {
    pub id: Uuid,
    /// `pending`, `processing`, `sent`, `confirmed` or `confirmation_failed`.
    pub status: String,
    pub payment_type: String,
    pub payer_address: Option<String>,
    pub amount: Option<String>,
    pub tx_hash: Option<String>,
    pub error_message: Option<String>,
    pub mint_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
}

#[derive(Object)]
pub struct LegacyPaymentAnswer {
    pub success: bool,
    pub payment: LegacyPayment,
}

/// Payments by status (every status, zero included).
#[derive(Object, Default)]
pub struct LegacyPaymentStats {
    pub total: i64,
    pub pending: i64,
    pub processing: i64,
    pub sent: i64,
    pub confirmed: i64,
    pub confirmation_failed: i64,
}

pub struct LegacyPaymentsApi;

#[OpenApi(tag = "LegacyPaymentsTag::LegacyPayments")]
impl LegacyPaymentsApi {
    /// One payment (old shape).
    ///
    /// Who may call: anyone (public).
    #[oai(
        path = "/api/payment/:id",
        method = "get",
        operation_id = "legacy_payment"
    )]
    async fn payment(
        &self,
        app: Data<&AppState>,
        id: Path<String>,
    ) -> Result<Json<LegacyPaymentAnswer>, ApiError> {
        let p = find(&app, parse_uuid("id", &id.0)?).await?;
        Ok(Json(LegacyPaymentAnswer {
            success: true,
            payment: LegacyPayment {
                id: p.id,
                status: legacy_status(&p.status).to_owned(),
                payment_type: p.payment_type,
                payer_address: p.payer,
                amount: p.amount,
                tx_hash: p.tx_hash,
                error_message: p.error,
                mint_ids: p.mint_ids,
                created_at: p.created_at,
                confirmed_at: p.finished_at.filter(|_| p.status == "confirmed"),
            },
        }))
    }

    /// Payment counts by status (old shape); a snapshot at most a second old.
    ///
    /// Who may call: a key with the `read` scope (or `admin`).
    #[oai(
        path = "/api/payment-stats",
        method = "get",
        operation_id = "legacy_payment_stats"
    )]
    async fn stats(
        &self,
        app: Data<&AppState>,
        _auth: Access<Read>,
    ) -> Result<Json<LegacyPaymentStats>, ApiError> {
        let mut stats = LegacyPaymentStats::default();
        let snapshot = app.snapshot.get().await?;
        for c in snapshot
            .overview
            .workflows
            .iter()
            .filter(|c| c.kind == PAYMENT)
        {
            let slot = match legacy_status(shown_status(&c.status, &c.state)) {
                "pending" => &mut stats.pending,
                "processing" => &mut stats.processing,
                "sent" => &mut stats.sent,
                "confirmed" => &mut stats.confirmed,
                _ => &mut stats.confirmation_failed,
            };
            *slot += c.count;
            stats.total += c.count;
        }
        Ok(Json(stats))
    }

    /// Mints paid with x402 (old path of `POST /x402/mint`).
    ///
    /// Who may call: anyone (public).
    #[oai(
        path = "/api/x402-batch-mint",
        method = "post",
        operation_id = "legacy_x402_batch_mint"
    )]
    async fn x402_batch_mint(
        &self,
        app: Data<&AppState>,
        req: &Request,
        body: Json<X402MintBody>,
        #[oai(name = "PAYMENT-SIGNATURE")] signature: Header<Option<String>>,
    ) -> Result<X402Response, X402Error> {
        Ok(paid_mint(&app, req, body.0, signature.0).await?)
    }
}

fn legacy_status(state: &str) -> &str {
    match state {
        "failed" => "confirmation_failed",
        // The old shape has no `checking`: the settlement is still on its way.
        "checking" => "sent",
        other => other,
    }
}
