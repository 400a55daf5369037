//! `mintflow workflows ...`: the operator's view from a shell, reading the same database.
use clap::Subcommand;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use poem_openapi::types::ToJSON;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::app::workflows::{self, Action};
use crate::engine::{Client, Waker};
use crate::store::time::{Clock, from_ms};
use crate::store::workflows::{Actor, ListFilter, Status};
use crate::store::{self, entity::workflow};

#[derive(Debug, Subcommand)]
pub enum WorkflowsCommand {
    /// List workflows, newest first.
    List {
        #[arg(long)]
        kind: Option<String>,
        /// running, waiting, completed, failed, cancelled or needs_migration.
        #[arg(long, value_parser = parse_status)]
        status: Option<Status>,
        #[arg(long)]
        state: Option<String>,
        /// Only this payer (0x address).
        #[arg(long)]
        payer: Option<String>,
        /// Only this token contract (0x address).
        #[arg(long)]
        token: Option<String>,
        /// The workflows of a transaction hash: their own, or any signed attempt of one they sent.
        #[arg(long)]
        tx_hash: Option<String>,
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Only workflows created at least this many seconds ago.
        #[arg(long)]
        older_than_secs: Option<u64>,
        /// Only the dead letters: failed and needs_migration.
        #[arg(long)]
        dead_letters: bool,
        #[arg(long, default_value_t = 50)]
        limit: u64,
        /// Show workflows older than this id (the last id of the previous page).
        #[arg(long)]
        cursor: Option<Uuid>,
        #[arg(long)]
        json: bool,
    },
    /// Show one workflow.
    Show {
        id: Uuid,
        #[arg(long)]
        json: bool,
    },
    /// Show a workflow's history.
    History {
        id: Uuid,
        #[arg(long)]
        json: bool,
    },
    /// Retry a failed or cancelled workflow (and put back the children its end cancelled).
    Retry {
        id: Uuid,
        #[arg(long)]
        reason: Option<String>,
        /// Who is acting (default: $USER).
        #[arg(long)]
        actor: Option<String>,
    },
    /// Cancel a running, waiting or parked (needs_migration) workflow.
    Cancel {
        id: Uuid,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        actor: Option<String>,
    },
}

fn parse_status(s: &str) -> Result<Status, String> {
    Status::parse(s).ok_or_else(|| {
        format!(
            "unknown status `{s}`; one of {}",
            Status::ALL.map(|s| s.as_str()).join(", ")
        )
    })
}

pub async fn run(db: &DatabaseConnection, cmd: WorkflowsCommand) -> anyhow::Result<()> {
    match cmd {
        WorkflowsCommand::List {
            kind,
            status,
            state,
            payer,
            token,
            tx_hash,
            idempotency_key,
            older_than_secs,
            dead_letters,
            limit,
            cursor,
            json,
        } => {
            let filter = ListFilter {
                kind,
                status,
                state,
                payer: payer.map(|a| a.to_lowercase()),
                token: token.map(|a| a.to_lowercase()),
                tx_hash: tx_hash.map(|h| h.to_lowercase()),
                idempotency_key,
                dead_letters,
                created_before_ms: older_than_secs.map(|secs| Clock::system().ms_ago(secs)),
                before_id: cursor,
                // One more than shown, as every page asks for.
                limit: limit + 1,
                ..Default::default()
            };
            let items = workflows::list(db, &filter).await?.items;
            if json {
                let dtos: Vec<_> = items
                    .into_iter()
                    .map(crate::api::workflows::Workflow::from)
                    .collect();
                println!("{}", dtos.to_json_string());
            } else {
                let mut table = Table::new();
                table.load_preset(UTF8_BORDERS_ONLY).set_header([
                    "id",
                    "kind",
                    "status",
                    "state",
                    "attempt",
                    "created",
                    "last error",
                ]);
                for w in items {
                    table.add_row([
                        w.id.to_string(),
                        w.kind,
                        w.status,
                        w.state,
                        w.attempt.to_string(),
                        from_ms(w.created_at_ms).to_rfc3339(),
                        w.last_error.unwrap_or_default(),
                    ]);
                }
                println!("{table}");
            }
        }
        WorkflowsCommand::Show { id, json } => {
            let w = workflows::get(db, id).await?;
            if json {
                println!(
                    "{}",
                    crate::api::workflows::Workflow::from(w).to_json_string()
                );
            } else {
                print_workflow(&w);
            }
        }
        WorkflowsCommand::History { id, json } => {
            let timeline = workflows::timeline(db, id).await?;
            if json {
                let history = crate::api::workflows::History::from(timeline);
                println!("{}", history.to_json_string());
            } else {
                print_timeline(timeline);
            }
        }
        WorkflowsCommand::Retry { id, reason, actor } => {
            let client = Client::new(db.clone(), Waker::default());
            let w = workflows::retry(&client, id, &actor_of(actor, reason)).await?;
            report(id, Action::Retry, &w);
        }
        WorkflowsCommand::Cancel { id, reason, actor } => {
            let client = Client::new(db.clone(), Waker::default());
            let w = workflows::cancel(&client, id, &actor_of(actor, reason)).await?;
            report(id, Action::Cancel, &w);
        }
    }
    Ok(())
}

fn actor_of(actor: Option<String>, reason: Option<String>) -> Actor {
    Actor {
        actor: cli_actor(actor),
        via: "cli".into(),
        reason,
    }
}

/// Who acts from the shell: `--actor`, else `$USER`, else `cli`.
pub(super) fn cli_actor(actor: Option<String>) -> String {
    actor
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "cli".into())
}

fn report(id: Uuid, action: Action, w: &workflow::Model) {
    println!(
        "{action}: workflow {id} is now {} in state {}",
        w.status, w.state
    );
}

fn print_workflow(w: &workflow::Model) {
    let mut table = Table::new();
    table.load_preset(UTF8_BORDERS_ONLY);
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let time = |v: Option<i64>| v.map(|t| from_ms(t).to_rfc3339()).unwrap_or_default();
    for (k, v) in [
        ("id", w.id.to_string()),
        ("kind", w.kind.clone()),
        ("status", w.status.clone()),
        ("state", w.state.clone()),
        ("attempt", w.attempt.to_string()),
        ("version", w.version.to_string()),
        ("priority", w.priority.to_string()),
        ("run at", time(w.run_at_ms)),
        ("lease owner", opt(&w.lease_owner)),
        ("lease until", time(w.lease_until_ms)),
        ("idempotency key", opt(&w.idempotency_key)),
        (
            "parent",
            w.parent_id.map(|p| p.to_string()).unwrap_or_default(),
        ),
        ("last error", opt(&w.last_error)),
        ("created", time(Some(w.created_at_ms))),
        ("updated", time(Some(w.updated_at_ms))),
        ("finished", time(w.finished_at_ms)),
        (
            "data",
            serde_json::to_string_pretty(&w.data).unwrap_or_default(),
        ),
    ] {
        table.add_row([k.to_string(), v]);
    }
    println!("{table}");
}

/// The timeline as tables: the workflow and its family, its transitions, its transactions.
fn print_timeline(t: store::timeline::Timeline) {
    print_workflow(&t.workflow);
    if let Some(p) = &t.parent {
        println!("parent: {} ({} {}/{})", p.id, p.kind, p.state, p.status);
    }
    for c in &t.children {
        println!("child:  {} ({} {}/{})", c.id, c.kind, c.state, c.status);
    }
    let mut table = Table::new();
    table.load_preset(UTF8_BORDERS_ONLY).set_header([
        "at", "+ms", "event", "from", "to", "status", "attempt", "worker", "detail",
    ]);
    let mut previous: Option<i64> = None;
    for e in t.events {
        let since = previous
            .map(|p| (e.at_ms - p).to_string())
            .unwrap_or_default();
        previous = Some(e.at_ms);
        table.add_row([
            from_ms(e.at_ms).to_rfc3339(),
            since,
            e.event,
            e.from_state.unwrap_or_default(),
            e.to_state,
            e.status,
            e.attempt.to_string(),
            e.worker.unwrap_or_default(),
            e.detail.map(|d| d.to_string()).unwrap_or_default(),
        ]);
    }
    println!("{table}");
    if t.txs.is_empty() {
        return;
    }
    let mut txs = Table::new();
    txs.load_preset(UTF8_BORDERS_ONLY).set_header([
        "tx",
        "purpose",
        "nonce",
        "status",
        "attempt hash",
        "kind",
        "attempt status",
        "max fee",
        "priority fee",
    ]);
    for (tx, attempts) in t.txs {
        for a in attempts {
            txs.add_row([
                tx.id.to_string(),
                tx.purpose.clone(),
                tx.nonce.to_string(),
                tx.status.clone(),
                a.hash,
                a.kind,
                a.status,
                a.max_fee_per_gas,
                a.max_priority_fee_per_gas,
            ]);
        }
    }
    println!("{txs}");
}
