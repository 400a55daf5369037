//! How the pipeline reaches its node: the process settings and the HTTP provider.
use alloy::primitives::Address;
use alloy::providers::RootProvider;

use super::ChainError;

/// Process settings of the pipeline. `Debug` leaves the RPC URL out: hosted nodes carry their
/// API key in it.
#[derive(Clone)]
pub struct ChainConfig {
    pub rpc_url: String,
    /// The chain the node must run (`CHAIN_ID`); a node answering another is refused.
    pub expected_chain_id: Option<u64>,
    /// How long one call to the node may take: a node that hangs fails the call as
    /// `rpc_unavailable` instead of holding a step, a sender pass or a request forever.
    pub rpc_timeout: std::time::Duration,
    /// How often the sender looks at its transactions when nothing wakes it.
    pub poll_ms: u64,
    /// Our `Settler` contract (`SETTLER_ADDRESS`): with one, gasless and x402 payments are
    /// settled in batches through it; without, each in a transaction of its own.
    pub settler: Option<Address>,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            rpc_url: "http://127.0.0.1:8545".into(),
            expected_chain_id: None,
            rpc_timeout: DEFAULT_RPC_TIMEOUT,
            poll_ms: 500,
            settler: None,
        }
    }
}

/// The default of `ChainConfig::rpc_timeout` (`--rpc-timeout-secs`).
pub const DEFAULT_RPC_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl std::fmt::Debug for ChainConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainConfig")
            .field("rpc_url", &"***")
            .field("expected_chain_id", &self.expected_chain_id)
            .field("rpc_timeout", &self.rpc_timeout)
            .field("poll_ms", &self.poll_ms)
            .field("settler", &self.settler)
            .finish()
    }
}

/// An HTTP provider for the node at `rpc_url` whose every call gives up after `timeout` (also
/// what `mintflow doctor` reads the chain with: it needs no signer).
pub fn http_provider(
    rpc_url: &str,
    timeout: std::time::Duration,
) -> Result<RootProvider, ChainError> {
    use alloy::transports::http::{Http, reqwest};
    // The parse error would quote the URL, and with it any API key in it.
    let url: reqwest::Url = rpc_url
        .parse()
        .map_err(|_| ChainError::Failed("RPC_URL is not a valid URL".into()))?;
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| ChainError::Failed(format!("cannot build the node's HTTP client: {e}")))?;
    let is_local = alloy::transports::utils::guess_local_url(url.as_str());
    Ok(RootProvider::new(alloy::rpc::client::RpcClient::new(
        Http::with_client(client, url),
        is_local,
    )))
}
