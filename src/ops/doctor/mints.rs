//! Checks of mints and tokens against the chain.
use std::collections::BTreeMap;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use futures::StreamExt;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::report::{Finding, Severity};
use super::{Failure, Node, Options, Outcome, PARALLEL_CALLS, node_failure};
use crate::chain::contracts::MintToken;
use crate::chain::error::{contract, rpc};
use crate::store::chain::{TxRow, TxStatus};
use crate::store::mints::MINT;
use crate::store::{self, doctor as queries};
use crate::workflows::mint::{MintData, MintState};

/// Most mints of one token the supply check counts: beyond, it leaves the token out.
const SUPPLY_COUNT_CAP: u64 = 1_000_000;

/// The newest `sample` confirmed mints: each minted on chain (`hasMinted` of its on-chain
/// id), and its batch's transaction in the pipeline's table and mined with success.
pub(super) async fn confirmed(
    db: &DatabaseConnection,
    node: &Node,
    opts: &Options,
) -> Result<Outcome, Failure> {
    let rows =
        queries::newest_finished(db, MINT, MintState::Confirmed.as_str(), opts.sample).await?;
    let mints: Vec<(Uuid, MintData)> = rows
        .into_iter()
        .filter_map(|r| Some((r.id, serde_json::from_value(r.data).ok()?)))
        .collect();
    let mut findings = Vec::new();
    let mut by_tx: BTreeMap<String, Vec<Uuid>> = BTreeMap::new();
    for (id, data) in &mints {
        match &data.tx_hash {
            Some(hash) => by_tx.entry(hash.clone()).or_default().push(*id),
            None => findings.push(
                Finding::new(
                    "mint_tx_missing",
                    Severity::Error,
                    format!("mint {id} is confirmed but records no transaction"),
                )
                .workflows([*id])
                .suggest(format!("mintflow workflows history {id}")),
            ),
        }
    }
    for (hash, ids) in &by_tx {
        findings.extend(batch_tx(db, node, hash, ids).await?);
    }
    // A plain list of futures: a stream mapping over borrowed rows is not `Send` for every
    // lifetime, which the API handler needs.
    let calls: Vec<_> = mints
        .iter()
        .map(|(id, data)| has_minted(node, *id, data))
        .collect();
    let minted = futures::stream::iter(calls)
        .buffer_unordered(PARALLEL_CALLS)
        .collect::<Vec<_>>()
        .await;
    let mut missing: BTreeMap<Address, Vec<Uuid>> = BTreeMap::new();
    for result in minted {
        let (id, token, minted) = result?;
        if !minted {
            missing.entry(token).or_default().push(id);
        }
    }
    for (token, ids) in missing {
        let message = format!(
            "{} confirmed mint(s) of token {token} are not minted on chain (hasMinted is false)",
            ids.len()
        );
        let first = ids[0];
        findings.push(
            Finding::new("mint_not_on_chain", Severity::Error, message)
                .workflows(ids)
                .suggest(format!("mintflow workflows history {first}")),
        );
    }
    Ok(Outcome {
        examined: mints.len() as u64,
        findings,
    })
}

/// Whether the token of mint `id` reports its on-chain id as minted.
async fn has_minted(
    node: &Node,
    id: Uuid,
    data: &MintData,
) -> Result<(Uuid, Address, bool), Failure> {
    let token = MintToken::new(data.token, &node.provider);
    let minted = token.hasMinted(data.onchain_id).call().await;
    let minted = minted
        .map_err(|e| node_failure("hasMinted", contract(format_args!("hasMinted of {id}"), &e)))?;
    Ok((id, data.token, minted))
}

/// The batch transaction `hash` of the confirmed mints `ids`: confirmed in `chain_txs`, and
/// a successful receipt on the node.
async fn batch_tx(
    db: &DatabaseConnection,
    node: &Node,
    hash: &str,
    ids: &[Uuid],
) -> Result<Option<Finding>, Failure> {
    let stored = store::chain::tx_by_hash(db, hash).await?;
    let problem = match stored.as_ref().map(TxRow::tx_status) {
        None => Some((
            "mint_tx_missing",
            "is not in the pipeline's table (chain_txs)",
        )),
        Some(Some(TxStatus::Confirmed)) => None,
        Some(_) => Some(("mint_tx_missing", "is not confirmed in chain_txs")),
    };
    let problem = match problem {
        Some(p) => Some(p),
        None => {
            let receipt = match hash.parse::<B256>() {
                Ok(tx) => node
                    .provider
                    .get_transaction_receipt(tx)
                    .await
                    .map_err(|e| {
                        node_failure("receipt", rpc(format_args!("receipt {hash}"), &e))
                    })?,
                Err(_) => None,
            };
            match receipt {
                None => Some(("mint_tx_failed", "has no receipt on the node")),
                Some(r) if !r.status() => Some(("mint_tx_failed", "reverted on chain")),
                Some(_) => None,
            }
        }
    };
    Ok(problem.map(|(code, what)| {
        let first = ids[0];
        Finding::new(
            code,
            Severity::Error,
            format!(
                "the transaction {hash} of {} confirmed mint(s) {what}",
                ids.len()
            ),
        )
        .workflows(ids.iter().copied())
        .suggest(format!("mintflow workflows history {first}"))
    }))
}

/// Every token of the registry has code at its address on this chain.
pub(super) async fn token_code(db: &DatabaseConnection, node: &Node) -> Result<Outcome, Failure> {
    let tokens = store::tokens::list(db, node.chain_id as i64).await?;
    let mut findings = Vec::new();
    for t in &tokens {
        let Ok(address) = t.address.parse::<Address>() else {
            continue;
        };
        let code = node.provider.get_code_at(address).await;
        let code =
            code.map_err(|e| node_failure("code", rpc(format_args!("code of {address}"), &e)))?;
        if code.is_empty() {
            findings.push(Finding::new(
                "token_without_code",
                Severity::Error,
                format!(
                    "token {address} ({}) is in the registry of chain {} but has no code there: \
                     is RPC_URL the node of this database's chain?",
                    t.symbol, node.chain_id
                ),
            ));
        }
    }
    Ok(Outcome {
        examined: tokens.len() as u64,
        findings,
    })
}

/// `totalSupply` of each token mintflow deployed (a deployment workflow made it, with
/// mintflow's signers its only minters) against its confirmed mints: at least their
/// `amountPerMint` each, and at most that of every mint sent. Tokens registered from
/// `TOKEN_ADDRESS` are left out: other minters may mint them.
pub(super) async fn supply(db: &DatabaseConnection, node: &Node) -> Result<Outcome, Failure> {
    let tokens = store::tokens::list(db, node.chain_id as i64).await?;
    let mut findings = Vec::new();
    let mut examined = 0;
    for t in tokens.iter().filter(|t| t.deploy_tx_hash.is_some()) {
        let Ok(address) = t.address.parse::<Address>() else {
            continue;
        };
        let confirmed_states = [MintState::Confirmed.as_str()];
        let confirmed = queries::count_mints(db, &t.address, &confirmed_states, SUPPLY_COUNT_CAP);
        let confirmed = confirmed.await?;
        let in_batch = [MintState::Processing.as_str(), MintState::Sent.as_str()];
        let sent = queries::count_mints(db, &t.address, &in_batch, SUPPLY_COUNT_CAP);
        let sent = sent.await?;
        if confirmed as u64 >= SUPPLY_COUNT_CAP || sent as u64 >= SUPPLY_COUNT_CAP {
            continue;
        }
        let token = MintToken::new(address, &node.provider);
        let read = |what: &'static str| {
            move |e: alloy::contract::Error| {
                node_failure(what, contract(format_args!("{what} of {address}"), &e))
            }
        };
        let total = token
            .totalSupply()
            .call()
            .await
            .map_err(read("totalSupply"))?;
        let per_mint = token
            .amountPerMint()
            .call()
            .await
            .map_err(read("amountPerMint"))?;
        examined += 1;
        let least = per_mint * U256::from(confirmed);
        let most = per_mint * U256::from(confirmed + sent);
        if total < least {
            findings.push(Finding::new(
                "supply_mismatch",
                Severity::Error,
                format!(
                    "token {address} ({}) has a total supply of {total}, less than its \
                     {confirmed} confirmed mints of {per_mint} each ({least})",
                    t.symbol
                ),
            ));
        } else if total > most {
            findings.push(Finding::new(
                "supply_mismatch",
                Severity::Warning,
                format!(
                    "token {address} ({}) has a total supply of {total}, more than its \
                     {confirmed} confirmed and {sent} sent mints of {per_mint} each ({most}): \
                     mints archived (`mintflow archive`), or another minter",
                    t.symbol
                ),
            ));
        }
    }
    Ok(Outcome { examined, findings })
}
