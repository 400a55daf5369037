//! Who may call what. Every route is public, needs a key with a scope (`read`, `mint`), or
//! needs `admin` (a key with that scope, or the bootstrap `ADMIN_TOKEN`). Handlers say which by
//! taking one of the extractors here: `Access<Read>`, `Access<Mint>`, `Access<Admin>`,
//! `MaybeKey` or `Public`; the OpenAPI document shows it as the operation's security.
//!
//! Keys are checked against an in-process cache, not one database read per request; a cached
//! key is read again after `CACHE_TTL`, so a key revoked on any instance sharing the database is
//! refused everywhere within that time.
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poem::{Request, RequestBody};
use poem_openapi::registry::Registry;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions, SecurityScheme};
use sea_orm::DatabaseConnection;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::AppState;
use super::error::ApiError;
use crate::app::keys::{self, KEY_PREFIX, Scope, Scopes};
use crate::store::{self, api_keys::KeyRow};
use crate::workflows::priority;

/// How long a key read from the database is trusted: the bound on how late a revocation made
/// elsewhere takes effect here.
pub const CACHE_TTL: Duration = Duration::from_millis(500);
/// Most keys (known or not) the cache holds; past it, it starts afresh.
const CACHE_CAP: usize = 10_000;
/// Failed authentications one client may make per window before it is refused outright.
pub const MAX_FAILURES: u32 = 20;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// `Authorization: Bearer <key>`: an API key (`mf_...`) or the `ADMIN_TOKEN`.
#[derive(SecurityScheme)]
#[oai(
    rename = "ApiKey",
    ty = "bearer",
    bearer_format = "mf_… API key, or the ADMIN_TOKEN"
)]
#[allow(dead_code)] // Only its registration in the document is used; `Authenticator` reads the header.
struct ApiKeyScheme(poem_openapi::auth::Bearer);

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The key's name, `admin` for the `ADMIN_TOKEN`, `anonymous` for an open read.
    pub name: String,
    /// The key's id; `None` for the admin token and anonymous callers.
    pub key_id: Option<String>,
    pub scopes: Scopes,
    /// Mints per minute this caller may queue without paying; `None`: no quota of its own.
    pub mint_quota_per_minute: Option<i64>,
    /// Highest mint priority this caller may ask for.
    pub max_mint_priority: i16,
}

impl Caller {
    fn admin() -> Caller {
        Caller {
            name: "admin".into(),
            key_id: None,
            scopes: Scopes::ADMIN,
            mint_quota_per_minute: None,
            max_mint_priority: priority::MAX,
        }
    }

    fn anonymous() -> Caller {
        Caller {
            name: "anonymous".into(),
            key_id: None,
            scopes: Scopes::of([Scope::Read]),
            mint_quota_per_minute: None,
            max_mint_priority: priority::DEFAULT,
        }
    }

    fn of_key(row: &KeyRow) -> Caller {
        Caller {
            name: row.name.clone(),
            key_id: Some(row.id.clone()),
            scopes: keys::scopes_of(row),
            mint_quota_per_minute: row.mint_quota_per_minute,
            max_mint_priority: Caller::max_mint_priority_of(row),
        }
    }

    /// An admin key may ask for any priority, whatever its stored maximum; another key up to
    /// its maximum.
    fn max_mint_priority_of(row: &KeyRow) -> i16 {
        if keys::scopes_of(row).allow(Scope::Admin) {
            priority::MAX
        } else {
            row.max_mint_priority
        }
    }

    /// The actor an action is recorded under: the key's own name, with the request's
    /// `X-Actor` beside it (never instead of it: a header anyone can set names nobody).
    pub fn actor(&self, x_actor: Option<String>) -> String {
        match x_actor.map(|a| a.trim().chars().take(100).collect::<String>()) {
            Some(a) if !a.is_empty() && a != self.name => format!("{} ({a})", self.name),
            _ => self.name.clone(),
        }
    }
}

struct CachedKey {
    row: Option<KeyRow>,
    read_at: Instant,
}

#[derive(Default)]
struct Failures {
    window_start: Option<Instant>,
    count: u32,
}

/// Checks credentials; shared by every request of a process.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    /// `None` (or empty) closes the admin token door; keys with `admin` still work.
    admin_token: Option<Zeroizing<String>>,
    /// `PUBLIC_READS`: operator reads need no key (for a private network).
    public_reads: bool,
    /// By key hash.
    cache: Mutex<HashMap<String, CachedKey>>,
    /// Keys whose `last_used_at` this process recorded, and when.
    touched: Mutex<HashMap<String, Instant>>,
    /// Failed authentications by client key.
    failures: Mutex<HashMap<String, Failures>>,
}

impl Authenticator {
    pub fn new(db: DatabaseConnection, admin_token: Option<&str>, public_reads: bool) -> Self {
        Authenticator {
            inner: Arc::new(Inner {
                db,
                admin_token: admin_token
                    .filter(|t| !t.is_empty())
                    .map(|t| Zeroizing::new(t.to_owned())),
                public_reads,
                cache: Mutex::default(),
                touched: Mutex::default(),
                failures: Mutex::default(),
            }),
        }
    }

    /// The caller a request's credentials name: `None` without an `Authorization` header, an
    /// error for credentials that are wrong, revoked or expired (counted against the client).
    pub async fn authenticate(&self, req: &Request) -> Result<Option<Caller>, ApiError> {
        let Some(header) = req.header(poem::http::header::AUTHORIZATION) else {
            return Ok(None);
        };
        let client = super::client::key(req);
        self.check_not_blocked(&client)?;
        let outcome = self.caller_for(header).await;
        if let Err(e) = &outcome
            && !matches!(e, ApiError::Internal(_) | ApiError::Unavailable(_))
        {
            self.count_failure(&client);
        }
        outcome.map(Some)
    }

    /// The caller, who must hold `scope` (401 without credentials, 403 without the scope).
    pub async fn require(&self, req: &Request, scope: Scope) -> Result<Caller, ApiError> {
        match self.authenticate(req).await? {
            Some(caller) if caller.scopes.allow(scope) => Ok(caller),
            Some(caller) => Err(ApiError::forbidden(
                "insufficient_scope",
                format!(
                    "this needs a key with the `{}` scope; `{}` has {}",
                    scope.as_str(),
                    caller.name,
                    if caller.scopes == Scopes::default() {
                        "none".to_owned()
                    } else {
                        caller.scopes.to_string()
                    }
                ),
            )),
            None if scope == Scope::Read && self.inner.public_reads => Ok(Caller::anonymous()),
            None => Err(ApiError::unauthorized(
                "missing_credentials",
                format!(
                    "this needs `Authorization: Bearer <key>` with a key that has the `{}` scope",
                    scope.as_str()
                ),
            )),
        }
    }

    /// The caller, with any valid credentials (401 without).
    pub async fn identify(&self, req: &Request) -> Result<Caller, ApiError> {
        self.authenticate(req).await?.ok_or_else(|| {
            ApiError::unauthorized(
                "missing_credentials",
                "this needs `Authorization: Bearer <key>` with any valid key",
            )
        })
    }

    async fn caller_for(&self, header: &str) -> Result<Caller, ApiError> {
        let presented = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "invalid_credentials",
                    "the Authorization header must be `Bearer <key>`",
                )
            })?;
        if let Some(admin) = &self.inner.admin_token
            // Constant time: the comparison must not reveal how much of a guess was right.
            && bool::from(admin.as_bytes().ct_eq(presented.as_bytes()))
        {
            return Ok(Caller::admin());
        }
        if !presented.starts_with(KEY_PREFIX) {
            return Err(ApiError::unauthorized(
                "invalid_credentials",
                "unknown key or wrong admin token",
            ));
        }
        let row = self.key_row(&keys::hash(presented)).await?;
        let row = row.ok_or_else(|| {
            ApiError::unauthorized("invalid_credentials", "unknown key or wrong admin token")
        })?;
        let now = store::now_ms();
        if row.revoked_at_ms.is_some() {
            return Err(ApiError::unauthorized(
                "key_revoked",
                format!("key {} was revoked", row.prefix),
            ));
        }
        if row.expires_at_ms.is_some_and(|at| at <= now) {
            return Err(ApiError::unauthorized(
                "key_expired",
                format!("key {} has expired", row.prefix),
            ));
        }
        self.touch(&row.id, now);
        Ok(Caller::of_key(&row))
    }

    /// The stored key with this hash, from the cache while it is fresh.
    async fn key_row(&self, hash: &str) -> Result<Option<KeyRow>, ApiError> {
        if let Some(c) = self.inner.cache.lock().expect("key cache").get(hash)
            && c.read_at.elapsed() < CACHE_TTL
        {
            return Ok(c.row.clone());
        }
        let row = store::api_keys::find_by_hash(&self.inner.db, hash).await?;
        let mut cache = self.inner.cache.lock().expect("key cache");
        if cache.len() >= CACHE_CAP {
            cache.clear();
        }
        cache.insert(
            hash.to_owned(),
            CachedKey {
                row: row.clone(),
                read_at: Instant::now(),
            },
        );
        Ok(row)
    }

    /// Records the key's use at most once a minute per process (the store skips the write
    /// when another process recorded it in the last minute), off the request's path.
    fn touch(&self, id: &str, now_ms: i64) {
        {
            let mut touched = self.inner.touched.lock().expect("touched");
            if touched
                .get(id)
                .is_some_and(|at| at.elapsed() < Duration::from_secs(60))
            {
                return;
            }
            touched.insert(id.to_owned(), Instant::now());
        }
        let db = self.inner.db.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            if let Err(e) = store::api_keys::touch(&db, &id, now_ms).await {
                tracing::warn!(key = %id, error = %e, "could not record a key's last use");
            }
        });
    }

    fn check_not_blocked(&self, client: &str) -> Result<(), ApiError> {
        let failures = self.inner.failures.lock().expect("failures");
        match failures.get(client) {
            Some(f)
                if f.count >= MAX_FAILURES
                    && f.window_start.is_some_and(|s| s.elapsed() < FAILURE_WINDOW) =>
            {
                let wait = FAILURE_WINDOW.saturating_sub(f.window_start.expect("set").elapsed());
                Err(ApiError::too_many_requests(
                    "too_many_auth_failures",
                    format!(
                        "{MAX_FAILURES} failed authentications from this client in a minute; \
                         try again later"
                    ),
                    wait.as_secs().max(1),
                ))
            }
            _ => Ok(()),
        }
    }

    fn count_failure(&self, client: &str) {
        let mut failures = self.inner.failures.lock().expect("failures");
        if failures.len() >= CACHE_CAP {
            failures.retain(|_, f| f.window_start.is_some_and(|s| s.elapsed() < FAILURE_WINDOW));
        }
        let f = failures.entry(client.to_owned()).or_default();
        if f.window_start.is_none_or(|s| s.elapsed() >= FAILURE_WINDOW) {
            *f = Failures {
                window_start: Some(Instant::now()),
                count: 0,
            };
        }
        f.count += 1;
        if f.count == MAX_FAILURES {
            tracing::warn!(
                client,
                "too many failed authentications; refusing this client for a minute"
            );
        }
    }
}

/// The scope an `Access` extractor demands.
pub trait Need: Send + Sync {
    /// `None`: any valid credentials, whatever their scopes.
    const SCOPE: Option<Scope>;
}

/// Operator reads.
pub struct Read;
/// Unpaid mints.
pub struct Mint;
/// Everything.
pub struct Admin;
/// Any valid key or the admin token.
pub struct AnyKey;

impl Need for Read {
    const SCOPE: Option<Scope> = Some(Scope::Read);
}
impl Need for Mint {
    const SCOPE: Option<Scope> = Some(Scope::Mint);
}
impl Need for Admin {
    const SCOPE: Option<Scope> = Some(Scope::Admin);
}
impl Need for AnyKey {
    const SCOPE: Option<Scope> = None;
}

/// A handler parameter that admits only callers holding `N::SCOPE` (401/403 otherwise).
pub struct Access<N: Need> {
    pub caller: Caller,
    need: PhantomData<N>,
}

impl<N: Need> std::ops::Deref for Access<N> {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.caller
    }
}

fn state(req: &Request) -> poem::Result<&AppState> {
    req.data::<AppState>().ok_or_else(|| {
        poem::Error::from_string(
            "application state missing",
            poem::http::StatusCode::INTERNAL_SERVER_ERROR,
        )
    })
}

fn reject(e: ApiError) -> poem::Error {
    poem::Error::from_response(poem::IntoResponse::into_response(e))
}

impl<'a, N: Need> ApiExtractor<'a> for Access<N> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <ApiKeyScheme as ApiExtractor>::register(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        <ApiKeyScheme as ApiExtractor>::security_schemes()
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        let auth = &state(req)?.auth;
        let caller = match N::SCOPE {
            Some(scope) => auth.require(req, scope).await,
            None => auth.identify(req).await,
        }
        .map_err(reject)?;
        Ok(Access {
            caller,
            need: PhantomData,
        })
    }
}

/// A handler parameter for routes open to everyone that a key can also unlock (the old
/// `POST /mint`: paid, or free for a `mint` key). Wrong credentials are still refused.
pub struct MaybeKey(pub Option<Caller>);

impl<'a> ApiExtractor<'a> for MaybeKey {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <ApiKeyScheme as ApiExtractor>::register(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        <ApiKeyScheme as ApiExtractor>::security_schemes()
    }

    fn has_security_fallback() -> bool {
        true
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        let caller = state(req)?.auth.authenticate(req).await.map_err(reject)?;
        Ok(MaybeKey(caller))
    }
}

/// A handler parameter for routes open to everyone: the document says so explicitly with
/// `security: [{}]` (no credentials needed), where an operation without `security` would leave
/// it unsaid. It checks nothing.
pub struct Public;

impl<'a> ApiExtractor<'a> for Public {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn security_schemes() -> Vec<&'static str> {
        Vec::new()
    }

    fn has_security_fallback() -> bool {
        true
    }

    async fn from_request(
        _req: &'a Request,
        _body: &mut RequestBody,
        _opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        Ok(Public)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_actor_goes_beside_the_key_name() {
        let c = Caller::admin();
        assert_eq!(c.actor(None), "admin");
        assert_eq!(c.actor(Some("alice".into())), "admin (alice)");
        assert_eq!(c.actor(Some("  ".into())), "admin");
        assert_eq!(c.actor(Some("admin".into())), "admin");
    }

    #[test]
    fn admins_may_ask_any_mint_priority_other_keys_their_maximum() {
        let key = |scopes: &str, max_mint_priority| KeyRow {
            id: "k".into(),
            name: "k".into(),
            prefix: "mf_k".into(),
            key_hash: "h".into(),
            scopes: scopes.into(),
            mint_quota_per_minute: None,
            max_mint_priority,
            expires_at_ms: None,
            created_at_ms: 0,
            created_by: "test".into(),
            last_used_at_ms: None,
            revoked_at_ms: None,
        };
        assert_eq!(Caller::of_key(&key("mint", 7)).max_mint_priority, 7);
        assert_eq!(Caller::of_key(&key("read,mint", 0)).max_mint_priority, 0);
        assert_eq!(
            Caller::of_key(&key("admin", 0)).max_mint_priority,
            priority::MAX
        );
        assert_eq!(Caller::admin().max_mint_priority, priority::MAX);
        assert_eq!(Caller::anonymous().max_mint_priority, priority::DEFAULT);
    }
}
