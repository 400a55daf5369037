//! `mintflow tokens add`: registers a token mintflow did not deploy from a shell, checked on
//! chain and audited like the API's `POST /v1/tokens` (the same use case, `app::tokens`).
use alloy::primitives::{Address, U256};
use anyhow::Context;
use poem_openapi::types::ToJSON;

use super::chain::{ChainArgs, open_store};
use super::workflows::cli_actor;
use crate::api::tokens::TokenView;
use crate::app::tokens::{self, Registration};
use crate::chain::Chain;

#[derive(Debug, clap::Subcommand)]
pub enum TokensCommand {
    /// Register an existing token contract so mints can target it. It must have code,
    /// `hasMinted(bytes32)`, `totalSupply()` and a `batchMint(address[],bytes32[])` the
    /// signer may call; nothing is sent.
    Add(AddArgs),
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The token contract's address.
    pub address: Address,
    /// Base units one mint gives; needed when the contract has no `amountPerMint()`.
    #[arg(long)]
    pub amount_per_mint: Option<U256>,
    /// The cap mintflow keeps the total supply under; needed when the contract has no
    /// `maxSupply()`.
    #[arg(long)]
    pub max_supply: Option<U256>,
    /// Who is acting (default: $USER); kept in the audit log.
    #[arg(long)]
    pub actor: Option<String>,
    /// Print the registered token as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub chain: ChainArgs,
}

pub async fn run(database_url: &str, cmd: TokensCommand) -> anyhow::Result<()> {
    let TokensCommand::Add(args) = cmd;
    let rpc_url = args
        .chain
        .rpc_url()
        .context("tokens add checks the token on chain: set RPC_URL (or --rpc-url)")?;
    let signers = args.chain.signer.load_pool()?;
    let (db, settings) = open_store(database_url).await?;
    let config = args.chain.chain_config(rpc_url);
    let chain = Chain::connect_pool(db.clone(), settings, signers, config, None)
        .await
        .context("connecting to the chain (RPC_URL)")?;
    let registration = Registration {
        address: args.address,
        amount_per_mint: args.amount_per_mint,
        max_supply: args.max_supply,
    };
    let registered = tokens::register(&db, &chain, registration, &cli_actor(args.actor)).await;
    db.close().await.ok();
    let t = TokenView::from(registered?);
    if args.json {
        println!("{}", t.to_json_string());
    } else {
        println!(
            "registered token {} ({}) on chain {}: {} base units per mint, at most {}",
            t.address, t.symbol, t.chain_id, t.amount_per_mint, t.max_supply
        );
    }
    Ok(())
}
