//! The extractors handlers take to say who may call them; the document shows each as the
//! operation's security.
use std::marker::PhantomData;

use poem::{Request, RequestBody};
use poem_openapi::registry::Registry;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions, SecurityScheme};

use super::Caller;
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::app::keys::Scope;

/// `Authorization: Bearer <key>`: an API key (`mf_...`) or the `ADMIN_TOKEN`.
#[derive(SecurityScheme)]
#[oai(
    rename = "ApiKey",
    ty = "bearer",
    bearer_format = "mf_… API key, or the ADMIN_TOKEN"
)]
#[allow(dead_code)] // Only its registration in the document is used; `Authenticator` reads the header.
struct ApiKeyScheme(poem_openapi::auth::Bearer);

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
/// x402 facilitation.
pub struct Facilitate;
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
impl Need for Facilitate {
    const SCOPE: Option<Scope> = Some(Scope::Facilitate);
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
