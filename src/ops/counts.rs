//! Workflow counts by kind, state and status for the overview, without counting the history
//! at each snapshot. How each part is kept:
//!
//! - **live** (running, waiting, parked): counted exactly at each snapshot from the partial
//!   index `idx_workflows_live`, as large as the queue.
//! - **failed**: counted exactly at each snapshot from the dead letters' partial index; they
//!   stay until an operator retries them, so they are few.
//! - **completed and cancelled** grow without bound: a tally this process keeps. Rows that
//!   finished in the last `SETTLE` are counted at each snapshot (a short range of
//!   `idx_workflows_finished`); older ones are added to the tally once and not read again.
//!   These rows change only by being deleted by the retention job (after `retention_days`,
//!   kinds other than the financial records), which the tally learns of when it is counted
//!   again in full, every `RECOUNT_EVERY` (and at a process's first snapshot). So completed
//!   and cancelled counts are exact, except that for up to `RECOUNT_EVERY` after a retention
//!   run they still include the rows it deleted.
//!
//! `SETTLE` is the margin for a checkpoint that stamps `finished_at_ms` from its process's
//! clock and commits a moment later, possibly after this process's clock passed that stamp:
//! a row becomes part of the tally only once no such commit can still be on its way.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sea_orm::{DatabaseConnection, DbErr};

use crate::store::{
    self,
    overview::{DoneCount, WorkflowCount},
};

/// How long after finishing a row is counted at each snapshot before it joins the tally:
/// far longer than any checkpoint takes to commit, or than clocks of processes sharing a
/// database drift apart.
const SETTLE_MS: i64 = 60_000;

/// How often the tally is counted again in full, to forget rows the retention job deleted.
const RECOUNT_EVERY: Duration = Duration::from_secs(3600);

type Key = (String, String, String);

/// The completed and cancelled workflows that finished at or before `through`.
#[derive(Debug, Default)]
pub struct Tally {
    settled: BTreeMap<Key, i64>,
    through: i64,
    counted_at: Option<Instant>,
}

impl Tally {
    /// Workflow counts by kind, state and status, in that order, `now_ms` being now.
    pub async fn counts(
        &mut self,
        db: &DatabaseConnection,
        now_ms: i64,
    ) -> Result<Vec<WorkflowCount>, DbErr> {
        let settle = now_ms - SETTLE_MS;
        if self
            .counted_at
            .is_none_or(|at| at.elapsed() >= RECOUNT_EVERY)
        {
            let all = store::overview::done_counts_through(db, settle).await?;
            *self = Tally::default();
            self.add(all, settle);
            self.counted_at = Some(Instant::now());
        }
        let (live, failed, recent) = tokio::try_join!(
            store::overview::live_counts(db),
            store::overview::failed_counts(db),
            store::overview::done_counts_after(db, self.through, settle),
        )?;
        let fresh = self.add(recent, settle);
        Ok(merge(
            [live, failed, fresh].into_iter().flatten().chain(
                self.settled
                    .iter()
                    .map(|(key, count)| count_of(key, *count)),
            ),
        ))
    }

    /// Adds the settled rows to the tally, now counted through `settle`; the others, to be
    /// counted again next time.
    fn add(&mut self, rows: Vec<DoneCount>, settle: i64) -> Vec<WorkflowCount> {
        let mut fresh = Vec::new();
        for row in rows {
            let key = (row.kind, row.state, row.status);
            if row.settled {
                *self.settled.entry(key).or_default() += row.count;
            } else {
                fresh.push(count_of(&key, row.count));
            }
        }
        // A clock that went back must not count a range twice.
        self.through = self.through.max(settle);
        fresh
    }
}

fn count_of((kind, state, status): &Key, count: i64) -> WorkflowCount {
    WorkflowCount {
        kind: kind.clone(),
        state: state.clone(),
        status: status.clone(),
        count,
    }
}

/// One count per kind, state and status, sorted.
fn merge(counts: impl IntoIterator<Item = WorkflowCount>) -> Vec<WorkflowCount> {
    let mut merged = BTreeMap::<Key, i64>::new();
    for c in counts {
        *merged.entry((c.kind, c.state, c.status)).or_default() += c.count;
    }
    merged
        .iter()
        .map(|(key, count)| count_of(key, *count))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(state: &str, settled: bool, count: i64) -> DoneCount {
        DoneCount {
            kind: "mint".into(),
            state: state.into(),
            status: "completed".into(),
            settled,
            count,
        }
    }

    #[test]
    fn settled_rows_join_the_tally_and_recent_ones_are_counted_again() {
        let mut tally = Tally::default();
        let fresh = tally.add(
            vec![done("confirmed", true, 5), done("confirmed", false, 2)],
            1_000,
        );
        assert_eq!(tally.through, 1_000);
        assert_eq!(
            tally.settled[&("mint".into(), "confirmed".into(), "completed".into())],
            5
        );
        assert_eq!(fresh.len(), 1);
        assert_eq!(fresh[0].count, 2);
        // Next time the 2 have settled (they are read again from `through`) and 1 more is new.
        let fresh = tally.add(
            vec![done("confirmed", true, 2), done("confirmed", false, 1)],
            2_000,
        );
        let all = merge(
            fresh
                .into_iter()
                .chain(tally.settled.iter().map(|(k, n)| count_of(k, *n))),
        );
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].count, 8);
    }

    #[test]
    fn a_clock_that_goes_back_does_not_move_the_tally_back() {
        let mut tally = Tally::default();
        tally.add(vec![], 5_000);
        tally.add(vec![], 4_000);
        assert_eq!(tally.through, 5_000);
    }

    #[test]
    fn counts_of_one_key_are_summed_and_sorted() {
        let c = |kind: &str, n| WorkflowCount {
            kind: kind.into(),
            state: "s".into(),
            status: "running".into(),
            count: n,
        };
        let merged = merge([c("payment", 1), c("mint", 2), c("payment", 3)]);
        assert_eq!(merged, vec![c("mint", 2), c("payment", 4)]);
    }
}
