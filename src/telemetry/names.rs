//! The names of the metrics mintflow exports: a leaf that the engine, the chain, the
//! workflows and the webhooks record under, and `ops::metrics` describes and renders.

/// HTTP requests by `method`, `route` (the route template, never the raw path) and `status`.
pub const HTTP_REQUEST_DURATION: &str = "mintflow_http_request_duration_seconds";
/// Steps run by this process, by workflow `kind`.
pub const STEP_DURATION: &str = "mintflow_step_duration_seconds";
/// Mints in each batch formed by this process.
pub const MINT_BATCH_SIZE: &str = "mintflow_mint_batch_size";
/// Transactions confirmed by this process's sender: first broadcast to confirmed.
pub const TX_CONFIRMATION: &str = "mintflow_tx_confirmation_seconds";
/// Replacements signed by this process's sender, by `kind`: `tx` (the same call with raised
/// fees) or `filler` (a self-transfer freeing the nonce of a call that cannot land).
pub const TX_FEE_BUMPS: &str = "mintflow_tx_fee_bumps_total";
/// New transactions this process refused because the signer's gas spend budget
/// (`max_gas_spend_wei_per_hour`) was reached; their workflows wait and submit again.
pub const TX_SPEND_BUDGET_REFUSALS: &str = "mintflow_tx_spend_budget_refusals_total";

/// Gauges rendered from the overview snapshot.
pub const WORKFLOWS: &str = "mintflow_workflows";
pub const MINT_QUEUE_PENDING: &str = "mintflow_mint_queue_pending";
pub const MINT_QUEUE_OLDEST_AGE: &str = "mintflow_mint_queue_oldest_pending_age_seconds";
pub const SIGNER_BALANCE: &str = "mintflow_signer_balance_wei";
pub const SIGNER_NEXT_NONCE: &str = "mintflow_signer_next_nonce";
pub const SIGNER_CHAIN_PENDING_NONCE: &str = "mintflow_signer_chain_pending_nonce";
pub const SIGNER_NONCE_DRIFT: &str = "mintflow_signer_nonce_drift";
pub const SIGNER_IN_FLIGHT: &str = "mintflow_signer_in_flight";
pub const SIGNER_HEALTHY: &str = "mintflow_signer_healthy";
pub const TX_OPEN: &str = "mintflow_tx_open";
pub const TX_OLDEST_UNCONFIRMED_AGE: &str = "mintflow_tx_oldest_unconfirmed_age_seconds";
pub const OUTBOX_UNORDERED: &str = "mintflow_outbox_unordered";
pub const WEBHOOK_PENDING: &str = "mintflow_webhook_deliveries_pending";
pub const WEBHOOK_OLDEST_AGE: &str = "mintflow_webhook_oldest_pending_age_seconds";
pub const WEBHOOK_FAILED: &str = "mintflow_webhook_deliveries_failed";
/// Webhook delivery attempts made by this process, by `outcome`: `delivered`, `retry` (failed,
/// tried again later) or `failed` (given up).
pub const WEBHOOK_ATTEMPTS: &str = "mintflow_webhook_attempts_total";
/// 1 when the overview could be read from the database, 0 when the scrape went without it.
pub const OVERVIEW_UP: &str = "mintflow_overview_up";
/// Findings of this service's latest `GET /v1/doctor` run, by `check`; absent until one ran.
pub const DOCTOR_FINDINGS: &str = "mintflow_doctor_findings";
