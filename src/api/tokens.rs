//! The token registry: the tokens mints can target. `GET /v1/tokens`, `GET /v1/tokens/{address}`,
//! and `POST /v1/tokens`, which registers a token mintflow did not deploy (the server's own
//! `TOKEN_ADDRESS` and paid deployments are registered by themselves).
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path},
    payload::Json,
};

use super::AppState;
use super::auth::{Access, Admin, Public, Read};
use super::declared::{AddressText, DecimalText};
use super::deployments::DeploymentsTag;
use super::error::{ApiError, Errors, KeyedCreateUnique, KeyedRead, PublicRead, errors_from};
use super::mints::parse_address;
use super::payments::chain;
use crate::app::tokens::{self, InvalidSupply, LookupError, RegisterError, Registration};
use crate::app::units;
use crate::chain::mintable::Unmintable;
use crate::store::entity::token;
use crate::store::time::from_ms;

/// A token mints can target.
#[derive(Object)]
#[oai(example)]
#[oai(rename_all = "camelCase")]
pub struct TokenView {
    pub chain_id: i64,
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{40}$"))]
    pub address: String,
    /// Empty for a registered token that has no `name()`.
    pub name: String,
    /// Empty for a registered token that has no `symbol()`.
    pub symbol: String,
    pub amount_per_mint: String,
    pub max_supply: String,
    /// Who asked for it (its admin); absent for the server's own `TOKEN_ADDRESS` and for
    /// registered tokens.
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{40}$"), nullable)]
    pub deployer: Option<String>,
    #[oai(validator(pattern = r"^0x[0-9a-fA-F]{64}$"), nullable)]
    pub deploy_tx_hash: Option<String>,
    #[oai(nullable)]
    pub deploy_block: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl From<token::Model> for TokenView {
    fn from(t: token::Model) -> Self {
        TokenView {
            chain_id: t.chain_id,
            address: t.address,
            name: t.name,
            symbol: t.symbol,
            amount_per_mint: t.amount_per_mint,
            max_supply: t.max_supply,
            deployer: t.deployer,
            deploy_tx_hash: t.deploy_tx_hash,
            deploy_block: t.deploy_block,
            created_at: from_ms(t.created_at_ms),
        }
    }
}

/// A token contract to register.
#[derive(Object)]
#[oai(example, skip_serializing_if_is_none)]
#[oai(rename_all = "camelCase")]
pub struct TokenRegistration {
    /// The token contract on this server's chain.
    pub address: AddressText,
    /// Base units one mint gives (decimal string). Needed when the contract has no
    /// `amountPerMint()`; when it has one, the value given must be the same.
    #[oai(nullable)]
    pub amount_per_mint: Option<DecimalText>,
    /// The cap mintflow keeps the token's total supply under (decimal string, at least
    /// `amountPerMint`). Needed when the contract has no `maxSupply()`; when it has one, the
    /// value given must be the same.
    #[oai(nullable)]
    pub max_supply: Option<DecimalText>,
}

#[derive(ApiResponse)]
pub enum TokenRegistered {
    /// Registered: mints can target it now.
    #[oai(status = 201)]
    Registered(Json<TokenView>),
}

pub struct TokensApi;

#[OpenApi(tag = "DeploymentsTag::Deployments")]
impl TokensApi {
    /// List the tokens mints can target
    ///
    /// Who may call: a key with the `read` scope (or `admin`).
    ///
    /// Every token of this chain in the registry, oldest first: the server's own
    /// `TOKEN_ADDRESS`, each confirmed deployment and each registered token. Not paged.
    #[oai(path = "/v1/tokens", method = "get", operation_id = "list_tokens")]
    async fn tokens(
        &self,
        app: Data<&AppState>,
        _auth: Access<Read>,
    ) -> Result<Json<Vec<TokenView>>, Errors<KeyedRead>> {
        let chain = chain(&app)?;
        let all = tokens::list(&app.db, chain.chain_id() as i64).await?;
        Ok(Json(all.into_iter().map(Into::into).collect()))
    }

    /// Register a token mintflow did not deploy
    ///
    /// Who may call: `admin` (a key with that scope, or `ADMIN_TOKEN`).
    /// Recorded in the audit log (`token.register`).
    ///
    /// Checks the contract on chain first, sending nothing: it must have code, answer
    /// `hasMinted(bytes32)` and `totalSupply()`, and mintflow's signer must be able to call
    /// `batchMint(address[],bytes32[])` (it must hold `MINTER_ROLE` where the contract has one,
    /// and an empty `batchMint` from it must not revert). `amountPerMint` and `maxSupply` are
    /// read from the contract where it has them, else taken from the body. A refusal changes
    /// nothing: 422 `not_a_contract`, `token_lacks_function`, `signer_may_not_mint`,
    /// `missing_token_value`, `conflicting_token_value`, `invalid_supply`; 409
    /// `token_already_registered` for a token in the registry already (registering is not
    /// idempotent); 503 `chain_unavailable` when the node does not answer.
    #[oai(path = "/v1/tokens", method = "post", operation_id = "register_token")]
    async fn register(
        &self,
        app: Data<&AppState>,
        auth: Access<Admin>,
        body: Json<TokenRegistration>,
        /// Who is acting; recorded beside the key's own name in the audit log.
        #[oai(name = "X-Actor")]
        actor: Header<Option<String>>,
    ) -> Result<TokenRegistered, Errors<KeyedCreateUnique>> {
        let chain = chain(&app)?;
        let b = body.0;
        let units = |field: &str, raw: Option<DecimalText>| {
            raw.map(|raw| units::parse(field, &raw))
                .transpose()
                .map_err(ApiError::from)
        };
        let registration = Registration {
            address: parse_address("address", &b.address)?,
            amount_per_mint: units("amountPerMint", b.amount_per_mint)?,
            max_supply: units("maxSupply", b.max_supply)?,
        };
        let row = tokens::register(&app.db, chain, registration, &auth.actor(actor.0)).await?;
        Ok(TokenRegistered::Registered(Json(row.into())))
    }

    /// Get one token
    ///
    /// Who may call: anyone (public).
    /// Limited by `public_read_rate_per_minute` per client.
    ///
    /// A token of the registry by its address; 404 `unknown_token` when mints cannot target
    /// it.
    #[oai(
        path = "/v1/tokens/:address",
        method = "get",
        operation_id = "get_token"
    )]
    async fn token(
        &self,
        app: Data<&AppState>,
        _public: Public,
        address: Path<AddressText>,
    ) -> Result<Json<TokenView>, Errors<PublicRead>> {
        let chain = chain(&app)?;
        let address = parse_address("address", &address.0)?;
        let t = tokens::get(&app.db, chain.chain_id() as i64, address).await?;
        Ok(Json(t.into()))
    }
}

impl From<LookupError> for ApiError {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::Unknown(_) => ApiError::not_found("unknown_token", e.to_string()),
            LookupError::Database(e) => e.into(),
        }
    }
}

errors_from!(LookupError, RegisterError);

impl From<InvalidSupply> for ApiError {
    fn from(e: InvalidSupply) -> Self {
        ApiError::unprocessable("invalid_supply", e.to_string())
    }
}

impl From<RegisterError> for ApiError {
    fn from(e: RegisterError) -> Self {
        let message = e.to_string();
        match e {
            RegisterError::AlreadyRegistered(_) => {
                ApiError::conflict("token_already_registered", message)
            }
            RegisterError::Unmintable(Unmintable::NotAContract(_)) => {
                ApiError::unprocessable("not_a_contract", message)
            }
            RegisterError::Unmintable(Unmintable::LacksFunction { .. }) => {
                ApiError::unprocessable("token_lacks_function", message)
            }
            RegisterError::Unmintable(Unmintable::SignerMayNotMint { .. }) => {
                ApiError::unprocessable("signer_may_not_mint", message)
            }
            RegisterError::MissingValue { .. } => {
                ApiError::unprocessable("missing_token_value", message)
            }
            RegisterError::ConflictingValue { .. } => {
                ApiError::unprocessable("conflicting_token_value", message)
            }
            RegisterError::InvalidSupply(e) => e.into(),
            RegisterError::Chain(e) => ApiError::unavailable(
                "chain_unavailable",
                format!("cannot check the token now: {e}"),
            ),
            RegisterError::Db(e) => e.into(),
        }
    }
}
