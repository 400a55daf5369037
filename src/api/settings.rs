//! Hot settings: read by anyone, changed by admins, validated, effective without restart.
use chrono::{DateTime, Utc};
use poem_openapi::{
    Object, OpenApi, Tags,
    param::{Header, Path},
    payload::Json,
};
use serde_json::Value as Json_;

use poem::web::Data;

use super::AppState;
use super::auth::{Access, Admin, Read};
use super::declared::{Declared, SettingValueShape};
use super::error::{ApiError, Errors, KeyedRead, KeyedUpdate, errors_from};
use crate::app::settings::{self, ChangeError, SettingState};
use crate::store::time::opt_from_ms;

#[derive(Tags)]
pub enum SettingsTag {
    /// Operator-tunable settings, changed live.
    Settings,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
#[oai(example)]
pub struct Setting {
    pub key: String,
    pub value: i64,
    pub default: i64,
    pub min: i64,
    pub max: i64,
    pub description: String,
    #[oai(nullable)]
    pub updated_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub updated_by: Option<String>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
#[oai(example)]
pub struct SettingUpdate {
    /// The new value (an integer within the setting's range).
    pub value: Declared<SettingValueShape, Json_>,
}

impl From<SettingState> for Setting {
    fn from(s: SettingState) -> Self {
        Setting {
            key: s.spec.key.into(),
            value: s.value,
            default: s.spec.default,
            min: s.spec.min,
            max: s.spec.max,
            description: s.spec.description.into(),
            updated_at: opt_from_ms(s.updated_at_ms),
            updated_by: s.updated_by,
        }
    }
}

impl From<ChangeError> for ApiError {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::Unknown(_) => ApiError::not_found("setting_not_found", e.to_string()),
            ChangeError::Invalid(_) => ApiError::unprocessable("invalid_value", e.to_string()),
            ChangeError::Database(e) => e.into(),
        }
    }
}

errors_from!(ChangeError);

pub struct SettingsApi;

#[OpenApi(prefix_path = "/v1/settings", tag = "SettingsTag::Settings")]
impl SettingsApi {
    /// List the hot settings
    ///
    /// Who may call: a key with the `read` scope (or `admin`).
    ///
    /// Every setting with its current value, default, range, meaning and last change (when
    /// and by whom). Not paged.
    #[oai(path = "/", method = "get", operation_id = "list_settings")]
    async fn list(
        &self,
        app: Data<&AppState>,
        _auth: Access<Read>,
    ) -> Result<Json<Vec<Setting>>, Errors<KeyedRead>> {
        let settings = settings::list(&app.db).await?;
        Ok(Json(settings.into_iter().map(Setting::from).collect()))
    }

    /// Change a hot setting
    ///
    /// Who may call: `admin` (a key with that scope, or `ADMIN_TOKEN`).
    /// Recorded in the audit log.
    ///
    /// The value must be an integer within the setting's range (422 `invalid_value`); an
    /// unknown key is 404 `setting_not_found`. It takes effect at once in this process and
    /// within 5 seconds in every other one. Idempotent: putting the same value again changes
    /// nothing but the time and author of the last change.
    #[oai(path = "/:key", method = "put", operation_id = "put_setting")]
    async fn put(
        &self,
        app: Data<&AppState>,
        auth: Access<Admin>,
        key: Path<String>,
        body: Json<SettingUpdate>,
        /// Who is acting (default `admin`).
        #[oai(name = "X-Actor")]
        actor: Header<Option<String>>,
    ) -> Result<Json<Setting>, Errors<KeyedUpdate>> {
        let changed = settings::change(
            &app.db,
            &app.settings,
            &key.0,
            &body.0.value,
            &auth.actor(actor.0),
            &app.clock,
        )
        .await?;
        Ok(Json(changed.into()))
    }
}
