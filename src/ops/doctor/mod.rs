//! `mintflow doctor` and `GET /v1/doctor`: checks the database against the chain and against
//! itself, and reports each inconsistency with the workflows concerned and what to run.
//!
//! Bounded on any table size: the checks of finished work read a sample (the newest
//! `sample` confirmed mints and payments), and the checks of stuck work read at most
//! `sample` rows each through partial indexes. `fix` applies the repairs that cannot lose or
//! duplicate anything (waking workflows, cancelling mints whose payment ended), each one
//! recorded in the audit log.
mod fix;
pub mod latest;
mod local;
mod mints;
mod payments;
pub mod report;
mod signer;

use alloy::primitives::Address;
use alloy::providers::RootProvider;
use sea_orm::{DatabaseConnection, DbErr};

use crate::chain::Chain;
use crate::config::Settings;
use crate::store::time::Clock;
pub use fix::fix;
use report::{CheckRun, DoctorReport, Finding, Severity};

/// The default of `--sample`.
pub const DEFAULT_SAMPLE: u64 = 1000;
/// The default of `--stuck-after-minutes`.
pub const DEFAULT_STUCK_MINUTES: u64 = 15;
/// Node calls in flight at once (one per sampled mint or payment).
const PARALLEL_CALLS: usize = 16;

#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Most rows each check reads.
    pub sample: u64,
    /// How long a lease may have expired, or a transaction stayed unmined, before it counts.
    pub stuck_after_minutes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sample: DEFAULT_SAMPLE,
            stuck_after_minutes: DEFAULT_STUCK_MINUTES,
        }
    }
}

impl Options {
    /// What counts as stuck: a time before this, read on `clock`.
    fn stuck_before_ms(&self, clock: &Clock) -> i64 {
        clock.ms_ago(self.stuck_after_minutes.saturating_mul(60))
    }
}

/// The chain as the doctor reads it: views only, no signing key needed.
pub struct Node {
    pub provider: RootProvider,
    pub chain_id: u64,
    /// The signer the service sends with, when known: its balance is checked against the
    /// queue. (Nonces are checked for every signer stored for the chain.)
    pub signer: Option<Address>,
}

impl Node {
    /// The node of a running service's pipeline.
    pub fn of(chain: &Chain) -> Node {
        Node {
            provider: chain.provider().clone(),
            chain_id: chain.chain_id(),
            signer: Some(chain.signer()),
        }
    }
}

/// Why a check could not finish.
enum Failure {
    Db(DbErr),
    /// The node did not answer (redacted: no URL).
    Node(String),
}

impl From<DbErr> for Failure {
    fn from(e: DbErr) -> Self {
        Failure::Db(e)
    }
}

/// A node failure of `what`, in words safe to show.
fn node_failure(what: impl std::fmt::Display, redacted: impl std::fmt::Display) -> Failure {
    Failure::Node(format!("{what}: {redacted}"))
}

/// What one check examined and found.
struct Outcome {
    examined: u64,
    findings: Vec<Finding>,
}

/// Collects the checks' outcomes into the report.
struct Collector {
    checks: Vec<CheckRun>,
    findings: Vec<Finding>,
    node_failures: Vec<String>,
}

impl Collector {
    fn add(&mut self, name: &str, outcome: Result<Outcome, Failure>) -> Result<(), DbErr> {
        let (examined, findings, skipped) = match outcome {
            Ok(o) => (o.examined, o.findings, None),
            Err(Failure::Db(e)) => return Err(e),
            Err(Failure::Node(why)) => {
                self.node_failures.push(name.to_owned());
                (0, Vec::new(), Some(why))
            }
        };
        self.checks.push(CheckRun {
            name: name.into(),
            examined,
            findings: findings.len() as u64,
            skipped,
        });
        self.findings.extend(findings);
        Ok(())
    }

    fn skip(&mut self, name: &str, why: &str) {
        self.checks.push(CheckRun {
            name: name.into(),
            examined: 0,
            findings: 0,
            skipped: Some(why.into()),
        });
    }
}

/// Names of the checks that need the chain, in report order.
const CHAIN_CHECKS: [&str; 6] = [
    "confirmed_mints",
    "confirmed_payments",
    "tokens",
    "nonces",
    "signer_balance",
    "token_supply",
];

/// Runs every check, its "stuck" measured on `clock`; a node that does not answer skips the
/// checks that need it (and is a finding), only a database failure is an error.
pub async fn run(
    db: &DatabaseConnection,
    node: Option<&Node>,
    settings: &Settings,
    opts: &Options,
    clock: &Clock,
) -> Result<DoctorReport, DbErr> {
    let mut out = Collector {
        checks: Vec::new(),
        findings: Vec::new(),
        node_failures: Vec::new(),
    };
    out.add("stranded_mints", local::stranded_mints(db, opts).await)?;
    out.add(
        "expired_leases",
        local::expired_leases(db, opts, clock).await,
    )?;
    match node {
        Some(node) => {
            let stuck = local::stuck_txs(db, node, opts, clock).await;
            out.add("stuck_transactions", stuck)?;
            out.add("confirmed_mints", mints::confirmed(db, node, opts).await)?;
            out.add(
                "confirmed_payments",
                payments::confirmed(db, node, opts).await,
            )?;
            out.add("tokens", mints::token_code(db, node).await)?;
            out.add("nonces", signer::nonces(db, node).await)?;
            match node.signer {
                Some(address) => {
                    let balance = signer::balance(db, node, address, settings).await;
                    out.add("signer_balance", balance)?;
                }
                None => out.skip("signer_balance", "no signer configured"),
            }
            out.add("token_supply", mints::supply(db, node).await)?;
        }
        None => {
            out.skip("stuck_transactions", "no chain configured (RPC_URL)");
            for name in CHAIN_CHECKS {
                out.skip(name, "no chain configured (RPC_URL)");
            }
        }
    }
    if !out.node_failures.is_empty() {
        out.findings.push(
            Finding::new(
                "node_unavailable",
                Severity::Error,
                format!(
                    "the node did not answer, so these checks did not run: {}",
                    out.node_failures.join(", ")
                ),
            )
            .suggest("mintflow doctor"),
        );
    }
    Ok(DoctorReport {
        clean: out.findings.is_empty(),
        sample: opts.sample,
        stuck_after_minutes: opts.stuck_after_minutes,
        checks: out.checks,
        findings: out.findings,
        repairs: Vec::new(),
        generated_at: chrono::Utc::now(),
    })
}
