//! `GET /v1/doctor`: the checks of `mintflow doctor`, read-only (no repairs through the API).
use poem::web::Data;
use poem_openapi::{OpenApi, param::Query, payload::Json};

use super::AppState;
use super::auth::{Access, Read};
use super::error::{Errors, KeyedList};
use super::stats::OperationsTag;
use crate::ops::doctor::report::DoctorReport;
use crate::ops::doctor::{self, DEFAULT_SAMPLE, DEFAULT_STUCK_MINUTES, Node, Options};

/// One run at a time per process: a run makes up to `sample` node calls per check, and
/// callers polling at once would multiply them. A second caller waits for the first.
static RUNNING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub struct DoctorApi;

#[OpenApi(prefix_path = "/v1", tag = "OperationsTag::Operations")]
impl DoctorApi {
    /// Check the database against the chain and itself
    ///
    /// Who may call: a key with the `read` scope (or `admin`). One run at a time per process;
    /// a second caller waits for the first.
    ///
    /// The checks of `mintflow doctor --json`: the newest `sample` confirmed mints are minted
    /// on chain with a successful batch transaction, the newest `sample` confirmed payments
    /// settled on chain and have their receipt, every registered token has code, no mint
    /// waits for a payment that ended, no lease or unmined transaction is older than
    /// `stuckAfterMinutes`, the signer's nonce matches the node's, its balance covers the
    /// queue, and the supply of tokens mintflow deployed matches their mints. Without a chain
    /// only the database checks run. Read-only: repairs (`--fix`) are for the command line.
    /// Each run sets this process's `mintflow_doctor_findings` gauge (findings per check) on
    /// `/metrics`.
    #[oai(path = "/doctor", method = "get", operation_id = "doctor")]
    async fn doctor(
        &self,
        app: Data<&AppState>,
        _auth: Access<Read>,
        /// Most rows each check reads, 1 to 1000.
        #[oai(
            default = "default_sample",
            validator(minimum(value = "1"), maximum(value = "1000"))
        )]
        sample: Query<u64>,
        /// Minutes a lease may have expired, or a transaction stayed unmined, before it
        /// counts.
        #[oai(
            name = "stuckAfterMinutes",
            default = "default_stuck_minutes",
            validator(minimum(value = "0"), maximum(value = "525600"))
        )]
        stuck_after_minutes: Query<u64>,
    ) -> Result<Json<DoctorReport>, Errors<KeyedList>> {
        let opts = Options {
            sample: sample.0,
            stuck_after_minutes: stuck_after_minutes.0,
        };
        let node = app.chain.as_ref().map(Node::of);
        let _running = RUNNING.lock().await;
        let settings = app.settings.get();
        let report = doctor::run(&app.read_db, node.as_ref(), &settings, &opts, &app.clock).await?;
        app.doctor.record(&report);
        Ok(Json(report))
    }
}

fn default_sample() -> u64 {
    DEFAULT_SAMPLE
}

fn default_stuck_minutes() -> u64 {
    DEFAULT_STUCK_MINUTES
}
