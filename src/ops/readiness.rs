//! Readiness: can this process do its work now? The database answers and its migrations are
//! all applied; with a chain, the node answers and the signer can pay for the next batches.
//! A process without a chain is ready without the chain checks. `/ready` is public, so a
//! check is a name and a verdict: what was found (hosts, balances, the node's words) goes to
//! the server log when a check fails.
use alloy::primitives::U256;
use alloy::providers::Provider;
use sea_orm::DatabaseConnection;

use super::{DATABASE_TIMEOUT, ask_chain};
use crate::chain::Chain;
use crate::config::Settings;
use crate::workflows::batcher;

/// The signer counts as funded when it can pay this many full mint batches (`max_batch_size`
/// mints each, at the batcher's gas estimate) at the max fee per gas the pipeline would offer
/// now: enough to keep minting while an operator is paged and tops it up.
pub const FUNDED_BATCHES: u64 = 10;

/// One check: `database`, `migrations`, `rpc` or `signer_funded`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
}

impl Check {
    fn new(name: &'static str, ok: bool) -> Check {
        Check { name, ok }
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
                .map(|name| Check::new(name, true))
                .into(),
        }
    });
    checks.extend(chain_checks);
    checks
}

async fn database_checks(db: &DatabaseConnection) -> Vec<Check> {
    let answer = tokio::time::timeout(DATABASE_TIMEOUT, crate::store::migrations_current(db)).await;
    match answer {
        Ok(Ok(current)) => {
            if !current {
                tracing::warn!("readiness: migrations are pending: run `mintflow migrate`");
            }
            vec![
                Check::new("database", true),
                Check::new("migrations", current),
            ]
        }
        Ok(Err(e)) => {
            // The database's words stay in the log: they can name hosts or credentials.
            tracing::warn!(error = %e, "readiness: database unreachable");
            unreachable_database()
        }
        Err(_) => {
            tracing::warn!(
                "readiness: the database gave no answer within {}s",
                DATABASE_TIMEOUT.as_secs()
            );
            unreachable_database()
        }
    }
}

fn unreachable_database() -> Vec<Check> {
    vec![
        Check::new("database", false),
        Check::new("migrations", false),
    ]
}

async fn chain_checks(chain: &Chain, settings: &Settings) -> Vec<Check> {
    let provider = chain.provider();
    let (block, balance, fees) = tokio::join!(
        ask_chain(provider.get_block_number()),
        ask_chain(provider.get_balance(chain.signer())),
        ask_chain(chain.network_fees()),
    );
    if let Err(e) = &block {
        // The node's errors can quote the RPC URL, which often carries an API key.
        tracing::warn!(error = %e, "readiness: chain node unreachable");
    }
    let rpc = Check::new("rpc", block.is_ok());
    let funded = match (balance, fees) {
        (Ok(balance), Ok(fees)) => {
            let gas = batcher::estimated_batch_gas(settings.max_batch_size) * FUNDED_BATCHES;
            let needed = U256::from(gas) * U256::from(fees.max_fee_per_gas);
            let funded = balance >= needed;
            if !funded {
                tracing::warn!(
                    signer = %chain.signer(),
                    %balance,
                    %needed,
                    max_fee_per_gas = fees.max_fee_per_gas,
                    batches = FUNDED_BATCHES,
                    batch_size = settings.max_batch_size,
                    "readiness: the signer cannot pay for the next mint batches"
                );
            }
            Check::new("signer_funded", funded)
        }
        _ => Check::new("signer_funded", false),
    };
    vec![rpc, funded]
}
