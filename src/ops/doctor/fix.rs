//! `mintflow doctor --fix`: the repairs that cannot lose or duplicate anything, each in one
//! transaction with its audit entry.
//!
//! - `lease_expired`: the workflow is woken (`store::workflows::wake`), so that a worker
//!   claims it at once; the claim bumps its version, fencing off the old lease holder should
//!   it still be alive.
//! - `mint_stranded` whose payment failed or was cancelled: the mints are cancelled, as the
//!   payment's end should have done in its own transaction (`store::held`), so an operator's
//!   retry of the payment still puts them back.
//!
//! Everything else (a mint confirmed but not on chain, a nonce gap, a paid mint that never
//! reached the queue) needs a person: a wrong guess there mints twice or loses a payment.
use sea_orm::{DatabaseConnection, DbErr};
use serde_json::json;
use uuid::Uuid;

use super::report::{DoctorReport, Finding, Repair};
use crate::store::{self, audit, held, time::Clock};

/// Applies the repairs of `report`'s fixable findings as `actor`, stamped by `clock`; repaired
/// findings leave the report and are listed under its repairs.
pub async fn fix(
    db: &DatabaseConnection,
    report: &mut DoctorReport,
    actor: &str,
    clock: &Clock,
) -> Result<(), DbErr> {
    let mut remaining = Vec::with_capacity(report.findings.len());
    for finding in std::mem::take(&mut report.findings) {
        let repair = match (finding.fixable, finding.code.as_str()) {
            (true, "lease_expired") => Some(wake(db, &finding, actor, clock).await?),
            (true, "mint_stranded") => {
                Some(cancel_stranded(db, &finding, actor, clock.now_ms()).await?)
            }
            _ => None,
        };
        match repair {
            Some(repair) if !repair.workflow_ids.is_empty() => report.repairs.push(repair),
            // Nothing to repair (any more): a worker or the payment moved it meanwhile.
            Some(_) => {}
            None => remaining.push(finding),
        }
    }
    report.findings = remaining;
    report.clean = report.findings.is_empty();
    Ok(())
}

const WAKE: &str = "doctor.wake";
const CANCEL_STRANDED: &str = "doctor.cancel_stranded";

/// Wakes the finding's workflows that are still unfinished.
async fn wake(
    db: &DatabaseConnection,
    finding: &Finding,
    actor: &str,
    clock: &Clock,
) -> Result<Repair, DbErr> {
    let mut woken = Vec::new();
    for &id in &finding.workflow_ids {
        let now = clock.now_ms();
        let txn = store::begin_write(db).await?;
        if store::workflows::wake(&txn, id, "doctor: its lease expired", now).await? {
            let entry = Some(detail(finding));
            audit::record(&txn, actor, WAKE, &id.to_string(), entry, now).await?;
            woken.push(id);
        }
        txn.commit().await?;
    }
    Ok(Repair {
        code: finding.code.clone(),
        action: WAKE.into(),
        workflow_ids: woken,
    })
}

/// Cancels the mints still parked under the finding's payment (its first workflow), at `now`.
async fn cancel_stranded(
    db: &DatabaseConnection,
    finding: &Finding,
    actor: &str,
    now: i64,
) -> Result<Repair, DbErr> {
    let payment: Uuid = finding.workflow_ids[0];
    let reason = format!("payment {payment} ended; cancelled by {actor} via doctor");
    let txn = store::begin_write(db).await?;
    let cancelled = held::cancel_children(&txn, payment, &reason, None, now).await?;
    if !cancelled.is_empty() {
        let mut entry = detail(finding);
        entry["mints"] = json!(cancelled);
        audit::record(
            &txn,
            actor,
            CANCEL_STRANDED,
            &payment.to_string(),
            Some(entry),
            now,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(Repair {
        code: finding.code.clone(),
        action: CANCEL_STRANDED.into(),
        workflow_ids: cancelled,
    })
}

/// The audit entry's detail: what the doctor found.
fn detail(finding: &Finding) -> serde_json::Value {
    json!({ "via": "doctor", "finding": finding.code, "message": finding.message })
}
