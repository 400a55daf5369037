//! `mintflow import-legacy --from postgres://old-db [--token ADDRESS] [--dry-run] [--json]`:
//! the old server's queue and settings into mintflow (`ops::import_legacy`). The report goes
//! to stdout; progress lines to stderr, every few seconds while the mints are imported.
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use sea_orm::DatabaseConnection;

use crate::ops::import_legacy::{self, Options, Report};

/// How often a long import says how far it is.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, clap::Args)]
pub struct ImportLegacyArgs {
    /// The old server's PostgreSQL database (`postgres://...`); read only. Prefer the
    /// environment for a URL with a password: `ps` shows flags.
    #[arg(long, env = "LEGACY_DATABASE_URL", hide_env_values = true)]
    pub from: String,
    /// The token the old server minted (must be in mintflow's token registry); default: the
    /// registry's only token.
    #[arg(long)]
    pub token: Option<Address>,
    /// The USDC contract mintflow takes payments in: with `--pay-to`, the old server's
    /// finished payments are imported.
    #[arg(long, env = "USDC_ADDRESS", requires = "pay_to")]
    pub usdc_address: Option<Address>,
    /// Who mintflow's payments pay (`PAY_TO`).
    #[arg(long, env = "PAY_TO", requires = "usdc_address")]
    pub pay_to: Option<Address>,
    /// Print what would be imported, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(db: &DatabaseConnection, args: ImportLegacyArgs) -> anyhow::Result<()> {
    let opts = Options {
        from: args.from,
        token: args.token,
        payments_to: args.usdc_address.zip(args.pay_to),
        dry_run: args.dry_run,
    };
    let mut last = Instant::now();
    let report = import_legacy::run(db, &opts, |done, total| {
        if last.elapsed() >= PROGRESS_EVERY || done == total {
            eprintln!("import-legacy: {done} of {total} mint_queue items");
            last = Instant::now();
        }
    })
    .await?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", text(&report));
    }
    Ok(())
}

/// The report for a person.
fn text(r: &Report) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    if r.dry_run {
        line("dry run: nothing was written; this is what an import would do".into());
    }
    line(format!(
        "mint_queue: {} items read for token {}, {} imported before",
        r.mints.read, r.token, r.mints.already_imported
    ));
    for (state, n) in &r.mints.created {
        line(format!("  {n} new {state} mints"));
    }
    if r.payments.read > 0 {
        line(format!(
            "payment_queue: {} payments read, {} imported before",
            r.payments.read, r.payments.already_imported
        ));
    }
    for (state, n) in &r.payments.created {
        line(format!("  {n} new {state} payments"));
    }
    for s in &r.settings {
        let target = s
            .key
            .zip(s.value)
            .map(|(k, v)| format!(" -> {k} = {v}"))
            .unwrap_or_default();
        let reason = s
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        line(format!(
            "setting {} = {}{target}: {:?}{reason}",
            s.old_key, s.old_value, s.outcome
        ));
    }
    for t in &r.tables_not_imported {
        line(format!(
            "{} ({} rows) not imported: {}",
            t.table, t.rows, t.why
        ));
    }
    if !r.not_imported.is_empty() {
        line(format!("{} rows not imported:", r.not_imported.len()));
    }
    for n in &r.not_imported {
        let id = n.id.as_deref().unwrap_or("(no id)");
        line(format!("  {} {id}: {}", n.table, n.reason));
    }
    out
}
