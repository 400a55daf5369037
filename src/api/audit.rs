//! The audit log of admin actions (admin only).
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, Tags, param::Query, payload::Json};
use serde_json::Value as Json_;

use super::auth::{Access, Read};
use super::declared::{Declared, PositionCursor};
use super::error::{Errors, KeyedList};
use super::{AppState, parse_position_cursor};
use crate::app::audit;
use crate::store::time::from_ms;

#[derive(Tags)]
pub enum AuditTag {
    /// Who changed what, and when.
    Audit,
}

/// One admin action.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
#[oai(example)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The `X-Actor` of the request (`admin` when absent).
    pub actor: String,
    /// `settings.update`, `webhook.create`, `webhook.delete`, `workflow.retry`,
    /// `workflow.cancel`, `mint.priority`, `doctor.wake`, `doctor.cancel_stranded`, `token.register`.
    pub action: String,
    /// A setting key, webhook id, workflow id or token address.
    pub target: String,
    pub detail: Option<Json_>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    /// Pass as `cursor` for older entries; absent on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

pub struct AuditApi;

#[OpenApi(tag = "AuditTag::Audit")]
impl AuditApi {
    /// List the admin actions
    ///
    /// Who may call: a key with the `read` scope (or `admin`).
    ///
    /// Every admin action (settings, retries, cancels, webhooks, keys), newest first, with who
    /// (the key's name, and `X-Actor` beside it), what, on which target and when. Paged: pass
    /// the answer's next cursor back as `cursor` for the next page.
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
        /// `nextCursor` of the previous page.
        cursor: Query<Option<PositionCursor>>,
    ) -> Result<Json<AuditPage>, Errors<KeyedList>> {
        let before = parse_position_cursor(cursor.0.map(Declared::into_inner))?;
        let page = audit::list(&app.read_db, before, limit.0).await?;
        Ok(Json(AuditPage {
            items: page
                .items
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
            next_cursor: page.next.map(|id| id.to_string()),
        }))
    }
}

fn default_limit() -> u64 {
    50
}
