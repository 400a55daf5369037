//! CPU time from `/proc`: the cost of a run that does not depend on how fast the machine is.
//!
//! A process's CPU time is `utime + stime` of `/proc/<pid>/stat` (fields 14 and 15, in clock
//! ticks). PostgreSQL's share is that of the backends serving the bench's database plus the
//! server's own writers, listed by `pg_stat_activity`; a backend that exits during the run takes
//! its time with it, so read them while the bench's pools are still open.
use std::collections::HashMap;
use std::fs;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

/// The CPU milliseconds process `pid` has used so far; `None` once it has exited.
pub fn process_ms(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it are plain numbers.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Field 14 is index 11 here: the list starts at field 3.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 1000 / ticks_per_second())
}

/// The sum of [`process_ms`] over `pids`.
pub fn processes_ms(pids: &[u32]) -> u64 {
    pids.iter().filter_map(|&pid| process_ms(pid)).sum()
}

/// The PostgreSQL server processes working for `db`'s database: its backends, the
/// checkpointer, the background writer, the WAL writer and autovacuum workers.
pub async fn postgres_pids(db: &DatabaseConnection) -> Result<Vec<u32>, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
             OR backend_type IN ('checkpointer', 'background writer', 'walwriter', \
             'autovacuum worker', 'autovacuum launcher')",
        ))
        .await?;
    rows.iter()
        .map(|row| row.try_get::<i32>("", "pid").map(|pid| pid as u32))
        .collect()
}

/// CPU milliseconds used so far: what a run costs whatever the machine's speed, and which of
/// the processes sharing its cores spends it.
pub struct Cpu {
    /// This process.
    pub own: u64,
    /// The node (anvil).
    pub node: u64,
    /// Each PostgreSQL process serving the database, by pid (one that started during the run
    /// counts from zero; one that ended is lost, so read it while the pools are open).
    pub postgres: HashMap<u32, u64>,
}

impl Cpu {
    pub async fn read(db: &DatabaseConnection, node_pid: u32) -> anyhow::Result<Cpu> {
        let postgres = match db.get_database_backend() {
            DbBackend::Postgres => postgres_pids(db)
                .await?
                .into_iter()
                .filter_map(|pid| Some((pid, process_ms(pid)?)))
                .collect(),
            _ => HashMap::new(),
        };
        Ok(Cpu {
            own: process_ms(std::process::id()).unwrap_or_default(),
            node: process_ms(node_pid).unwrap_or_default(),
            postgres,
        })
    }

    /// What was used between `before` and `self`.
    pub fn since(&self, before: &Cpu) -> Cpu {
        let postgres = self
            .postgres
            .iter()
            .map(|(pid, ms)| (*pid, ms - before.postgres.get(pid).copied().unwrap_or(0)))
            .collect();
        Cpu {
            own: self.own - before.own,
            node: self.node - before.node,
            postgres,
        }
    }
}

fn ticks_per_second() -> u64 {
    // SAFETY: sysconf reads a constant of the running kernel; it has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as u64 } else { 100 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_and_none_for_a_missing_one() {
        assert!(process_ms(std::process::id()).is_some());
        assert_eq!(process_ms(u32::MAX), None);
    }
}
