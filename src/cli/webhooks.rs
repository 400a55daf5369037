//! `mintflow webhooks ...`: subscriptions and their delivery logs from a shell, reading the
//! same database, and the redelivery of given-up deliveries (audited like the API's).
use clap::Subcommand;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use poem_openapi::types::ToJSON;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::workflows::cli_actor;
use crate::api::webhooks::{Delivery, Webhook};
use crate::app::webhooks as subscriptions;
use crate::store::time::{Clock, from_ms};

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// List the subscriptions (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// A subscription's delivery log, the newest event first.
    Deliveries {
        id: Uuid,
        #[arg(long, value_parser = ["pending", "delivered", "failed"])]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
        /// Show deliveries of events older than this position (the last of the previous page).
        #[arg(long)]
        cursor: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Send given-up (failed) deliveries again, each with a fresh set of attempts: every one
    /// of the subscription, or those given with --delivery-id.
    Redeliver {
        id: Uuid,
        #[arg(long = "delivery-id")]
        delivery_ids: Vec<i64>,
        #[arg(long)]
        reason: Option<String>,
        /// Who is acting (default: $USER); kept in the audit log.
        #[arg(long)]
        actor: Option<String>,
    },
}

pub async fn run(db: &DatabaseConnection, cmd: WebhooksCommand) -> anyhow::Result<()> {
    match cmd {
        WebhooksCommand::List { json } => {
            let hooks = subscriptions::list(db).await?;
            if json {
                let dtos: Vec<Webhook> = hooks.into_iter().map(Webhook::from).collect();
                println!("{}", dtos.to_json_string());
                return Ok(());
            }
            let all = |list: Vec<String>| {
                if list.is_empty() {
                    "all".to_owned()
                } else {
                    list.join(",")
                }
            };
            let mut table = Table::new();
            table
                .load_preset(UTF8_BORDERS_ONLY)
                .set_header(["id", "url", "kinds", "states", "position", "created"]);
            for w in hooks {
                table.add_row([
                    w.id.to_string(),
                    w.url.clone(),
                    all(w.kind_list()),
                    all(w.state_list()),
                    w.cursor.to_string(),
                    from_ms(w.created_at_ms).to_rfc3339(),
                ]);
            }
            println!("{table}");
        }
        WebhooksCommand::Deliveries {
            id,
            status,
            limit,
            cursor,
            json,
        } => {
            let items = subscriptions::deliveries(db, db, id, status.as_deref(), cursor, limit)
                .await?
                .items;
            if json {
                let dtos: Vec<Delivery> = items.into_iter().map(Delivery::from).collect();
                println!("{}", dtos.to_json_string());
                return Ok(());
            }
            let mut table = Table::new();
            table.load_preset(UTF8_BORDERS_ONLY).set_header([
                "id",
                "position",
                "workflow",
                "status",
                "attempts",
                "last answer",
                "last error",
            ]);
            for d in items {
                table.add_row([
                    d.id.to_string(),
                    d.position.to_string(),
                    d.workflow_id.to_string(),
                    d.status,
                    d.attempts.to_string(),
                    d.last_status_code
                        .map(|c| c.to_string())
                        .unwrap_or_default(),
                    d.last_error.unwrap_or_default(),
                ]);
            }
            println!("{table}");
        }
        WebhooksCommand::Redeliver {
            id,
            delivery_ids,
            reason,
            actor,
        } => {
            let actor = cli_actor(actor);
            let reason = reason.as_deref();
            let clock = Clock::system();
            let n = subscriptions::redeliver(db, &actor, id, &delivery_ids, reason, &clock).await?;
            println!("redeliver: {n} deliveries of webhook {id} requeued");
        }
    }
    Ok(())
}
