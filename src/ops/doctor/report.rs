//! What `mintflow doctor` found. These types are the report's one schema: `GET /v1/doctor`
//! answers them and `mintflow doctor --json` prints them, so the two never drift apart.
use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look; the service works around it or it may pass by itself.
    Warning,
    /// The database and the chain disagree, or work cannot move on without an operator.
    Error,
}

/// One inconsistency.
#[derive(Clone, Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct Finding {
    /// Stable: `mint_not_on_chain`, `mint_tx_missing`, `mint_tx_failed`, `payment_not_settled`,
    /// `payment_receipt_missing`, `token_without_code`, `supply_mismatch`, `mint_stranded`,
    /// `lease_expired`, `tx_stuck`, `nonce_ahead`, `nonce_behind`, `signer_balance_low`,
    /// `node_unavailable`.
    pub code: String,
    pub severity: Severity,
    pub message: String,
    /// The workflows concerned (may be empty: a signer, a token).
    pub workflow_ids: Vec<Uuid>,
    /// What an operator can run about it; `null` when it takes a person (funding a signer,
    /// fixing the node).
    #[oai(nullable)]
    pub suggested_command: Option<String>,
    /// Whether `mintflow doctor --fix` repairs it.
    pub fixable: bool,
}

/// One check, and how much it looked at.
#[derive(Clone, Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct CheckRun {
    pub name: String,
    /// Rows, transactions, tokens or signers examined.
    pub examined: u64,
    pub findings: u64,
    /// Why the check did not run (no chain configured, the node did not answer); `null`
    /// when it ran.
    #[oai(nullable)]
    pub skipped: Option<String>,
}

/// A repair `--fix` made (recorded in the audit log as well).
#[derive(Clone, Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct Repair {
    /// The code of the finding it repairs.
    pub code: String,
    /// `doctor.wake` or `doctor.cancel_stranded`, as in the audit log.
    pub action: String,
    pub workflow_ids: Vec<Uuid>,
}

#[derive(Clone, Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct DoctorReport {
    /// No findings (after repairs, with `--fix`).
    pub clean: bool,
    /// Most rows each sampling check read: the newest confirmed mints and payments, and at
    /// most this many stuck rows per kind.
    pub sample: u64,
    /// How long a lease may have expired, or a transaction stayed unmined, before it counts.
    pub stuck_after_minutes: u64,
    pub checks: Vec<CheckRun>,
    pub findings: Vec<Finding>,
    /// What `--fix` repaired; always empty from `GET /v1/doctor`.
    pub repairs: Vec<Repair>,
    pub generated_at: DateTime<Utc>,
}

impl Finding {
    pub fn new(code: &str, severity: Severity, message: impl Into<String>) -> Finding {
        Finding {
            code: code.into(),
            severity,
            message: message.into(),
            workflow_ids: Vec::new(),
            suggested_command: None,
            fixable: false,
        }
    }

    pub fn workflows(mut self, ids: impl IntoIterator<Item = Uuid>) -> Finding {
        self.workflow_ids.extend(ids);
        self
    }

    pub fn suggest(mut self, command: impl Into<String>) -> Finding {
        self.suggested_command = Some(command.into());
        self
    }

    /// Repaired by `--fix` (which is then the suggestion).
    pub fn fixable(mut self) -> Finding {
        self.fixable = true;
        self.suggested_command = Some("mintflow doctor --fix".into());
        self
    }
}
