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
use super::error::{ApiError, Errors, KeyedRead, KeyedUpdate};
use crate::config::settings::{self as specs, SettingError};
use crate::store;
use crate::store::time::from_ms;

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
        let stored = store::settings::load_all(&app.db).await?;
        let current = specs::Settings::from_rows(stored.iter().map(|r| (r.key.as_str(), &r.value)));
        Ok(Json(
            specs::SPECS
                .iter()
                .map(|spec| {
                    let row = stored.iter().find(|r| r.key == spec.key);
                    Setting {
                        key: spec.key.into(),
                        value: current.value(spec.key),
                        default: spec.default,
                        min: spec.min,
                        max: spec.max,
                        description: spec.description.into(),
                        updated_at: row.map(|r| from_ms(r.updated_at_ms)),
                        updated_by: row.and_then(|r| r.updated_by.clone()),
                    }
                })
                .collect(),
        ))
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
        let spec = specs::spec(&key.0).ok_or_else(|| {
            ApiError::not_found("setting_not_found", format!("unknown setting `{}`", key.0))
        })?;
        let value = specs::validate(spec.key, &body.0.value).map_err(|e| match e {
            SettingError::Unknown(_) => ApiError::not_found("setting_not_found", e.to_string()),
            _ => ApiError::unprocessable("invalid_value", e.to_string()),
        })?;
        let who = auth.actor(actor.0);
        let previous = app.settings.get().value(spec.key);
        let txn = store::begin_write(&app.db).await?;
        let row = store::settings::put(&txn, spec.key, value.into(), &who).await?;
        store::audit::record(
            &txn,
            &who,
            "settings.update",
            spec.key,
            Some(serde_json::json!({ "from": previous, "to": value })),
        )
        .await?;
        txn.commit().await?;
        app.settings.reload(&app.db).await?;
        tracing::info!(key = spec.key, value, by = who, "setting changed");
        Ok(Json(Setting {
            key: spec.key.into(),
            value,
            default: spec.default,
            min: spec.min,
            max: spec.max,
            description: spec.description.into(),
            updated_at: Some(from_ms(row.updated_at_ms)),
            updated_by: row.updated_by,
        }))
    }
}
