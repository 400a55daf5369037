//! `probe`: a three-step workflow used only by the test suite and `mintflow bench engine`.
//!
//! Each step can record two kinds of side effect in tables of its own:
//! - `probe_runs`: written by the step itself, outside the checkpoint transaction, with start
//!   and end times: an external effect, which a crash can make happen twice;
//! - `probe_effects`: written as an `Effect` in the checkpoint transaction, which therefore
//!   happens exactly once per step.
//!
//! Fault injection is driven by the checkpoint data (transient failures, a hang on a given
//! worker) and by `probe_failpoints` rows (a permanent failure an operator can "fix" by deleting
//! the row before retrying).
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::engine::{
    Effect, Step, StepCtx, StepError, Transition, Workflow, WriteCtx, Writes, Writing,
};
use crate::store;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeState {
    First,
    Second,
    Third,
    Done,
}

impl ProbeState {
    fn number(self) -> i32 {
        match self {
            ProbeState::First => 1,
            ProbeState::Second => 2,
            ProbeState::Third => 3,
            ProbeState::Done => 4,
        }
    }
}

/// Where a hang is injected within a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HangPoint {
    /// Before the step does anything: the previous checkpoint is committed.
    Start,
    /// After the external effect, before the checkpoint.
    AfterEffect,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hang {
    pub worker: String,
    pub state: ProbeState,
    pub point: HangPoint,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeData {
    /// Write `probe_runs` / `probe_effects` (the benchmark turns this off to time the engine).
    #[serde(default)]
    pub record: bool,
    /// The first step fails transiently on its first N attempts.
    #[serde(default)]
    pub transient_failures: i32,
    /// Hang forever at this point when run by this worker (simulates a stuck or dead process).
    #[serde(default)]
    pub hang: Option<Hang>,
    /// Steps completed so far; checks that the checkpoint data survives.
    #[serde(default)]
    pub steps_done: u32,
}

pub struct Probe;

impl Probe {
    /// Creates the probe's own tables (they are not part of the product schema).
    pub async fn create_tables(db: &DatabaseConnection) -> Result<(), DbErr> {
        let pg = db.get_database_backend() == sea_orm::DbBackend::Postgres;
        let id = if pg {
            "BIGSERIAL PRIMARY KEY"
        } else {
            "INTEGER PRIMARY KEY AUTOINCREMENT"
        };
        for sql in [
            format!(
                "CREATE TABLE IF NOT EXISTS probe_runs (id {id}, workflow_id TEXT NOT NULL, \
                 step INTEGER NOT NULL, worker TEXT NOT NULL, started_us BIGINT NOT NULL, \
                 ended_us BIGINT)"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS probe_effects (id {id}, workflow_id TEXT NOT NULL, \
                 step INTEGER NOT NULL)"
            ),
            "CREATE TABLE IF NOT EXISTS probe_failpoints (workflow_id TEXT NOT NULL, \
             step INTEGER NOT NULL, reason TEXT NOT NULL)"
                .to_owned(),
        ] {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }
}

impl Workflow for Probe {
    type State = ProbeState;
    type Data = ProbeData;
    const KIND: &'static str = "probe";

    async fn step(
        &self,
        ctx: &StepCtx,
        state: ProbeState,
        mut data: ProbeData,
    ) -> Result<Step<ProbeState, ProbeData>, StepError> {
        let next = match state {
            ProbeState::First => ProbeState::Second,
            ProbeState::Second => ProbeState::Third,
            ProbeState::Third | ProbeState::Done => ProbeState::Done,
        };
        let hang_here = |point| {
            data.hang
                .as_ref()
                .is_some_and(|h| h.worker == *ctx.worker_id && h.state == state && h.point == point)
        };
        if hang_here(HangPoint::Start) {
            std::future::pending::<()>().await;
        }
        if state == ProbeState::First && ctx.attempt < data.transient_failures {
            return Err(StepError::Transient(format!(
                "injected transient failure {} of {}",
                ctx.attempt + 1,
                data.transient_failures
            )));
        }
        let wf = ctx.workflow_id.to_string();
        let step = state.number();
        if data.record {
            if let Some(reason) = failpoint(&ctx.db, &wf, step).await? {
                return Err(StepError::Permanent(reason));
            }
            let run_id = record_run_start(&ctx.db, &wf, step, &ctx.worker_id).await?;
            if hang_here(HangPoint::AfterEffect) {
                std::future::pending::<()>().await;
            }
            record_run_end(&ctx.db, run_id).await?;
        }
        data.steps_done += 1;
        let transition = if next == ProbeState::Done {
            Transition::Complete(next)
        } else {
            Transition::Next(next)
        };
        let mut out: Step<ProbeState, ProbeData> =
            Step::new(transition, data.clone()).with_detail(json!({ "probe_step": step }));
        if data.record {
            out = out.with_effect(Effect::new(ProbeEffect { workflow: wf, step }));
        }
        Ok(out)
    }
}

/// A `probe_effects` row, written with the step's checkpoint.
struct ProbeEffect {
    workflow: String,
    step: i32,
}

impl Writes for ProbeEffect {
    fn apply_all<'a>(ctx: WriteCtx<'a>, writes: Vec<&'a Self>) -> Writing<'a> {
        Box::pin(async move {
            for w in writes {
                let effect = "INSERT INTO probe_effects (workflow_id, step) VALUES ($1, $2)";
                let values = vec![w.workflow.clone().into(), w.step.into()];
                store::exec(ctx.txn, effect, values).await?;
            }
            Ok(())
        })
    }
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

async fn failpoint(db: &DatabaseConnection, wf: &str, step: i32) -> Result<Option<String>, DbErr> {
    let reason = "SELECT reason FROM probe_failpoints WHERE workflow_id = $1 AND step = $2";
    let row = store::row(db, reason, vec![wf.into(), step.into()]).await?;
    row.map(|r| r.try_get::<String>("", "reason")).transpose()
}

async fn record_run_start(
    db: &DatabaseConnection,
    wf: &str,
    step: i32,
    worker: &str,
) -> Result<i64, DbErr> {
    let run = "INSERT INTO probe_runs (workflow_id, step, worker, started_us) \
               VALUES ($1, $2, $3, $4) RETURNING id";
    let values = vec![wf.into(), step.into(), worker.into(), now_us().into()];
    let row = store::row(db, run, values)
        .await?
        .ok_or(DbErr::RecordNotInserted)?;
    row.try_get("", "id")
}

async fn record_run_end(db: &DatabaseConnection, run_id: i64) -> Result<(), DbErr> {
    let ended = "UPDATE probe_runs SET ended_us = $1 WHERE id = $2";
    store::exec(db, ended, vec![now_us().into(), run_id.into()]).await?;
    Ok(())
}
