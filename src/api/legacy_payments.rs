//! The old server's payment and deployment paths, kept for existing frontends:
//! `GET /api/payment/{id}`, `GET /api/payment-stats`, `POST /api/x402-batch-mint` and
//! `POST /api/deploy`. Statuses use the old words (`LegacyPaymentStatus`). Every operation here
//! is deprecated in the document and tagged `Legacy`: new code should use `/v1` and `/x402`.
use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::{
    Enum, Object, OpenApi,
    param::{Header, Path},
    payload::Json,
};
use uuid::Uuid;

use super::AppState;
use super::auth::{Access, Public, Read};
use super::declared::UuidText;
use super::deployments::{DeploymentBody, DeploymentResponse, deploy};
use super::error::{Errors, KeyedRead, PaidDeploy, PublicRead, X402, parse_uuid};
use super::legacy::LegacyTag;
use super::payments::{PaymentStatus, PaymentView, find};
use super::x402::{PaymentHeader, X402MintBody, X402Response, paid_mint};
use crate::workflows::payment::PAYMENT;

/// A payment's status in the old server's words: `pending` (accepted, its settlement being
/// checked), `processing` (its settlement transaction being submitted), `sent` (waiting for
/// the settlement's confirmations, or checking who used the authorization), `completed` (settled: what it paid for goes ahead), `failed`
/// (ended, failed or cancelled, before any settlement was sent), `confirmation_failed` (ended
/// after its settlement was sent: it reverted or never landed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum LegacyPaymentStatus {
    Pending,
    Processing,
    Sent,
    Completed,
    Failed,
    ConfirmationFailed,
}

impl From<&PaymentView> for LegacyPaymentStatus {
    fn from(p: &PaymentView) -> Self {
        match p.status {
            PaymentStatus::Pending => LegacyPaymentStatus::Pending,
            PaymentStatus::Processing => LegacyPaymentStatus::Processing,
            // The old shape has no `checking`: the settlement is still on its way.
            PaymentStatus::Sent | PaymentStatus::Checking => LegacyPaymentStatus::Sent,
            PaymentStatus::Confirmed => LegacyPaymentStatus::Completed,
            // `failed` or `cancelled`: whether a settlement had been sent tells them apart.
            PaymentStatus::Failed | PaymentStatus::Cancelled if p.tx_hash.is_some() => {
                LegacyPaymentStatus::ConfirmationFailed
            }
            PaymentStatus::Failed | PaymentStatus::Cancelled => LegacyPaymentStatus::Failed,
        }
    }
}

/// The old payment record.
#[derive(Object)]
pub struct LegacyPayment {
    pub id: Uuid,
    pub status: LegacyPaymentStatus,
    pub payment_type: String,
    #[oai(nullable)]
    pub payer_address: Option<String>,
    #[oai(nullable)]
    pub amount: Option<String>,
    #[oai(nullable)]
    pub tx_hash: Option<String>,
    #[oai(nullable)]
    pub error_message: Option<String>,
    pub mint_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub confirmed_at: Option<DateTime<Utc>>,
}

#[derive(Object)]
pub struct LegacyPaymentAnswer {
    pub success: bool,
    pub payment: LegacyPayment,
}

/// Payments by status (every status, zero included): `confirmed` are the `completed` ones, and
/// `confirmation_failed` counts every payment that ended without settling.
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

#[OpenApi(tag = "LegacyTag::Legacy")]
impl LegacyPaymentsApi {
    /// Get one payment in the old server's shape (deprecated)
    ///
    /// Who may call: anyone (public).
    /// Limited by `public_read_rate_per_minute` per client.
    ///
    /// `{success, payment}` with the old statuses (`completed` for a confirmed payment,
    /// `confirmation_failed` for one that ended after its settlement was sent). New clients
    /// use `GET /v1/payments/{id}`.
    #[oai(
        path = "/api/payment/:id",
        method = "get",
        operation_id = "legacy_payment",
        deprecated
    )]
    async fn payment(
        &self,
        app: Data<&AppState>,
        _public: Public,
        id: Path<UuidText>,
    ) -> Result<Json<LegacyPaymentAnswer>, Errors<PublicRead>> {
        let p = find(&app, parse_uuid("id", &id.0)?).await?;
        Ok(Json(LegacyPaymentAnswer {
            success: true,
            payment: LegacyPayment {
                id: p.id,
                status: (&p).into(),
                payment_type: p.payment_type.as_str().to_owned(),
                payer_address: p.payer,
                amount: p.amount,
                tx_hash: p.tx_hash,
                error_message: p.error,
                mint_ids: p.mint_ids,
                created_at: p.created_at,
                confirmed_at: p
                    .finished_at
                    .filter(|_| p.status == PaymentStatus::Confirmed),
            },
        }))
    }

    /// Count payments by status in the old server's shape (deprecated)
    ///
    /// Who may call: a key with the `read` scope (or `admin`).
    ///
    /// Payment counts by old status, from a snapshot at most a second old, shared by every
    /// caller.
    #[oai(
        path = "/api/payment-stats",
        method = "get",
        operation_id = "legacy_payment_stats",
        deprecated
    )]
    async fn stats(
        &self,
        app: Data<&AppState>,
        _auth: Access<Read>,
    ) -> Result<Json<LegacyPaymentStats>, Errors<KeyedRead>> {
        let mut stats = LegacyPaymentStats::default();
        let snapshot = app.snapshot.get().await?;
        for c in snapshot
            .overview
            .workflows
            .iter()
            .filter(|c| c.kind == PAYMENT)
        {
            let slot = match PaymentStatus::shown(&c.status, &c.state) {
                PaymentStatus::Pending => &mut stats.pending,
                PaymentStatus::Processing => &mut stats.processing,
                PaymentStatus::Sent | PaymentStatus::Checking => &mut stats.sent,
                PaymentStatus::Confirmed => &mut stats.confirmed,
                PaymentStatus::Failed | PaymentStatus::Cancelled => &mut stats.confirmation_failed,
            };
            *slot += c.count;
            stats.total += c.count;
        }
        Ok(Json(stats))
    }

    /// Mint, paying with x402 (deprecated path of `POST /x402/mint`)
    ///
    /// Who may call: anyone (public); paid with x402.
    ///
    /// The same operation as `POST /x402/mint`, under the old server's path.
    #[oai(
        path = "/api/x402-batch-mint",
        method = "post",
        operation_id = "legacy_x402_batch_mint",
        deprecated
    )]
    async fn x402_batch_mint(
        &self,
        app: Data<&AppState>,
        _public: Public,
        req: &Request,
        body: Json<X402MintBody>,
        #[oai(name = "PAYMENT-SIGNATURE")] signature: Header<Option<String>>,
        #[oai(name = "X-PAYMENT")] x_payment: Header<Option<String>>,
    ) -> Result<X402Response, Errors<X402>> {
        let payment = PaymentHeader::of(signature.0, x_payment.0)?;
        Ok(paid_mint(&app, req, body.0, payment).await?)
    }

    /// Deploy a new MintToken (deprecated path of `POST /v1/deployments`)
    ///
    /// Who may call: anyone (public); paid with a signed USDC authorization of
    /// `DEPLOY_PRICE`.
    ///
    /// The same operation as `POST /v1/deployments`, under the old server's path.
    #[oai(
        path = "/api/deploy",
        method = "post",
        operation_id = "legacy_deploy",
        deprecated
    )]
    async fn deploy(
        &self,
        app: Data<&AppState>,
        _public: Public,
        body: Json<DeploymentBody>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<String>>,
    ) -> Result<DeploymentResponse, Errors<PaidDeploy>> {
        Ok(deploy(&app, body.0, key.0).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::mint_views::PaymentTypeDto;

    fn view(status: PaymentStatus, tx_hash: Option<&str>) -> PaymentView {
        PaymentView {
            id: Uuid::nil(),
            status,
            payment_type: PaymentTypeDto::Gasless,
            payer: None,
            pay_to: None,
            asset: None,
            amount: None,
            tx_hash: tx_hash.map(str::to_owned),
            block_number: None,
            error: None,
            mint_ids: Vec::new(),
            deployment_id: None,
            existing: false,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            finished_at: None,
        }
    }

    #[test]
    fn old_payment_statuses() {
        use LegacyPaymentStatus::*;
        use PaymentStatus as P;
        let sent = Some("0xabc");
        for (status, tx_hash, old) in [
            (P::Pending, None, Pending),
            (P::Processing, None, Processing),
            (P::Sent, sent, Sent),
            (P::Checking, sent, Sent),
            (P::Confirmed, sent, Completed),
            (P::Failed, None, Failed),
            (P::Cancelled, None, Failed),
            (P::Failed, sent, ConfirmationFailed),
            (P::Cancelled, sent, ConfirmationFailed),
        ] {
            assert_eq!(
                LegacyPaymentStatus::from(&view(status, tx_hash)),
                old,
                "{status:?} with {tx_hash:?}"
            );
        }
    }
}
