//! Hot settings as operators see and change them: every spec with its current value and last
//! change, and a change that is validated, audited and in effect in this process at once.
use sea_orm::{DatabaseConnection, DbErr};
use serde_json::Value as Json;

use crate::config::SettingsHandle;
use crate::config::settings::{self as specs, SettingError, SettingSpec};
use crate::store::{self, time::Clock};

/// One setting: what it is, what it holds now and who changed it last.
#[derive(Debug)]
pub struct SettingState {
    pub spec: &'static SettingSpec,
    pub value: i64,
    pub updated_at_ms: Option<i64>,
    pub updated_by: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("unknown setting `{0}`")]
    Unknown(String),
    /// Not an integer, or outside the setting's range.
    #[error(transparent)]
    Invalid(SettingError),
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// Every setting, in the order of the specs, with the value in effect.
pub async fn list(db: &DatabaseConnection) -> Result<Vec<SettingState>, DbErr> {
    let stored = store::settings::load_all(db).await?;
    let current = specs::Settings::from_rows(stored.iter().map(|r| (r.key.as_str(), &r.value)));
    Ok(specs::SPECS
        .iter()
        .map(|spec| {
            let row = stored.iter().find(|r| r.key == spec.key);
            SettingState {
                spec,
                value: current.value(spec.key),
                updated_at_ms: row.map(|r| r.updated_at_ms),
                updated_by: row.and_then(|r| r.updated_by.clone()),
            }
        })
        .collect())
}

/// Sets `key` to `value` with its audit entry in one transaction, stamped by `clock`, then
/// reloads this process's settings so the change applies here before the answer (others
/// reload within 5 s).
pub async fn change(
    db: &DatabaseConnection,
    settings: &SettingsHandle,
    key: &str,
    value: &Json,
    who: &str,
    clock: &Clock,
) -> Result<SettingState, ChangeError> {
    let spec = specs::spec(key).ok_or_else(|| ChangeError::Unknown(key.to_owned()))?;
    let value = specs::validate(spec.key, value).map_err(|e| match e {
        SettingError::Unknown(key) => ChangeError::Unknown(key),
        invalid => ChangeError::Invalid(invalid),
    })?;
    let previous = settings.get().value(spec.key);
    let now = clock.now_ms();
    let txn = store::begin_write(db).await?;
    let row = store::settings::put(&txn, spec.key, value.into(), who, now).await?;
    store::audit::record(
        &txn,
        who,
        "settings.update",
        spec.key,
        Some(serde_json::json!({ "from": previous, "to": value })),
        now,
    )
    .await?;
    txn.commit().await?;
    settings.reload(db).await?;
    tracing::info!(key = spec.key, value, by = who, "setting changed");
    Ok(SettingState {
        spec,
        value,
        updated_at_ms: Some(row.updated_at_ms),
        updated_by: row.updated_by,
    })
}
