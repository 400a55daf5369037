//! The old `system_settings` (`key`, `value`) as mintflow settings, where one matches.
use sea_orm::{DatabaseConnection, DbErr};
use serde::Serialize;
use serde_json::{Value as Json, json};

use super::old_db::{OldRow, number, text};
use crate::config::settings as specs;
use crate::store;

pub const TABLE: &str = "system_settings";

/// Who the audit log says changed an imported setting.
const ACTOR: &str = "import-legacy";

/// What became of one old setting.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SettingOutcome {
    pub old_key: String,
    pub old_value: Json,
    /// The mintflow setting it maps to, if any.
    pub key: Option<&'static str>,
    pub value: Option<i64>,
    pub outcome: SettingResult,
    /// Why it was not imported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingResult {
    Set,
    Unchanged,
    NotImported,
}

/// The mintflow setting an old key maps to, and the factor its value is multiplied by.
fn mapping(old_key: &str) -> Option<(&'static str, f64)> {
    match old_key {
        "batch_interval_seconds" => Some(("max_batch_wait_ms", 1000.0)),
        "max_batch_size" => Some(("max_batch_size", 1.0)),
        "retry_max_attempts" => Some(("retry_max_attempts", 1.0)),
        _ => None,
    }
}

/// Maps every old setting and, unless `dry_run`, stores the changed ones with an audit entry
/// stamped `now`.
pub async fn import(
    db: &DatabaseConnection,
    rows: &[OldRow],
    dry_run: bool,
    now: i64,
) -> Result<Vec<SettingOutcome>, DbErr> {
    let current = store::settings::load_all(db).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let old_key = text(row, "key").unwrap_or_default().to_owned();
        let old_value = row.get("value").cloned().unwrap_or(Json::Null);
        let mut outcome = SettingOutcome {
            old_key: old_key.clone(),
            old_value,
            key: None,
            value: None,
            outcome: SettingResult::NotImported,
            reason: None,
        };
        let Some((key, factor)) = mapping(&old_key) else {
            outcome.reason = Some("mintflow has no matching setting".into());
            out.push(outcome);
            continue;
        };
        outcome.key = Some(key);
        let value = number(row, "value")
            .map(|v| v * factor)
            .filter(|v| v.fract() == 0.0)
            .ok_or_else(|| "the value is not a whole number".to_owned())
            .and_then(|v| specs::validate(key, &json!(v as i64)).map_err(|e| e.to_string()));
        let value = match value {
            Ok(value) => value,
            Err(reason) => {
                outcome.reason = Some(reason);
                out.push(outcome);
                continue;
            }
        };
        outcome.value = Some(value);
        let unchanged = current
            .iter()
            .any(|s| s.key == key && s.value.as_i64() == Some(value));
        outcome.outcome = if unchanged {
            SettingResult::Unchanged
        } else {
            if !dry_run {
                store_setting(db, key, value, now).await?;
            }
            SettingResult::Set
        };
        out.push(outcome);
    }
    Ok(out)
}

/// Stores one setting the way `PUT /v1/settings/{key}` does: with an audit entry, together.
async fn store_setting(
    db: &DatabaseConnection,
    key: &str,
    value: i64,
    now: i64,
) -> Result<(), DbErr> {
    let txn = store::begin_write(db).await?;
    store::settings::put(&txn, key, value.into(), ACTOR, now).await?;
    store::audit::record(
        &txn,
        ACTOR,
        "settings.update",
        key,
        Some(json!({ "to": value })),
        now,
    )
    .await?;
    txn.commit().await
}
