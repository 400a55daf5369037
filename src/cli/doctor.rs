//! `mintflow doctor`: checks the database against the chain and itself (`ops::doctor`),
//! prints each finding, and with `--fix` applies the safe repairs.
use alloy::providers::Provider;
use anyhow::Context;
use poem_openapi::types::ToJSON;

use super::chain::ChainArgs;
use crate::config::SettingsHandle;
use crate::ops::doctor::report::{DoctorReport, Severity};
use crate::ops::doctor::{self, DEFAULT_SAMPLE, DEFAULT_STUCK_MINUTES, Node, Options};
use crate::store::{self, time::Clock};

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Most rows each check reads: the newest N confirmed mints and N confirmed payments are
    /// checked against the chain, and at most N stranded mints, expired leases and stuck
    /// transactions are listed. Older confirmed work is not checked.
    #[arg(long, default_value_t = DEFAULT_SAMPLE, value_parser = clap::value_parser!(u64).range(1..))]
    pub sample: u64,
    /// Minutes a lease may have expired, or a transaction may have stayed unmined, before
    /// it is reported.
    #[arg(long, default_value_t = DEFAULT_STUCK_MINUTES)]
    pub stuck_after_minutes: u64,
    /// Print the report as JSON (the schema of `GET /v1/doctor`).
    #[arg(long)]
    pub json: bool,
    /// Apply the safe repairs (wake workflows whose lease expired, cancel mints whose payment
    /// failed), each recorded in the audit log; everything else is only reported.
    #[arg(long)]
    pub fix: bool,
    /// Who repairs, in the audit log (default: $USER).
    #[arg(long)]
    pub actor: Option<String>,
    /// The chain checks need RPC_URL; a signer (as for `serve`) adds its balance check. Without
    /// RPC_URL only the database is checked.
    #[command(flatten)]
    pub chain: ChainArgs,
}

/// Runs the checks and prints the report; whether it is clean (after repairs, with `--fix`).
pub async fn run(database_url: &str, args: DoctorArgs) -> anyhow::Result<bool> {
    let db = store::connect(database_url)
        .await
        .context("connecting to the database (DATABASE_URL)")?;
    let settings = SettingsHandle::load(&db)
        .await
        .context("loading settings")?
        .get();
    let node = match args.chain.rpc_url() {
        Some(url) => Some(connect(&args.chain, url).await?),
        None => None,
    };
    let opts = Options {
        sample: args.sample,
        stuck_after_minutes: args.stuck_after_minutes,
    };
    let clock = Clock::system();
    let mut report = doctor::run(&db, node.as_ref(), &settings, &opts, &clock).await?;
    if args.fix {
        let actor = super::workflows::cli_actor(args.actor);
        doctor::fix(&db, &mut report, &actor, &clock).await?;
    }
    if args.json {
        println!("{}", report.to_json_string());
    } else {
        print_report(&report);
    }
    Ok(report.clean)
}

/// The node at `url`, with the chain id pinned by `CHAIN_ID` checked.
async fn connect(chain: &ChainArgs, url: &str) -> anyhow::Result<Node> {
    let config = chain.chain_config(url);
    let provider = crate::chain::http_provider(url, config.rpc_timeout)?;
    let chain_id = provider
        .get_chain_id()
        .await
        .context("asking the node at RPC_URL for its chain id")?;
    if let Some(expected) = config.expected_chain_id {
        anyhow::ensure!(
            expected == chain_id,
            "the node at RPC_URL runs chain {chain_id}, but CHAIN_ID is {expected}"
        );
    }
    let signer = if chain.signer.is_set() {
        Some(chain.signer.load_pool()?[0].address())
    } else {
        None
    };
    Ok(Node {
        provider,
        chain_id,
        signer,
    })
}

fn print_report(report: &DoctorReport) {
    println!(
        "checked: the newest {} confirmed mints and payments; stuck means over {} minutes",
        report.sample, report.stuck_after_minutes
    );
    for check in &report.checks {
        match &check.skipped {
            Some(why) => println!("  {:<20} skipped: {why}", check.name),
            None => println!(
                "  {:<20} {} examined, {} finding(s)",
                check.name, check.examined, check.findings
            ),
        }
    }
    for repair in &report.repairs {
        let ids: Vec<String> = repair
            .workflow_ids
            .iter()
            .map(|id| id.to_string())
            .collect();
        println!(
            "repaired {} ({}): {}",
            repair.code,
            repair.action,
            ids.join(", ")
        );
    }
    if report.clean {
        println!("no findings");
        return;
    }
    for f in &report.findings {
        let severity = match f.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        println!("{severity} {}: {}", f.code, f.message);
        if !f.workflow_ids.is_empty() {
            let ids: Vec<String> = f.workflow_ids.iter().map(|id| id.to_string()).collect();
            println!("  workflows: {}", ids.join(", "));
        }
        if let Some(command) = &f.suggested_command {
            println!("  run: {command}");
        }
    }
    println!("{} finding(s)", report.findings.len());
}
