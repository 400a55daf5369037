//! `mintflow keys ...`: API keys from a shell, on the same database as the API (the way to
//! create the first key, and to revoke one when the API is out of reach). Audited like the
//! API's `/v1/keys`.
use alloy::primitives::Address;
use clap::Subcommand;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use poem_openapi::types::ToJSON;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::workflows::cli_actor;
use crate::api::keys::ApiKeyView;
use crate::app::address;
use crate::app::keys::{self, NewKey, RevokeError, Scopes};
use crate::store::time::{Clock, from_ms};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (shown this once: only its hash is stored).
    Create {
        /// What the key is for, e.g. `shop-backend`.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: read, mint, admin, facilitate.
        #[arg(long = "scope", value_parser = parse_scopes)]
        scopes: Scopes,
        /// Lifetime, e.g. 30d, 12h, 15m; the key never expires without it.
        #[arg(long, value_parser = parse_duration)]
        expires_in: Option<std::time::Duration>,
        /// Most mints per minute the key may queue without paying.
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
        mint_quota_per_minute: Option<i64>,
        /// Highest mint priority (0 to 100) the key may ask for; 0 when absent. Admin keys
        /// may ask for any.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i16).range(0..=100))]
        max_priority: i16,
        /// Comma-separated payees the key may settle for as a facilitator (within
        /// FACILITATOR_PAY_TO; needs the facilitate or admin scope); every payee that list
        /// names without it.
        #[arg(long, value_delimiter = ',', value_parser = parse_payee)]
        facilitator_pay_to: Option<Vec<Address>>,
        /// Who is acting (default: $USER); kept in the audit log.
        #[arg(long)]
        actor: Option<String>,
        /// Print the key and its record as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the keys (never the keys themselves), revoked ones included.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: every instance refuses it within a second.
    Revoke {
        id: Uuid,
        /// Who is acting (default: $USER); kept in the audit log.
        #[arg(long)]
        actor: Option<String>,
    },
}

fn parse_scopes(raw: &str) -> Result<Scopes, String> {
    Scopes::parse_list(raw).map_err(|e| e.to_string())
}

fn parse_payee(raw: &str) -> Result<Address, String> {
    address::parse("--facilitator-pay-to", raw).map_err(|e| e.to_string())
}

fn parse_duration(raw: &str) -> Result<std::time::Duration, String> {
    keys::parse_duration(raw).map_err(|e| e.to_string())
}

pub async fn run(db: &DatabaseConnection, cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Create {
            name,
            scopes,
            expires_in,
            mint_quota_per_minute,
            max_priority,
            facilitator_pay_to,
            actor,
            json,
        } => {
            let new = NewKey {
                name,
                scopes,
                expires_in,
                mint_quota_per_minute,
                max_mint_priority: max_priority,
                facilitator_pay_to,
            };
            let created = keys::create(db, new, &cli_actor(actor), &Clock::system()).await?;
            if json {
                let row = &created.row;
                let scopes: Vec<&str> = row.scopes.split(',').collect();
                println!(
                    "{}",
                    serde_json::json!({
                        "key": created.key.as_str(), "id": row.id, "name": row.name,
                        "prefix": row.prefix, "scopes": scopes,
                    })
                );
            } else {
                println!("{}", created.key.as_str());
                eprintln!(
                    "key {} ({}) created with scopes {}: store it now, it is not shown again",
                    created.row.id, created.row.prefix, created.row.scopes
                );
            }
            Ok(())
        }
        KeysCommand::List { json } => {
            let rows = keys::list(db).await?;
            if json {
                let views: Vec<ApiKeyView> = rows.into_iter().map(Into::into).collect();
                println!("{}", views.to_json_string());
                return Ok(());
            }
            let when = |ms: Option<i64>| ms.map(|m| from_ms(m).to_rfc3339()).unwrap_or_default();
            let mut table = Table::new();
            table.load_preset(UTF8_BORDERS_ONLY).set_header([
                "id",
                "name",
                "prefix",
                "scopes",
                "quota/min",
                "max priority",
                "facilitator payees",
                "expires",
                "last used",
                "revoked",
            ]);
            for k in rows {
                table.add_row([
                    k.id,
                    k.name,
                    k.prefix,
                    k.scopes,
                    k.mint_quota_per_minute
                        .map(|q| q.to_string())
                        .unwrap_or_default(),
                    k.max_mint_priority.to_string(),
                    k.facilitator_pay_to.clone().unwrap_or_default(),
                    when(k.expires_at_ms),
                    when(k.last_used_at_ms),
                    when(k.revoked_at_ms),
                ]);
            }
            println!("{table}");
            Ok(())
        }
        KeysCommand::Revoke { id, actor } => {
            let id = id.to_string();
            match keys::revoke(db, &id, &cli_actor(actor), &Clock::system()).await {
                Ok(()) => {
                    println!("key {id} revoked");
                    Ok(())
                }
                Err(RevokeError::Database(e)) => Err(e.into()),
                Err(_) => anyhow::bail!("no active key {id}"),
            }
        }
    }
}
