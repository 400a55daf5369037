//! `api_keys`: hashed API keys with their scopes, expiry and revocation. Creating and revoking
//! a key is audited in the same transaction.
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};

use super::{audit, exec, query};

/// One key as stored: never the key itself, only its SHA-256 (`key_hash`, hex) and the first
/// characters (`prefix`) an operator recognises it by.
#[derive(Clone, Debug, Default, PartialEq, Eq, FromQueryResult)]
pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub key_hash: String,
    /// Comma-separated: `read`, `mint`, `admin`, `facilitate`.
    pub scopes: String,
    pub mint_quota_per_minute: Option<i64>,
    /// Highest mint priority the key may ask for (admin keys may ask for any).
    pub max_mint_priority: i16,
    /// The payees this key may settle for as a facilitator (comma-separated lowercase
    /// addresses), within `FACILITATOR_PAY_TO`; `None`: every payee that list names.
    pub facilitator_pay_to: Option<String>,
    pub expires_at_ms: Option<i64>,
    pub created_at_ms: i64,
    pub created_by: String,
    pub last_used_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
}

const COLUMNS: &str = "id, name, prefix, key_hash, scopes, mint_quota_per_minute, \
                       max_mint_priority, facilitator_pay_to, expires_at_ms, created_at_ms, \
                       created_by, last_used_at_ms, revoked_at_ms";

/// Stores a new key and its audit entry (`key.create`), in one transaction the caller commits.
pub async fn insert<C: ConnectionTrait>(conn: &C, key: &KeyRow) -> Result<(), DbErr> {
    exec(
        conn,
        &format!(
            "INSERT INTO api_keys ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ),
        vec![
            key.id.clone().into(),
            key.name.clone().into(),
            key.prefix.clone().into(),
            key.key_hash.clone().into(),
            key.scopes.clone().into(),
            key.mint_quota_per_minute.into(),
            key.max_mint_priority.into(),
            key.facilitator_pay_to.clone().into(),
            key.expires_at_ms.into(),
            key.created_at_ms.into(),
            key.created_by.clone().into(),
            key.last_used_at_ms.into(),
            key.revoked_at_ms.into(),
        ],
    )
    .await?;
    audit::record(
        conn,
        &key.created_by,
        "key.create",
        &key.id,
        Some(serde_json::json!({
            "name": key.name, "prefix": key.prefix, "scopes": key.scopes,
            "mintQuotaPerMinute": key.mint_quota_per_minute,
            "maxPriority": key.max_mint_priority, "expiresAtMs": key.expires_at_ms,
            "facilitatorPayTo": key.facilitator_pay_to,
        })),
        key.created_at_ms,
    )
    .await
}

/// The key whose hash this is, revoked or not.
pub async fn find_by_hash<C: ConnectionTrait>(
    conn: &C,
    key_hash: &str,
) -> Result<Option<KeyRow>, DbErr> {
    Ok(query(
        conn,
        &format!("SELECT {COLUMNS} FROM api_keys WHERE key_hash = $1"),
        vec![key_hash.into()],
    )
    .await?
    .pop())
}

pub async fn find<C: ConnectionTrait>(conn: &C, id: &str) -> Result<Option<KeyRow>, DbErr> {
    Ok(query(
        conn,
        &format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1"),
        vec![id.into()],
    )
    .await?
    .pop())
}

/// Every key, newest first (a handful per deployment: no paging).
pub async fn list<C: ConnectionTrait>(conn: &C) -> Result<Vec<KeyRow>, DbErr> {
    query(
        conn,
        &format!("SELECT {COLUMNS} FROM api_keys ORDER BY created_at_ms DESC, id DESC"),
        vec![],
    )
    .await
}

/// Revokes a key and records `key.revoke`; false when no such key exists or it was already
/// revoked (nothing is written then).
pub async fn revoke<C: ConnectionTrait>(
    conn: &C,
    id: &str,
    actor: &str,
    now_ms: i64,
) -> Result<bool, DbErr> {
    let changed = exec(
        conn,
        "UPDATE api_keys SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL",
        vec![now_ms.into(), id.into()],
    )
    .await?;
    if changed == 0 {
        return Ok(false);
    }
    audit::record(conn, actor, "key.revoke", id, None, now_ms).await?;
    Ok(true)
}

/// Records that a key was used at `now_ms`, unless it was recorded in the last minute: a busy
/// key costs one write a minute, not one per request.
pub async fn touch<C: ConnectionTrait>(conn: &C, id: &str, now_ms: i64) -> Result<(), DbErr> {
    exec(
        conn,
        "UPDATE api_keys SET last_used_at_ms = $1 \
         WHERE id = $2 AND (last_used_at_ms IS NULL OR last_used_at_ms <= $3)",
        vec![now_ms.into(), id.into(), (now_ms - 60_000).into()],
    )
    .await?;
    Ok(())
}
