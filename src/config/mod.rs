//! Configuration: process settings from env/flags live in `cli`; `settings` holds the hot
//! `system_settings` every process reloads from the database; `contracts` what a process
//! works with on chain and charges.
pub mod contracts;
pub mod secret;
pub mod settings;

pub use secret::Secret;
pub use settings::{SettingSpec, Settings, SettingsHandle};
