//! The dead letters: failed and parked (`needs_migration`) workflows with their last error,
//! and the operator's bulk retry.
use poem::web::Data;
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Query},
    payload::Json,
};
use uuid::Uuid;

use super::AppState;
use super::auth::{Access, Admin, Read};
use super::declared::{Declared, UuidText};
use super::error::{Errors, KeyedBody, KeyedList};
use super::names::{KINDS, KindName, check_query};
use super::text::Text;
use super::workflows::{WorkflowPage, WorkflowsTag, actor_of, list_page, parse_cursor};
use crate::app::workflows;
use crate::store::workflows::ListFilter;

/// Workflows to retry at once.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
#[oai(example, skip_serializing_if_is_none)]
pub struct BulkRetry {
    /// 1 to 500 workflow ids.
    #[oai(validator(min_items = 1, max_items = 500))]
    pub ids: Vec<Uuid>,
    /// Why; kept in each workflow's history and in the audit log.
    #[oai(nullable)]
    pub reason: Option<Text>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct Skipped {
    pub id: Uuid,
    /// `not_found`, or `wrong_status: <status>` (only failed and parked workflows retry).
    pub reason: String,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
#[oai(example)]
pub struct BulkRetryOutcome {
    pub retried: Vec<Uuid>,
    pub skipped: Vec<Skipped>,
}

pub struct DeadLettersApi;

#[OpenApi(prefix_path = "/v1/dead-letters", tag = "WorkflowsTag::Workflows")]
impl DeadLettersApi {
    /// List dead letters
    ///
    /// Who may call: a key with the `read` scope (or `admin`).
    ///
    /// Failed and parked (`needs_migration`) workflows, newest first, each with its last
    /// error. Paged: pass the answer's next cursor back as `cursor` for the next page.
    #[oai(path = "/", method = "get", operation_id = "list_dead_letters")]
    async fn list(
        &self,
        app: Data<&AppState>,
        _auth: Access<Read>,
        /// Only this kind.
        kind: Query<Option<KindName>>,
        /// Page size, 1 to 500.
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "500"))
        )]
        limit: Query<u64>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<UuidText>>,
    ) -> Result<Json<WorkflowPage>, Errors<KeyedList>> {
        check_query("kind", KINDS, kind.as_deref().map(String::as_str))?;
        let filter = ListFilter {
            kind: kind.0.map(Declared::into_inner),
            dead_letters: true,
            before_id: parse_cursor(cursor.0)?,
            limit: limit.0 + 1,
            ..Default::default()
        };
        Ok(list_page(&app.read_db, filter).await?)
    }

    /// Retry many dead letters at once
    ///
    /// Who may call: `admin` (a key with that scope, or `ADMIN_TOKEN`).
    /// Each retry is recorded in its workflow's history and in the audit log.
    ///
    /// Each workflow of `ids` resumes from the state it stopped in, as
    /// `POST /v1/workflows/{id}/retry` does; those that cannot (unknown, or not failed,
    /// cancelled or parked) are listed in `skipped` with the reason, and the rest still go.
    /// Sending the same ids again retries nothing twice: the retried ones are skipped as
    /// `wrong_status`.
    #[oai(path = "/retry", method = "post", operation_id = "retry_dead_letters")]
    async fn retry(
        &self,
        app: Data<&AppState>,
        auth: Access<Admin>,
        body: Json<BulkRetry>,
        /// Who is acting (default `admin`).
        #[oai(name = "X-Actor")]
        actor: Header<Option<String>>,
    ) -> Result<Json<BulkRetryOutcome>, Errors<KeyedBody>> {
        let who = actor_of(auth.actor(actor.0), body.0.reason.map(Text::into_inner));
        let outcome = workflows::retry_many(&app.client, &body.0.ids, &who).await?;
        Ok(Json(BulkRetryOutcome {
            retried: outcome.retried,
            skipped: outcome
                .skipped
                .into_iter()
                .map(|(id, skip)| Skipped {
                    id,
                    reason: skip.to_string(),
                })
                .collect(),
        }))
    }
}

fn default_limit() -> u64 {
    50
}
