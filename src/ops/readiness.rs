//! Readiness: can this process do its work now? The database answers and its migrations are
//! all applied; with a chain, the node answers and the signer can pay for the next batches.
//! A process without a chain is ready without the chain checks.
use alloy::primitives::U256;
use alloy::providers::Provider;
use sea_orm::{DatabaseConnection, DbErr};

use super::{DATABASE_TIMEOUT, ask_chain};
use crate::chain::Chain;
use crate::config::Settings;
use crate::workflows::batcher;

/// The signer counts as funded when it can pay this many full mint batches (`max_batch_size`
/// mints each, at the batcher's gas estimate) at the max fee per gas the pipeline would offer
/// now: enough to keep minting while an operator is paged and tops it up.
pub const FUNDED_BATCHES: u64 = 10;

/// One check: `database`, `migrations`, `rpc` or `signer_funded`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    /// What was found, or what is wrong.
    pub detail: String,
}

impl Check {
    fn new(name: &'static str, ok: bool, detail: impl Into<String>) -> Check {
        Check {
            name,
            ok,
            detail: detail.into(),
        }
    }
}

/// Runs every check at once (the node's with `CHAIN_TIMEOUT`).
pub async fn checks(
    db: &DatabaseConnection,
    chain: Option<&Chain>,
    settings: &Settings,
) -> Vec<Check> {
    let (mut checks, chain_checks) = tokio::join!(database_checks(db), async {
        match chain {
            Some(chain) => chain_checks(chain, settings).await,
            None => ["rpc", "signer_funded"]
                .map(|name| Check::new(name, true, "no chain configured"))
                .into(),
        }
    });
    checks.extend(chain_checks);
    checks
}

async fn database_checks(db: &DatabaseConnection) -> Vec<Check> {
    let answer = tokio::time::timeout(DATABASE_TIMEOUT, crate::store::migrations_current(db))
        .await
        .unwrap_or_else(|_| {
            Err(DbErr::Custom(format!(
                "no answer within {}s",
                DATABASE_TIMEOUT.as_secs()
            )))
        });
    match answer {
        Ok(current) => vec![
            Check::new("database", true, "reachable"),
            if current {
                Check::new("migrations", true, "every migration is applied")
            } else {
                Check::new(
                    "migrations",
                    false,
                    "migrations are pending: run `mintflow migrate`",
                )
            },
        ],
        Err(e) => {
            // The database's words stay in the log: they can name hosts or credentials.
            tracing::warn!(error = %e, "readiness: database unreachable");
            vec![
                Check::new("database", false, "unreachable (see the server log)"),
                Check::new("migrations", false, "unknown: the database is unreachable"),
            ]
        }
    }
}

async fn chain_checks(chain: &Chain, settings: &Settings) -> Vec<Check> {
    let provider = chain.provider();
    let (block, balance, fees) = tokio::join!(
        ask_chain(provider.get_block_number()),
        ask_chain(provider.get_balance(chain.signer())),
        ask_chain(chain.network_fees()),
    );
    let rpc = match &block {
        Ok(block) => Check::new(
            "rpc",
            true,
            format!("chain {} at block {block}", chain.chain_id()),
        ),
        Err(e) => {
            // The node's errors can quote the RPC URL, which often carries an API key.
            tracing::warn!(error = %e, "readiness: chain node unreachable");
            Check::new("rpc", false, "the node did not answer (see the server log)")
        }
    };
    let funded = match (balance, fees) {
        (Ok(balance), Ok(fees)) => {
            let gas = batcher::estimated_batch_gas(settings.max_batch_size) * FUNDED_BATCHES;
            let needed = U256::from(gas) * U256::from(fees.max_fee_per_gas);
            Check::new(
                "signer_funded",
                balance >= needed,
                format!(
                    "{} holds {balance} wei; {FUNDED_BATCHES} batches of {} mints need {needed} wei at {} wei/gas",
                    chain.signer(),
                    settings.max_batch_size,
                    fees.max_fee_per_gas
                ),
            )
        }
        _ => Check::new("signer_funded", false, "unknown: the node did not answer"),
    };
    vec![rpc, funded]
}
