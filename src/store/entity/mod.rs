//! sea-orm entities for the tables the API and operators read through the query builder.
//! The engine's hot paths use hand-written SQL in `store::workflows`.
pub mod payment_receipt;
pub mod system_setting;
pub mod token;
pub mod workflow;
pub mod workflow_event;
