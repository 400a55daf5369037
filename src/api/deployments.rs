//! Paid token deployments: `POST /v1/deployments` (its old path `POST /api/deploy` is in
//! `legacy_payments`) and `GET /v1/deployments/{id}`. The registry of the tokens they make is
//! `tokens`.
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi, Tags,
    param::{Header, Path},
    payload::Json,
};
use uuid::Uuid;

use super::AppState;
use super::auth::Public;
use super::declared::{
    AddressText, DecimalText, Declared, SignatureText, TokenNameShape, TokenSymbolShape, UuidText,
};
use super::error::{ApiError, Errors, PaidDeploy, PublicRead, parse_uuid};
use super::payments::AuthorizationIn;
use super::workflows::{Shown, shown_status};
use crate::app::deployments::{self, Deployment, SpecError, TokenRequest};
use crate::app::payments;
use crate::app::units::InvalidNumber;
use crate::chain::signer::address_key;
use crate::store::time::{from_ms, opt_from_ms};
use crate::workflows::deployment::DeploymentState;

#[derive(Tags)]
pub enum DeploymentsTag {
    /// Paid deployments of new tokens, and the tokens mints can target.
    Deployments,
}

/// A signed EIP-3009 authorization paying `DEPLOY_PRICE` to `PAY_TO`.
#[derive(Clone, Debug, Object)]
pub struct GaslessPayment {
    pub authorization: AuthorizationIn,
    /// 65 bytes (r, s, v), 0x-hex.
    pub signature: SignatureText,
}

/// A token to deploy.
#[derive(Clone, Debug, Object)]
#[oai(example)]
#[oai(rename_all = "camelCase")]
pub struct TokenSpec {
    /// 1 to 64 characters.
    pub name: Declared<TokenNameShape>,
    /// 1 to 16 characters.
    pub symbol: Declared<TokenSymbolShape>,
    /// Token base units minted per mint (decimal string, > 0).
    pub amount_per_mint: DecimalText,
    /// Cap on the total supply in base units (decimal string, at least `amountPerMint`).
    pub max_supply: DecimalText,
    /// The token's admin (0x address); every signer of mintflow's pool is a minter.
    pub owner: AddressText,
}

/// A token to deploy, paid for.
#[derive(Clone, Debug, Object)]
#[oai(example)]
pub struct DeploymentBody {
    #[oai(flatten)]
    pub token: TokenSpec,
    pub payment: GaslessPayment,
}

/// Where a deployment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum DeploymentStatus {
    /// Its payment is not confirmed yet (`paymentId`).
    AwaitingPayment,
    /// Paid; its deployment is being simulated.
    Pending,
    /// Its deployment transaction is being submitted.
    Processing,
    /// Its deployment transaction is with the sender.
    Sent,
    /// Deployed, `confirmations` blocks deep: `address` is the token.
    Confirmed,
    /// It could not be deployed (`error` says why), or its payment failed.
    Failed,
    /// Cancelled by an operator, or with its payment.
    Cancelled,
}

impl DeploymentStatus {
    /// What `shown_status` makes of a deployment row's engine `status` and `state`.
    fn shown(status: &str, state: &str) -> DeploymentStatus {
        use DeploymentState as D;
        match shown_status(status, state, D::parse, D::Confirmed) {
            Shown::State(Some(D::AwaitingPayment)) => DeploymentStatus::AwaitingPayment,
            Shown::State(Some(D::Processing)) => DeploymentStatus::Processing,
            Shown::State(Some(D::Sent)) => DeploymentStatus::Sent,
            Shown::State(Some(D::Confirmed)) => DeploymentStatus::Confirmed,
            Shown::State(Some(D::Failed)) | Shown::Failed => DeploymentStatus::Failed,
            Shown::State(Some(D::Cancelled)) | Shown::Cancelled => DeploymentStatus::Cancelled,
            Shown::State(Some(D::Pending) | None) => DeploymentStatus::Pending,
        }
    }
}

/// A deployment.
#[derive(Object)]
#[oai(example)]
#[oai(rename_all = "camelCase")]
pub struct DeploymentView {
    pub id: Uuid,
    // `failed` or `cancelled` whenever the engine ended it so, whatever state it stopped in.
    // (A plain comment: a described $ref becomes an `allOf` that generators refuse.)
    pub status: DeploymentStatus,
    #[oai(nullable)]
    pub payment_id: Option<Uuid>,
    #[oai(nullable)]
    pub name: Option<String>,
    #[oai(nullable)]
    pub symbol: Option<String>,
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{40}$"), nullable)]
    pub owner: Option<String>,
    /// The token's address once confirmed.
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{40}$"), nullable)]
    pub address: Option<String>,
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{64}$"), nullable)]
    pub tx_hash: Option<String>,
    #[oai(nullable)]
    pub block_number: Option<i64>,
    #[oai(nullable)]
    pub error: Option<String>,
    /// True when this key was used before: the first deployment.
    pub existing: bool,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(ApiResponse)]
pub enum DeploymentResponse {
    /// Accepted: it is deployed once its payment confirms.
    #[oai(status = 202)]
    Accepted(Json<DeploymentView>),
    /// The same owner, name, symbol and key were deployed (or are being) already.
    #[oai(status = 200)]
    Existing(Json<DeploymentView>),
}

pub struct DeploymentsApi;

#[OpenApi(tag = "DeploymentsTag::Deployments")]
impl DeploymentsApi {
    /// Deploy a new MintToken, paid with a signed USDC authorization
    ///
    /// Who may call: anyone (public); paid: `payment` is a signed EIP-3009 authorization of
    /// `DEPLOY_PRICE` USDC to the server's `PAY_TO`.
    ///
    /// The payment and the deployment are created in one transaction and answered 202; the
    /// token is deployed once the payment's settlement is confirmed (follow
    /// `GET /v1/deployments/{id}`). Requests are queued durably, never refused for being
    /// concurrent. Idempotent: the same owner, name, symbol and `Idempotency-Key` (default: the
    /// authorization's nonce) answer 200 with the first deployment, without paying again. The
    /// payment is refused (402, nothing written) as on `POST /v1/payments`:
    /// `authorization_validity_too_short`, `too_many_open_payments`,
    /// `insufficient_balance_for_open_payments`, `payer_settlements_reverted`, or the x402
    /// `errorReason`.
    #[oai(
        path = "/v1/deployments",
        method = "post",
        operation_id = "create_deployment"
    )]
    async fn create(
        &self,
        app: Data<&AppState>,
        _public: Public,
        body: Json<DeploymentBody>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<String>>,
    ) -> Result<DeploymentResponse, Errors<PaidDeploy>> {
        Ok(deploy(&app, body.0, key.0).await?)
    }

    /// Get one deployment
    ///
    /// Who may call: anyone (public).
    /// Limited by `public_read_rate_per_minute` per client.
    ///
    /// Its status, the token's address once confirmed, and its payment. 404
    /// `deployment_not_found` for an unknown id.
    #[oai(
        path = "/v1/deployments/:id",
        method = "get",
        operation_id = "get_deployment"
    )]
    async fn get(
        &self,
        app: Data<&AppState>,
        _public: Public,
        id: Path<UuidText>,
    ) -> Result<Json<DeploymentView>, Errors<PublicRead>> {
        Ok(Json(find(&app, parse_uuid("id", &id.0)?).await?))
    }
}

pub async fn deploy(
    app: &AppState,
    b: DeploymentBody,
    header_key: Option<String>,
) -> Result<DeploymentResponse, ApiError> {
    let ctx = app.context();
    let chain = ctx.chain()?;
    let data = deployments::check(b.token.request())?;
    let offer = payments::offer_of(&ctx, chain, app.contracts.deploy_price)?;
    let nonce = b.payment.authorization.nonce.0.clone();
    let payload = b
        .payment
        .authorization
        .signed(b.payment.signature, &offer)?;
    let key = header_key.as_deref().unwrap_or(&nonce);
    let deployed = deployments::deploy(&ctx, chain, &offer, &payload, data, key).await?;
    let mut view = find(app, deployed.id).await?;
    view.existing = deployed.existing;
    Ok(if deployed.existing {
        DeploymentResponse::Existing(Json(view))
    } else {
        DeploymentResponse::Accepted(Json(view))
    })
}

impl TokenSpec {
    /// The token as the use case reads it.
    pub fn request(&self) -> TokenRequest<'_> {
        TokenRequest {
            name: &self.name,
            symbol: &self.symbol,
            amount_per_mint: &self.amount_per_mint,
            max_supply: &self.max_supply,
            owner: &self.owner,
        }
    }
}

async fn find(app: &AppState, id: Uuid) -> Result<DeploymentView, ApiError> {
    let Deployment { row, data } =
        deployments::find(&app.context(), id)
            .await?
            .ok_or_else(|| {
                ApiError::not_found("deployment_not_found", format!("no deployment {id}"))
            })?;
    let d = data.as_ref();
    Ok(DeploymentView {
        id,
        status: DeploymentStatus::shown(&row.status, &row.state),
        payment_id: row.parent_id,
        name: d.map(|d| d.name.clone()),
        symbol: d.map(|d| d.symbol.clone()),
        owner: d.map(|d| address_key(d.owner)),
        address: d.and_then(|d| d.address).map(address_key),
        tx_hash: d.and_then(|d| d.tx_hash.clone()),
        block_number: d.and_then(|d| d.block),
        error: row.last_error,
        existing: false,
        created_at: from_ms(row.created_at_ms),
        finished_at: opt_from_ms(row.finished_at_ms),
    })
}

impl From<deployments::Error> for ApiError {
    fn from(e: deployments::Error) -> Self {
        match e {
            deployments::Error::Payment(e) => e.into(),
            deployments::Error::PaidForSomethingElse(_) => {
                ApiError::conflict("not_a_deployment", e.to_string())
            }
        }
    }
}

impl From<SpecError> for ApiError {
    fn from(e: SpecError) -> Self {
        match e {
            SpecError::Name => ApiError::unprocessable("invalid_name", e.to_string()),
            SpecError::Symbol => ApiError::unprocessable("invalid_symbol", e.to_string()),
            SpecError::Number(e) => e.into(),
            SpecError::Supply(e) => e.into(),
            SpecError::Owner(e) => e.into(),
        }
    }
}

impl From<InvalidNumber> for ApiError {
    fn from(e: InvalidNumber) -> Self {
        ApiError::bad_request("invalid_number", e.to_string())
    }
}
