//! Schema migrations for mintflow. Merged migrations are frozen: change the schema with a new file.
pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_engine_tables;
mod m20261122_000002_create_chain_tables;
mod m20261122_000003_create_mint_tables;
mod m20261126_000004_create_outbox_tables;
mod m20261126_000005_webhook_rotation_and_log_index;
mod m20261201_000006_create_api_keys;
mod m20261201_000007_index_live_workflows;
mod m20261201_000008_create_payment_receipts;
mod m20261201_000009_index_payer_intake;
mod m20261201_000010_chain_spend_and_nonce_checks;
mod m20261201_000011_signer_balance_samples;
mod m20261201_000012_mint_priority;
mod m20261202_000015_index_batch_queries;
mod m20261202_000016_outbox_trigger_planned_per_insert;
mod m20261202_000017_index_due_deliveries_by_subscription;
mod m20261203_000018_key_facilitator_payees;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_engine_tables::Migration),
            Box::new(m20261122_000002_create_chain_tables::Migration),
            Box::new(m20261122_000003_create_mint_tables::Migration),
            Box::new(m20261126_000004_create_outbox_tables::Migration),
            Box::new(m20261126_000005_webhook_rotation_and_log_index::Migration),
            Box::new(m20261201_000006_create_api_keys::Migration),
            Box::new(m20261201_000007_index_live_workflows::Migration),
            Box::new(m20261201_000008_create_payment_receipts::Migration),
            Box::new(m20261201_000009_index_payer_intake::Migration),
            Box::new(m20261201_000010_chain_spend_and_nonce_checks::Migration),
            Box::new(m20261201_000011_signer_balance_samples::Migration),
            Box::new(m20261201_000012_mint_priority::Migration),
            Box::new(m20261202_000015_index_batch_queries::Migration),
            Box::new(m20261202_000016_outbox_trigger_planned_per_insert::Migration),
            Box::new(m20261202_000017_index_due_deliveries_by_subscription::Migration),
            Box::new(m20261203_000018_key_facilitator_payees::Migration),
        ]
    }
}
