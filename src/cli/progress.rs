//! What a command waiting on the chain waits for: every few seconds a line on stderr (stdout
//! carries the command's result) naming the signer's open transactions, the block the chain is
//! at and the block each one needs; and a warning when the chain stops producing blocks, which
//! a node that mines only on demand (anvil's default) does right after the last transaction.
//!
//! Plain lines, on a terminal too: the command's logs go to the same stderr, and a line
//! rewritten in place would be torn by them.
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::chain::Chain;
use crate::chain::signer::address_key;
use crate::store::{
    self,
    chain::{TxRow, TxStatus},
};

/// How often the waiting command says what it waits for.
const REPORT_EVERY: Duration = Duration::from_secs(5);
/// How often the head block and the open transactions are read.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// Reports on the waits of `chain`'s signer while a command's work runs.
pub struct ChainWait<'a> {
    pub chain: &'a Chain,
    /// Blocks on top of a transaction's block before it is confirmed (the setting in force).
    pub confirmations: i64,
    /// How long without a new block before the command says the chain makes none.
    pub stalled_after: Duration,
    /// What the user can do about a chain that makes no blocks, in this command's terms.
    pub stalled_hint: &'a str,
}

impl ChainWait<'_> {
    /// Runs `work`, reporting until it is done.
    pub async fn around<T>(&self, work: impl Future<Output = T>) -> T {
        tokio::select! {
            done = work => done,
            never = self.report() => match never {},
        }
    }

    async fn report(&self) -> Infallible {
        let signer = address_key(self.chain.signer());
        let chain_id = self.chain.chain_id() as i64;
        let mut look = tokio::time::interval(LOOK_EVERY);
        let mut head: Option<u64> = None;
        let mut head_since = Instant::now();
        let mut reported_at: Option<Instant> = None;
        let mut warned = false;
        loop {
            look.tick().await;
            // A node or database that fails for a moment is reported by the work itself.
            let now_head = self.chain.head().await.ok();
            if now_head.is_some() && now_head != head {
                head = now_head;
                head_since = Instant::now();
                warned = false;
            }
            let open = store::chain::open_txs(self.chain.db(), chain_id, &signer)
                .await
                .unwrap_or_default();
            if open.is_empty() {
                continue;
            }
            let stalled_for = head_since.elapsed();
            let stalled_at = head.filter(|_| !warned && stalled_for >= self.stalled_after);
            // The warning comes right after a fresh line, which says what needs the blocks.
            if stalled_at.is_some() || reported_at.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
                eprintln!("{}", self.waiting_line(&open, head));
                reported_at = Some(Instant::now());
            }
            if let Some(head) = stalled_at {
                eprintln!(
                    "no new block for {} s (the chain is at block {head}): the chain is not \
                     producing blocks, and the transactions above need more. A node that mines \
                     only when it receives a transaction (anvil's default) makes no more. {}",
                    stalled_for.as_secs(),
                    self.stalled_hint
                );
                warned = true;
            }
        }
    }

    /// `waiting for 1 transaction: deploy (nonce 0) mined in block 1, needs block 3 (2
    /// confirmations); the chain is at block 1`.
    fn waiting_line(&self, open: &[TxRow], head: Option<u64>) -> String {
        let txs: Vec<String> = open
            .iter()
            .map(|tx| {
                let what = format!("{} (nonce {})", tx.purpose, tx.nonce);
                match (tx.tx_status(), tx.mined_block) {
                    (Some(TxStatus::Mined), Some(block)) => format!(
                        "{what} mined in block {block}, needs block {} ({} confirmations)",
                        block + self.confirmations,
                        self.confirmations
                    ),
                    (Some(TxStatus::Signed), _) => format!("{what} signed, not sent yet"),
                    _ => format!("{what} sent, not mined yet"),
                }
            })
            .collect();
        let head = head.map_or_else(
            || "the node did not answer for its head block".to_owned(),
            |head| format!("the chain is at block {head}"),
        );
        let plural = if open.len() == 1 { "" } else { "s" };
        format!(
            "waiting for {} transaction{plural}: {}; {head}",
            open.len(),
            txs.join("; ")
        )
    }
}
