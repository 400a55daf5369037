//! The transaction pipeline's tables: signers with their next nonce and sender lease, logical
//! transactions (one per nonce) and every signed attempt at each of them.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ChainSigners {
    Table,
    ChainId,
    Address,
    NextNonce,
    SenderOwner,
    SenderUntilMs,
    SenderFence,
    UpdatedAtMs,
}

#[derive(DeriveIden)]
enum ChainTxs {
    Table,
    Id,
    ChainId,
    Signer,
    Nonce,
    IdempotencyKey,
    OwnerWorkflowId,
    Purpose,
    ToAddress,
    Value,
    Input,
    GasLimit,
    Status,
    MinedBlock,
    MinedBlockHash,
    WinnerHash,
    ContractAddress,
    GasUsed,
    Error,
    CreatedAtMs,
    UpdatedAtMs,
    ConfirmedAtMs,
}

#[derive(DeriveIden)]
enum ChainTxAttempts {
    Table,
    Id,
    TxId,
    Hash,
    Raw,
    MaxFeePerGas,
    MaxPriorityFeePerGas,
    Kind,
    Status,
    CreatedAtMs,
    BroadcastAtMs,
    BroadcastBlock,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ChainSigners::Table)
                    .col(big_integer(ChainSigners::ChainId))
                    .col(string_len(ChainSigners::Address, 42))
                    .col(big_integer(ChainSigners::NextNonce))
                    .col(string_len_null(ChainSigners::SenderOwner, 128))
                    .col(big_integer_null(ChainSigners::SenderUntilMs))
                    .col(big_integer(ChainSigners::SenderFence).default(0))
                    .col(big_integer(ChainSigners::UpdatedAtMs))
                    .primary_key(
                        Index::create()
                            .col(ChainSigners::ChainId)
                            .col(ChainSigners::Address),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ChainTxs::Table)
                    .col(pk_uuid(ChainTxs::Id))
                    .col(big_integer(ChainTxs::ChainId))
                    .col(string_len(ChainTxs::Signer, 42))
                    .col(big_integer(ChainTxs::Nonce))
                    .col(string_len(ChainTxs::IdempotencyKey, 255))
                    .col(uuid_null(ChainTxs::OwnerWorkflowId))
                    .col(string_len(ChainTxs::Purpose, 32))
                    .col(string_len_null(ChainTxs::ToAddress, 42))
                    .col(string_len(ChainTxs::Value, 80))
                    .col(blob(ChainTxs::Input))
                    .col(big_integer(ChainTxs::GasLimit))
                    .col(string_len(ChainTxs::Status, 16))
                    .col(big_integer_null(ChainTxs::MinedBlock))
                    .col(string_len_null(ChainTxs::MinedBlockHash, 66))
                    .col(string_len_null(ChainTxs::WinnerHash, 66))
                    .col(string_len_null(ChainTxs::ContractAddress, 42))
                    .col(big_integer_null(ChainTxs::GasUsed))
                    .col(text_null(ChainTxs::Error))
                    .col(big_integer(ChainTxs::CreatedAtMs))
                    .col(big_integer(ChainTxs::UpdatedAtMs))
                    .col(big_integer_null(ChainTxs::ConfirmedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ChainTxAttempts::Table)
                    .col(
                        ColumnDef::new(ChainTxAttempts::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(uuid(ChainTxAttempts::TxId))
                    .col(string_len(ChainTxAttempts::Hash, 66))
                    .col(blob(ChainTxAttempts::Raw))
                    .col(string_len(ChainTxAttempts::MaxFeePerGas, 80))
                    .col(string_len(ChainTxAttempts::MaxPriorityFeePerGas, 80))
                    // `tx` (the call, or a fee bump of it) or `filler` (a zero-value
                    // self-transfer that frees a nonce the call could not land at).
                    .col(string_len(ChainTxAttempts::Kind, 8).default("tx"))
                    .col(string_len(ChainTxAttempts::Status, 16))
                    .col(big_integer(ChainTxAttempts::CreatedAtMs))
                    .col(big_integer_null(ChainTxAttempts::BroadcastAtMs))
                    .col(big_integer_null(ChainTxAttempts::BroadcastBlock))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_chain_tx_attempts_tx")
                            .from(ChainTxAttempts::Table, ChainTxAttempts::TxId)
                            .to(ChainTxs::Table, ChainTxs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        for sql in [
            // One logical transaction per nonce: the pipeline's core invariant.
            "CREATE UNIQUE INDEX idx_chain_txs_nonce ON chain_txs (chain_id, signer, nonce)",
            // A step that submits again after a crash gets its first transaction back.
            "CREATE UNIQUE INDEX idx_chain_txs_idempotency ON chain_txs (chain_id, idempotency_key)",
            // The sender's work list: everything not yet final.
            "CREATE INDEX idx_chain_txs_open ON chain_txs (chain_id, signer, nonce) WHERE status IN ('signed', 'sent', 'mined')",
            "CREATE INDEX idx_chain_txs_owner ON chain_txs (owner_workflow_id) WHERE owner_workflow_id IS NOT NULL",
            "CREATE UNIQUE INDEX idx_chain_tx_attempts_hash ON chain_tx_attempts (hash)",
            "CREATE INDEX idx_chain_tx_attempts_tx ON chain_tx_attempts (tx_id, id)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ChainTxAttempts::Table.into_iden(),
            ChainTxs::Table.into_iden(),
            ChainSigners::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
