//! The chain's side of the mint benchmark: what a mint costs in gas, alone and in a batch, and
//! how many mints per minute the chain could carry at the batches' gas per mint.
use alloy::primitives::{Address, U256, keccak256};
use alloy::providers::Provider;
use alloy::sol_types::SolCall;
use anyhow::Context;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{BLOCK_TIME_SECS, GAS_BATCH, TX_TIMEOUT};
use crate::chain::contracts::MintToken;
use crate::chain::local::wait_final;
use crate::chain::{Call, Chain, Submit, TxOutcome};
use crate::store::entity::workflow;
use crate::store::mints::MINT_BATCH;
use crate::workflows::mint_batch::{BatchData, BatchItem, batch_call};

pub(super) async fn block_gas_limit(provider: &impl Provider) -> anyhow::Result<u64> {
    let block = provider
        .get_block_by_number(Default::default())
        .await
        .context("reading the latest block")?
        .context("anvil has no latest block")?;
    Ok(block.header.gas_limit)
}

/// Prints the batches the service sent and what the chain could carry at their gas per mint.
pub(super) async fn print_ceiling(
    db: &DatabaseConnection,
    gas_limit: u64,
    per_min: f64,
) -> anyhow::Result<()> {
    let rows = workflow::Entity::find()
        .filter(workflow::Column::Kind.eq(MINT_BATCH))
        .all(db)
        .await?;
    let (mut batches, mut mints, mut gas) = (0usize, 0usize, 0i64);
    for row in rows {
        let data: BatchData = serde_json::from_value(row.data)
            .with_context(|| format!("batch {} has unreadable data", row.id))?;
        // Only confirmed batches carry the gas they used.
        if let Some(used) = data.gas_used {
            batches += 1;
            mints += data.items.len();
            gas += used;
        }
    }
    let gas_per_mint = gas as f64 / mints as f64;
    let ceiling = gas_limit as f64 / gas_per_mint * (60.0 / BLOCK_TIME_SECS);
    println!(
        "batches: {batches} confirmed, mean {:.0} mints; {gas_per_mint:.0} gas per mint in a \
         batch -> chain ceiling {gas_limit} gas/block / {gas_per_mint:.0} x {:.0} blocks/min = \
         {ceiling:.0} mints/min; end to end reached {:.1}% of it",
        mints as f64 / batches as f64,
        60.0 / BLOCK_TIME_SECS,
        100.0 * per_min / ceiling
    );
    Ok(())
}

/// Gas of one `mint(to, id)` against the gas per mint of a `batchMint` of `GAS_BATCH`, each
/// to a fresh recipient as the service's mints are. Sent through the service's pipeline, whose
/// sender is the only one this signer may run.
pub(super) async fn print_gas(chain: &Chain, token: Address) -> anyhow::Result<()> {
    let item = |i: usize| {
        let id = keccak256(format!("mintflow-bench/gas/{i}"));
        let to = Address::from_word(keccak256(id));
        BatchItem {
            mint: Uuid::nil(),
            to,
            id,
        }
    };
    let one = item(0);
    let single = MintToken::mintCall {
        to: one.to,
        id: one.id,
    }
    .abi_encode();
    let single = gas_used(
        chain,
        "bench-gas-single",
        Call {
            to: Some(token),
            input: single.into(),
            value: U256::ZERO,
            gas_limit: None,
        },
    )
    .await?;
    let items: Vec<BatchItem> = (1..=GAS_BATCH).map(item).collect();
    let batch = gas_used(chain, "bench-gas-batch", batch_call(token, &items)).await?;
    let per_mint = batch as f64 / GAS_BATCH as f64;
    println!(
        "gas: mint(to, id) alone {single}; batchMint of {GAS_BATCH} {batch} = {per_mint:.0} \
         per mint ({:.2}x less than alone)",
        single as f64 / per_mint
    );
    Ok(())
}

/// Submits `call` under `key`, waits until it is final and returns the gas it used.
async fn gas_used(chain: &Chain, key: &str, call: Call) -> anyhow::Result<i64> {
    let id = chain
        .submit(Submit {
            key: key.to_owned(),
            owner: None,
            purpose: "bench".into(),
            call,
        })
        .await
        .with_context(|| format!("submitting {key}"))?;
    match wait_final(chain, id, TX_TIMEOUT).await? {
        TxOutcome::Confirmed { gas_used, .. } => Ok(gas_used),
        other => anyhow::bail!("{key} did not go through: {other:?}"),
    }
}
