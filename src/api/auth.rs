//! The admin bearer token that guards mutating operator endpoints.
use poem_openapi::{SecurityScheme, auth::Bearer};
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// `Authorization: Bearer <ADMIN_TOKEN>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", key_name = "Authorization")]
pub struct AdminAuth(pub Bearer);

/// Admits the request only when a token is configured and the presented one equals it.
/// Without a configured token the admin endpoints are closed, never open.
pub fn check(configured: Option<&str>, presented: &AdminAuth) -> Result<(), ApiError> {
    let Some(expected) = configured.filter(|t| !t.is_empty()) else {
        return Err(ApiError::unauthorized(
            "admin_disabled",
            "admin endpoints are disabled: start the server with ADMIN_TOKEN set",
        ));
    };
    // Constant time: the comparison must not reveal how much of a guess was right.
    if bool::from(expected.as_bytes().ct_eq(presented.0.token.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::unauthorized("unauthorized", "wrong admin token"))
    }
}
