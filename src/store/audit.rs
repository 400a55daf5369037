//! The audit log: every admin action, who took it and when, written in the transaction of the
//! change it records.
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use serde_json::Value as Json;

use super::{exec, query};

#[derive(Clone, Debug, PartialEq, FromQueryResult)]
pub struct AuditEntry {
    pub id: i64,
    pub at_ms: i64,
    pub actor: String,
    /// `settings.update`, `webhook.create`, `webhook.update`, `webhook.delete`,
    /// `webhook.redeliver`, `workflow.retry`, `workflow.cancel`, `mint.priority`, and the repairs
    /// of `mintflow doctor --fix`: `doctor.wake`, `doctor.cancel_stranded`; `token.register`.
    pub action: String,
    /// What it acted on: a setting key, a webhook or workflow id, a token address.
    pub target: String,
    pub detail: Option<Json>,
}

/// Records `actor`'s `action` on `target`, taken at `at_ms`.
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    actor: &str,
    action: &str,
    target: &str,
    detail: Option<Json>,
    at_ms: i64,
) -> Result<(), DbErr> {
    exec(
        conn,
        "INSERT INTO audit_log (at_ms, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
        vec![
            at_ms.into(),
            actor.into(),
            action.into(),
            target.into(),
            detail.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Entries newest first, older than `before_id` when given.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    before_id: Option<i64>,
    limit: u64,
) -> Result<Vec<AuditEntry>, DbErr> {
    query(
        conn,
        "SELECT id, at_ms, actor, action, target, detail FROM audit_log WHERE id < $1 \
         ORDER BY id DESC LIMIT $2",
        vec![before_id.unwrap_or(i64::MAX).into(), (limit as i64).into()],
    )
    .await
}
