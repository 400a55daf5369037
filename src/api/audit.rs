//! The audit log of admin actions (admin only).
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, Tags, param::Query, payload::Json};
use serde_json::Value as Json_;

use super::AppState;
use super::auth::{Access, Read};
use super::error::{Errors, KeyedList};
use super::time::from_ms;
use crate::store::audit;

#[derive(Tags)]
pub enum AuditTag {
    /// Who changed what, and when.
    Audit,
}

/// One admin action.
#[derive(Object)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The `X-Actor` of the request (`admin` when absent).
    pub actor: String,
    /// `settings.update`, `webhook.create`, `webhook.delete`, `workflow.retry`,
    /// `workflow.cancel`.
    pub action: String,
    /// A setting key, webhook id or workflow id.
    pub target: String,
    pub detail: Option<Json_>,
}

#[derive(Object)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    /// Pass as `cursor` for older entries; absent on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<i64>,
}

pub struct AuditApi;

#[OpenApi(tag = "AuditTag::Audit")]
impl AuditApi {
    /// Admin actions, newest first.
    ///
    /// Who may call: a key with the `read` scope (or `admin`).
    #[oai(path = "/v1/audit", method = "get", operation_id = "list_audit")]
    async fn list(
        &self,
        app: Data<&AppState>,
        _auth: Access<Read>,
        /// Page size, 1 to 500.
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "500"))
        )]
        limit: Query<u64>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<i64>>,
    ) -> Result<Json<AuditPage>, Errors<KeyedList>> {
        let mut rows = audit::list(&app.read_db, cursor.0, limit.0 + 1).await?;
        let next_cursor = if rows.len() as u64 > limit.0 {
            rows.truncate(limit.0 as usize);
            rows.last().map(|r| r.id)
        } else {
            None
        };
        Ok(Json(AuditPage {
            items: rows
                .into_iter()
                .map(|r| AuditEntry {
                    id: r.id,
                    at: from_ms(r.at_ms),
                    actor: r.actor,
                    action: r.action,
                    target: r.target,
                    detail: r.detail,
                })
                .collect(),
            next_cursor,
        }))
    }
}

fn default_limit() -> u64 {
    50
}
