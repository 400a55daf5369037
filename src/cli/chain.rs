//! Chain options shared by `serve`, `deploy` and `dev`, and a check that the database belongs
//! to the chain the node runs (a local anvil and an in-process sender are `chain::local`).
use std::path::PathBuf;
use std::time::Duration;

use alloy::primitives::Address;
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use anyhow::Context;

use crate::chain::{Chain, ChainConfig, signer};
use crate::config::{Secret, SettingsHandle};
use crate::service::{ChainSetup, Contracts};
use crate::store;

/// Who signs: shared by `serve`, `deploy` and `dev`.
#[derive(Clone, Debug, clap::Args)]
pub struct SignerArgs {
    /// Hex private key of the signer; never logged. Wins over --keystore. Prefer
    /// --signer-private-key-file or the environment: `ps` shows flags.
    #[arg(long, env = "SIGNER_PRIVATE_KEY", hide_env_values = true)]
    pub signer_private_key: Option<Secret>,
    /// A file holding the signer's hex private key (instead of SIGNER_PRIVATE_KEY).
    #[arg(
        long,
        env = "SIGNER_PRIVATE_KEY_FILE",
        conflicts_with = "signer_private_key"
    )]
    pub signer_private_key_file: Option<PathBuf>,
    /// Encrypted JSON keystore file of the signer (with KEYSTORE_PASSWORD).
    #[arg(long = "keystore", env = "KEYSTORE_PATH")]
    pub keystore: Option<PathBuf>,
    /// A pool of signers: comma-separated hex private keys, the first being the primary (the
    /// admin of what `mintflow deploy` creates); never logged. Wins over the single-key options.
    #[arg(long, env = "SIGNER_PRIVATE_KEYS", hide_env_values = true)]
    pub signer_private_keys: Option<Secret>,
    /// A pool of signers: a directory of encrypted JSON keystore files (all with
    /// KEYSTORE_PASSWORD), in file name order.
    #[arg(long, env = "KEYSTORE_DIR", conflicts_with = "signer_private_keys")]
    pub keystore_dir: Option<PathBuf>,
    /// Password of the keystore file(s); never logged.
    #[arg(long, env = "KEYSTORE_PASSWORD", hide_env_values = true)]
    pub keystore_password: Option<Secret>,
}

impl SignerArgs {
    /// Whether a key, a key file or a keystore was given.
    pub fn is_set(&self) -> bool {
        self.signer_private_key
            .as_ref()
            .is_some_and(|k| !k.expose().trim().is_empty())
            || self.signer_private_key_file.is_some()
            || self.keystore.is_some()
            || self
                .signer_private_keys
                .as_ref()
                .is_some_and(|k| !k.expose().trim().is_empty())
            || self.keystore_dir.is_some()
    }

    /// Loads the signer pool: `SIGNER_PRIVATE_KEYS` or `KEYSTORE_DIR`, else the one signer of
    /// `load` (a pool of one). The first is the primary.
    pub fn load_pool(&self) -> anyhow::Result<Vec<PrivateKeySigner>> {
        let pool = signer::load_pool(
            self.signer_private_keys.as_ref().map(Secret::expose),
            self.keystore_dir.as_deref(),
            self.keystore_password.as_ref().map(Secret::expose),
        )?;
        match pool {
            Some(pool) => Ok(pool),
            None => Ok(vec![self.load()?]),
        }
    }

    /// Loads the single signer (a clear error names what is missing or wrong, never the key).
    pub fn load(&self) -> anyhow::Result<PrivateKeySigner> {
        let key = Secret::from_value_or_file(
            self.signer_private_key.as_ref(),
            self.signer_private_key_file.as_deref(),
        )?;
        Ok(signer::load(
            key.as_ref().map(Secret::expose),
            self.keystore.as_deref(),
            self.keystore_password.as_ref().map(Secret::expose),
        )?)
    }

    /// The pipeline settings for a node at `rpc_url`.
    pub fn chain_config(&self, rpc_url: &str) -> ChainConfig {
        ChainConfig {
            rpc_url: rpc_url.to_owned(),
            ..ChainConfig::default()
        }
    }
}

/// The chain a process talks to: shared by `serve` and `deploy`.
#[derive(Clone, Debug, clap::Args)]
pub struct ChainArgs {
    /// JSON-RPC URL of the chain node, e.g. `http://127.0.0.1:8545` (its value is not shown in
    /// help, as such URLs often carry an API key).
    #[arg(long, env = "RPC_URL", hide_env_values = true)]
    pub rpc_url: Option<String>,
    /// The chain id the node must answer; another refuses the start (default: any).
    #[arg(long, env = "CHAIN_ID")]
    pub chain_id: Option<u64>,
    /// Seconds one call to the node may take before it fails (and is retried).
    #[arg(long, env = "RPC_TIMEOUT_SECS", default_value_t = crate::chain::DEFAULT_RPC_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub rpc_timeout_secs: u64,
    #[command(flatten)]
    pub signer: SignerArgs,
}

/// The deployed contracts `serve` works with.
#[derive(Clone, Debug, clap::Args)]
pub struct ContractArgs {
    /// The MintToken contract to mint with (`mintflow deploy` prints it).
    #[arg(long, env = "TOKEN_ADDRESS")]
    pub token_address: Option<Address>,
    /// The USDC contract payments are made in (any EIP-3009 token).
    #[arg(long, env = "USDC_ADDRESS")]
    pub usdc_address: Option<Address>,
    /// The USDC contract's EIP-712 domain name.
    #[arg(long, env = "USDC_NAME", default_value = "USD Coin")]
    pub usdc_name: String,
    /// The USDC contract's EIP-712 domain version.
    #[arg(long, env = "USDC_VERSION", default_value = "2")]
    pub usdc_version: String,
    /// Our `Settler` contract (`mintflow deploy` prints it): with one, gasless and x402
    /// payments are settled in batches through it; without, each in its own transaction.
    #[arg(long = "settler", env = "SETTLER_ADDRESS")]
    pub settler_address: Option<Address>,
    /// Who receives payments (default: the signer).
    #[arg(long, env = "PAY_TO")]
    pub pay_to: Option<Address>,
    /// Price of one mint in USDC base units (1000000 = 1 USDC).
    #[arg(long, env = "MINT_PRICE", default_value = "1000000")]
    pub mint_price: alloy::primitives::U256,
    /// Price of one token deployment in USDC base units.
    #[arg(long, env = "DEPLOY_PRICE", default_value = "10000000")]
    pub deploy_price: alloy::primitives::U256,
    /// Comma-separated payees (`payTo`) this server settles x402 payments for as a facilitator
    /// (`/x402/facilitator/*`); empty: none.
    #[arg(long, env = "FACILITATOR_PAY_TO", value_delimiter = ',')]
    pub facilitator_pay_to: Vec<Address>,
}

impl ChainArgs {
    /// The RPC URL, if one is set.
    pub fn rpc_url(&self) -> Option<&str> {
        self.rpc_url.as_deref().filter(|u| !u.trim().is_empty())
    }

    /// The pipeline settings for the node at `rpc_url`: its pinned chain id and timeout.
    pub fn chain_config(&self, rpc_url: &str) -> ChainConfig {
        ChainConfig {
            expected_chain_id: self.chain_id,
            rpc_timeout: Duration::from_secs(self.rpc_timeout_secs),
            ..self.signer.chain_config(rpc_url)
        }
    }

    /// The chain setup when RPC_URL is set (a signer is then required), else `None`.
    pub fn setup(&self, contracts: &ContractArgs) -> anyhow::Result<Option<ChainSetup>> {
        let Some(rpc_url) = self.rpc_url() else {
            if self.signer.is_set() {
                tracing::warn!(
                    "a signer is configured but RPC_URL is not: running without a chain"
                );
            }
            return Ok(None);
        };
        let signers = self
            .signer
            .load_pool()
            .context("RPC_URL is set, so a signer is required")?;
        Ok(Some(ChainSetup {
            config: ChainConfig {
                settler: contracts.settler_address,
                ..self.chain_config(rpc_url)
            },
            signers,
            contracts: Contracts {
                token: contracts.token_address,
                usdc: contracts.usdc_address,
                usdc_name: contracts.usdc_name.clone(),
                usdc_version: contracts.usdc_version.clone(),
                pay_to: contracts.pay_to,
                mint_price: contracts.mint_price,
                deploy_price: contracts.deploy_price,
                facilitator_pay_to: contracts.facilitator_pay_to.clone(),
            },
        }))
    }
}

/// Refuses a database whose nonce for a signer of the pool runs ahead of the node with nothing
/// in flight: its transactions were sent to an earlier instance of this chain (a restarted dev
/// node), and new ones would wait forever for nonces the node never saw.
pub async fn ensure_database_matches_node(chain: &Chain) -> anyhow::Result<()> {
    for lane in chain.lanes() {
        ensure_lane_matches_node(&lane).await?;
    }
    Ok(())
}

async fn ensure_lane_matches_node(chain: &Chain) -> anyhow::Result<()> {
    let chain_id = chain.chain_id() as i64;
    let key = signer::address_key(chain.signer());
    let db = chain.db();
    let open = store::chain::open_txs(db, chain_id, &key).await?;
    let first_unsettled = match open.iter().map(|t| t.nonce).min() {
        Some(n) => n,
        None => {
            let txn = store::begin_write(db).await?;
            let next = store::chain::lock_next_nonce(&txn, chain_id, &key).await?;
            txn.rollback().await?;
            next
        }
    };
    let node = chain
        .provider()
        .get_transaction_count(chain.signer())
        .pending()
        .await
        .context("reading the signer's nonce from the node")? as i64;
    anyhow::ensure!(
        first_unsettled <= node,
        "the database expects nonce {first_unsettled} for {} on chain {} but the node is at \
         {node}: it holds transactions of an earlier instance of this chain (a restarted dev \
         node?); use a fresh DATABASE_URL",
        chain.signer(),
        chain.chain_id()
    );
    Ok(())
}

/// The database a command that talks to the chain works in, migrated, and its settings.
pub async fn open_store(
    database_url: &str,
) -> anyhow::Result<(sea_orm::DatabaseConnection, SettingsHandle)> {
    let db = store::connect(database_url)
        .await
        .context("connecting to the database (DATABASE_URL)")?;
    store::migrate(&db).await.context("applying migrations")?;
    let settings = SettingsHandle::load(&db)
        .await
        .context("loading settings")?;
    Ok((db, settings))
}
