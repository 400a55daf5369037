//! Who may call what. Every route is public, needs a key with a scope (`read`, `mint`), or
//! needs `admin` (a key with that scope, or the bootstrap `ADMIN_TOKEN`). Handlers say which by
//! taking one of the extractors here: `Access<Read>`, `Access<Mint>`, `Access<Admin>`,
//! `MaybeKey` or `Public`; the OpenAPI document shows it as the operation's security.
//!
//! Keys are checked by `app::credentials` (an in-process cache: a key revoked on any instance
//! is refused everywhere within `CACHE_TTL`); the admin token and the count of failures by
//! client are checked here.
mod extractors;
mod failures;

pub use extractors::{Access, Admin, AnyKey, Facilitate, MaybeKey, Mint, Need, Public, Read};
use std::sync::Arc;

use alloy::primitives::Address;
use poem::Request;
use sea_orm::DatabaseConnection;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::error::ApiError;
use crate::app::credentials::{CredentialError, KeyCheck};
use crate::app::keys::{self, Scope, Scopes};
use crate::store::api_keys::KeyRow;
use crate::store::time::Clock;
use crate::workflows::priority;
use failures::FailureCount;

impl From<CredentialError> for ApiError {
    fn from(e: CredentialError) -> Self {
        match e {
            CredentialError::Unknown => {
                ApiError::unauthorized("invalid_credentials", e.to_string())
            }
            CredentialError::Revoked(_) => ApiError::unauthorized("key_revoked", e.to_string()),
            CredentialError::Expired(_) => ApiError::unauthorized("key_expired", e.to_string()),
            CredentialError::Database(e) => e.into(),
        }
    }
}

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
    /// The only payees this caller may settle for as a facilitator, within
    /// `FACILITATOR_PAY_TO`; `None`: every payee that list names.
    pub facilitator_pay_to: Option<Vec<Address>>,
}

impl Caller {
    fn admin() -> Caller {
        Caller {
            name: "admin".into(),
            key_id: None,
            scopes: Scopes::ADMIN,
            mint_quota_per_minute: None,
            max_mint_priority: priority::MAX,
            facilitator_pay_to: None,
        }
    }

    fn anonymous() -> Caller {
        Caller {
            name: "anonymous".into(),
            key_id: None,
            scopes: Scopes::of([Scope::Read]),
            mint_quota_per_minute: None,
            max_mint_priority: priority::DEFAULT,
            facilitator_pay_to: None,
        }
    }

    fn of_key(row: &KeyRow) -> Caller {
        Caller {
            name: row.name.clone(),
            key_id: Some(row.id.clone()),
            scopes: keys::scopes_of(row),
            mint_quota_per_minute: row.mint_quota_per_minute,
            max_mint_priority: Caller::max_mint_priority_of(row),
            facilitator_pay_to: keys::facilitator_pay_to_of(row),
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

/// Checks credentials; shared by every request of a process.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

struct Inner {
    keys: KeyCheck,
    /// `None` (or empty) closes the admin token door; keys with `admin` still work.
    admin_token: Option<Zeroizing<String>>,
    /// `PUBLIC_READS`: operator reads need no key (for a private network).
    public_reads: bool,
    failures: FailureCount,
}

impl Authenticator {
    /// Checks keys stored in `db` (their expiry on `clock`), the admin token, and whether
    /// operator reads are public.
    pub fn new(
        db: DatabaseConnection,
        admin_token: Option<&str>,
        public_reads: bool,
        clock: Clock,
    ) -> Self {
        Authenticator {
            inner: Arc::new(Inner {
                keys: KeyCheck::new(db, clock),
                admin_token: admin_token
                    .filter(|t| !t.is_empty())
                    .map(|t| Zeroizing::new(t.to_owned())),
                public_reads,
                failures: FailureCount::default(),
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
        self.inner.failures.check_not_blocked(&client)?;
        let outcome = self.caller_for(header).await;
        if let Err(e) = &outcome
            && !matches!(e, ApiError::Internal(_) | ApiError::Unavailable(_))
        {
            self.inner.failures.count_failure(&client);
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
        let row = self.inner.keys.check(presented).await?;
        Ok(Caller::of_key(&row))
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
            scopes: scopes.into(),
            max_mint_priority,
            ..KeyRow::default()
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
