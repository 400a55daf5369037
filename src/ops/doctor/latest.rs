//! The findings of a service's latest `GET /v1/doctor` run, per check, for its `/metrics`
//! (`mintflow_doctor_findings`). Kept per service rather than in the process-wide recorder:
//! two services in one process (tests run several) must not overwrite each other's figures.
use std::sync::{Arc, Mutex, PoisonError};

use super::report::DoctorReport;

/// Clones share the figures.
#[derive(Clone, Default)]
pub struct LatestRun {
    /// `(check, findings)` in report order; empty until the first run.
    per_check: Arc<Mutex<Vec<(String, u64)>>>,
}

impl LatestRun {
    /// Replaces the figures with `report`'s: each check's findings (0 for a skipped check).
    pub fn record(&self, report: &DoctorReport) {
        let figures = report
            .checks
            .iter()
            .map(|c| (c.name.clone(), c.findings))
            .collect();
        *self
            .per_check
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = figures;
    }

    pub fn per_check(&self) -> Vec<(String, u64)> {
        self.per_check
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
