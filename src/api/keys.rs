//! `/v1/keys`: API keys, managed by admins (every change audited), and `/v1/whoami`, which
//! tells any caller what its own key may do (the dashboard shows it).
use alloy::primitives::Address;
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi, Tags,
    param::{Header, Path},
    payload::Json,
};

use super::AppState;
use super::auth::{Access, Admin, AnyKey};
use super::declared::{AddressText, UuidText};
use super::error::{
    AnyKeyRead, ApiError, Errors, KeyedByIdInState, KeyedCreate, KeyedRead, errors_from,
};
use super::mints::parse_address;
use super::text::Text;
use crate::app::keys::{self, KeyError, NewKey, RevokeError, Scope, Scopes};
use crate::store::api_keys::KeyRow;
use crate::store::time::from_ms;
use crate::workflows::priority;

#[derive(Tags)]
pub enum KeysTag {
    /// API keys: who may read, mint without paying, or administer.
    Keys,
}

/// A scope a key grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Enum)]
#[oai(rename_all = "lowercase")]
pub enum ScopeDto {
    /// Operator reads: lists, searches, histories, events, stats, settings, audit, metrics.
    Read,
    /// Mints without payment (`POST /v1/mints`, `POST /mint`), within the key's quota.
    Mint,
    /// Everything, including key management.
    Admin,
    /// x402 facilitation for other resource servers (`/x402/facilitator/verify`, `/settle`).
    Facilitate,
}

impl From<ScopeDto> for Scope {
    fn from(s: ScopeDto) -> Scope {
        match s {
            ScopeDto::Read => Scope::Read,
            ScopeDto::Mint => Scope::Mint,
            ScopeDto::Admin => Scope::Admin,
            ScopeDto::Facilitate => Scope::Facilitate,
        }
    }
}

impl From<Scope> for ScopeDto {
    fn from(s: Scope) -> ScopeDto {
        match s {
            Scope::Read => ScopeDto::Read,
            Scope::Mint => ScopeDto::Mint,
            Scope::Admin => ScopeDto::Admin,
            Scope::Facilitate => ScopeDto::Facilitate,
        }
    }
}

fn scope_list(scopes: Scopes) -> Vec<ScopeDto> {
    scopes.list().into_iter().map(Into::into).collect()
}

/// A key to create.
#[derive(Object)]
#[oai(example, skip_serializing_if_is_none)]
#[oai(rename_all = "camelCase")]
pub struct NewKeyBody {
    /// What the key is for, e.g. `shop-backend` (1 to 100 characters).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: Text,
    #[oai(validator(min_items = 1, max_items = 4, unique_items))]
    pub scopes: Vec<ScopeDto>,
    /// Seconds until the key stops working; never when absent.
    #[oai(validator(minimum(value = "1"), maximum(value = "315360000")))]
    #[oai(nullable)]
    pub expires_in_seconds: Option<u64>,
    /// Most mints per minute the key may queue without paying; when absent, only the
    /// service's own payer and client limits apply.
    #[oai(validator(minimum(value = "1"), maximum(value = "10000000")))]
    #[oai(nullable)]
    pub mint_quota_per_minute: Option<i64>,
    /// Highest mint `priority` (0 to 100) the key may ask for; 0 when absent. Keys with
    /// `admin` may ask for any.
    #[oai(validator(minimum(value = "0"), maximum(value = "100")))]
    #[oai(nullable)]
    pub max_priority: Option<i16>,
    /// The only payees (`payTo`) the key may settle for through the facilitator API, within
    /// the server's `FACILITATOR_PAY_TO` (1 to 100 addresses; needs the `facilitate` or
    /// `admin` scope). When absent, every payee `FACILITATOR_PAY_TO` names: give each
    /// resource server's key its own payees so that none settles for another.
    #[oai(validator(min_items = 1, max_items = 100))]
    #[oai(nullable)]
    pub facilitator_pay_to: Option<Vec<AddressText>>,
}

/// A key as stored: never the key itself.
#[derive(Object)]
#[oai(example)]
#[oai(rename_all = "camelCase")]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// The key's first characters, to recognise it by.
    pub prefix: String,
    pub scopes: Vec<ScopeDto>,
    #[oai(nullable)]
    pub mint_quota_per_minute: Option<i64>,
    /// Highest mint `priority` the key may ask for (as stored: keys with `admin` may ask for
    /// any).
    #[oai(validator(minimum(value = "0"), maximum(value = "100")))]
    pub max_priority: i16,
    #[oai(nullable)]
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// Within a minute: uses are recorded at most once a minute.
    #[oai(nullable)]
    pub last_used_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub revoked_at: Option<DateTime<Utc>>,
    /// The only payees the key may settle for as a facilitator (within `FACILITATOR_PAY_TO`);
    /// `null`: every payee that list names.
    #[oai(nullable)]
    pub facilitator_pay_to: Option<Vec<String>>,
}

impl From<KeyRow> for ApiKeyView {
    fn from(row: KeyRow) -> Self {
        ApiKeyView {
            scopes: scope_list(keys::scopes_of(&row)),
            facilitator_pay_to: shown_payees(keys::facilitator_pay_to_of(&row)),
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            mint_quota_per_minute: row.mint_quota_per_minute,
            max_priority: row.max_mint_priority,
            expires_at: row.expires_at_ms.map(from_ms),
            created_at: from_ms(row.created_at_ms),
            created_by: row.created_by,
            last_used_at: row.last_used_at_ms.map(from_ms),
            revoked_at: row.revoked_at_ms.map(from_ms),
        }
    }
}

/// A key just created, with the key itself: shown this once, never again.
#[derive(Object)]
#[oai(example)]
#[oai(rename_all = "camelCase")]
pub struct CreatedKey {
    /// `mf_...`: send it as `Authorization: Bearer <key>`. Store it now; only its hash is kept.
    pub key: String,
    #[oai(flatten)]
    pub stored: ApiKeyView,
}

#[derive(ApiResponse)]
pub enum KeyCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<CreatedKey>),
}

#[derive(ApiResponse)]
pub enum KeyRevoked {
    /// Revoked: refused everywhere within a second.
    #[oai(status = 204)]
    Revoked,
}

/// The caller's own identity.
#[derive(Object)]
#[oai(example)]
#[oai(rename_all = "camelCase")]
pub struct WhoAmI {
    /// The key's name; `admin` for the `ADMIN_TOKEN`.
    pub name: String,
    /// The key's id; absent for the `ADMIN_TOKEN`.
    #[oai(nullable)]
    pub key_id: Option<String>,
    pub scopes: Vec<ScopeDto>,
    #[oai(nullable)]
    pub mint_quota_per_minute: Option<i64>,
    /// Highest mint `priority` the caller may ask for (100 with `admin`).
    #[oai(validator(minimum(value = "0"), maximum(value = "100")))]
    pub max_priority: i16,
    /// The only payees the caller may settle for as a facilitator (within
    /// `FACILITATOR_PAY_TO`); `null`: every payee that list names.
    #[oai(nullable)]
    pub facilitator_pay_to: Option<Vec<String>>,
}

/// Payees as shown: checksummed addresses.
fn shown_payees(payees: Option<Vec<Address>>) -> Option<Vec<String>> {
    payees.map(|list| list.iter().map(Address::to_string).collect())
}

pub struct KeysApi;

#[OpenApi(tag = "KeysTag::Keys")]
impl KeysApi {
    /// Create an API key
    ///
    /// Who may call: `admin` (a key with that scope, or `ADMIN_TOKEN`).
    /// Recorded in the audit log.
    ///
    /// The answer holds the key (`mf_...`), shown this once: only its SHA-256 hash is kept.
    /// Send it as `Authorization: Bearer <key>`. Scopes: `read` (operator reads), `mint`
    /// (unpaid mints, within `mint_quota_per_minute`, at most `maxPriority`), `admin`
    /// (everything, any priority), `facilitate` (the x402 facilitator API, for the payees
    /// `facilitatorPayTo` names, or every payee `FACILITATOR_PAY_TO` names). Not idempotent:
    /// each call creates another key. 422 `invalid_key_request` for a bad name, scope list,
    /// expiry or payee list (payees on a key without `facilitate`).
    /// 400 `invalid_address` for a payee that is not an address.
    #[oai(path = "/v1/keys", method = "post", operation_id = "create_key")]
    async fn create(
        &self,
        app: Data<&AppState>,
        auth: Access<Admin>,
        body: Json<NewKeyBody>,
        /// Who is acting; recorded beside the key's own name in the audit log.
        #[oai(name = "X-Actor")]
        actor: Header<Option<String>>,
    ) -> Result<KeyCreated, Errors<KeyedCreate>> {
        let b = body.0;
        let facilitator_pay_to = b
            .facilitator_pay_to
            .map(|payees| {
                payees
                    .iter()
                    .map(|a| parse_address("facilitatorPayTo", a))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let new = NewKey {
            name: b.name.into_inner(),
            scopes: Scopes::of(b.scopes.into_iter().map(Scope::from)),
            expires_in: b.expires_in_seconds.map(std::time::Duration::from_secs),
            mint_quota_per_minute: b.mint_quota_per_minute,
            max_mint_priority: b.max_priority.unwrap_or(priority::DEFAULT),
            facilitator_pay_to,
        };
        let created = keys::create(&app.db, new, &auth.actor(actor.0), &app.clock).await?;
        Ok(KeyCreated::Created(Json(CreatedKey {
            key: created.key.to_string(),
            stored: created.row.into(),
        })))
    }

    /// List the API keys
    ///
    /// Who may call: `admin` (a key with that scope, or `ADMIN_TOKEN`).
    ///
    /// Every key, newest first, revoked and expired ones included, with its scopes, quota,
    /// prefix and last use; never the keys themselves. Not paged.
    #[oai(path = "/v1/keys", method = "get", operation_id = "list_keys")]
    async fn list(
        &self,
        app: Data<&AppState>,
        _auth: Access<Admin>,
    ) -> Result<Json<Vec<ApiKeyView>>, Errors<KeyedRead>> {
        let rows = keys::list(&app.db).await?;
        Ok(Json(rows.into_iter().map(Into::into).collect()))
    }

    /// Revoke an API key
    ///
    /// Who may call: `admin` (a key with that scope, or `ADMIN_TOKEN`).
    /// Recorded in the audit log.
    ///
    /// Every instance refuses the key within a second. Revoking it again is 409
    /// `key_already_revoked`; an unknown id is 404 `key_not_found`.
    #[oai(path = "/v1/keys/:id", method = "delete", operation_id = "revoke_key")]
    async fn revoke(
        &self,
        app: Data<&AppState>,
        auth: Access<Admin>,
        id: Path<UuidText>,
        /// Who is acting; recorded beside the key's own name in the audit log.
        #[oai(name = "X-Actor")]
        actor: Header<Option<String>>,
    ) -> Result<KeyRevoked, Errors<KeyedByIdInState>> {
        let id = super::error::parse_uuid("id", &id.0)?.to_string();
        keys::revoke(&app.db, &id, &auth.actor(actor.0), &app.clock).await?;
        Ok(KeyRevoked::Revoked)
    }

    /// Tell who the presented credentials are
    ///
    /// Who may call: any valid key or the `ADMIN_TOKEN`, whatever its scopes.
    ///
    /// The key's name, id, scopes and mint quota (`admin` with every scope for the
    /// `ADMIN_TOKEN`): how a client such as the dashboard checks a key before using it. 401
    /// for missing, unknown, revoked or expired credentials.
    #[oai(path = "/v1/whoami", method = "get", operation_id = "whoami")]
    async fn whoami(&self, auth: Access<AnyKey>) -> Result<Json<WhoAmI>, Errors<AnyKeyRead>> {
        let caller = auth.caller;
        Ok(Json(WhoAmI {
            name: caller.name,
            key_id: caller.key_id,
            scopes: scope_list(caller.scopes),
            mint_quota_per_minute: caller.mint_quota_per_minute,
            max_priority: caller.max_mint_priority,
            facilitator_pay_to: shown_payees(caller.facilitator_pay_to),
        }))
    }
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Db(e) => e.into(),
            other => ApiError::unprocessable("invalid_key_request", other.to_string()),
        }
    }
}

impl From<RevokeError> for ApiError {
    fn from(e: RevokeError) -> Self {
        match e {
            RevokeError::NotFound(_) => ApiError::not_found("key_not_found", e.to_string()),
            RevokeError::AlreadyRevoked(_) => {
                ApiError::conflict("key_already_revoked", e.to_string())
            }
            RevokeError::Database(e) => e.into(),
        }
    }
}

errors_from!(KeyError, RevokeError);
