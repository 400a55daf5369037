//! Examples of API keys.
use super::{KEY_ID, at};
use crate::api::keys::{ApiKeyView, CreatedKey, NewKeyBody, ScopeDto, WhoAmI};
use poem_openapi::types::Example;

impl Example for NewKeyBody {
    fn example() -> Self {
        NewKeyBody {
            name: "shop-backend".into(),
            scopes: vec![ScopeDto::Read, ScopeDto::Mint],
            expires_in_seconds: Some(7_776_000),
            mint_quota_per_minute: Some(600),
            max_priority: Some(10),
            facilitator_pay_to: None,
        }
    }
}

impl Example for ApiKeyView {
    fn example() -> Self {
        ApiKeyView {
            id: KEY_ID.into(),
            name: "shop-backend".into(),
            prefix: "mf_3kZ9".into(),
            scopes: vec![ScopeDto::Read, ScopeDto::Mint],
            mint_quota_per_minute: Some(600),
            max_priority: 10,
            expires_at: Some(at("2027-03-01T16:15:00Z")),
            created_at: at("2026-12-01T16:15:00Z"),
            created_by: "admin".into(),
            last_used_at: Some(at("2026-12-01T16:20:00Z")),
            revoked_at: None,
            facilitator_pay_to: None,
        }
    }
}

impl Example for CreatedKey {
    fn example() -> Self {
        CreatedKey {
            key: "mf_3kZ9pQ7rT2vX8wY4bN6mL1cD5fG0hJ".into(),
            stored: ApiKeyView {
                last_used_at: None,
                ..ApiKeyView::example()
            },
        }
    }
}

impl Example for WhoAmI {
    fn example() -> Self {
        WhoAmI {
            name: "dev".into(),
            key_id: Some(KEY_ID.into()),
            scopes: vec![ScopeDto::Read, ScopeDto::Mint],
            mint_quota_per_minute: None,
            max_priority: 0,
            facilitator_pay_to: None,
        }
    }
}
