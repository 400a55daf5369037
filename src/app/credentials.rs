//! Checking a presented API key: known, not revoked, not expired. Keys are read through an
//! in-process cache, not once per request; a cached key is read again after `CACHE_TTL`, so a
//! key revoked on any instance sharing the database is refused everywhere within that time.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::{DatabaseConnection, DbErr};

use super::keys::{self, KEY_PREFIX};
use crate::store::{self, api_keys::KeyRow, time::Clock};

/// How long a key read from the database is trusted: the bound on how late a revocation made
/// elsewhere takes effect here.
pub const CACHE_TTL: Duration = Duration::from_millis(500);
/// Most keys (known or not) the cache holds; past it, it starts afresh.
const CACHE_CAP: usize = 10_000;
/// A process records a key's use at most this often.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// Not a key, or no key with this hash.
    #[error("unknown key or wrong admin token")]
    Unknown,
    /// The key's prefix, which names it without revealing it.
    #[error("key {0} was revoked")]
    Revoked(String),
    #[error("key {0} has expired")]
    Expired(String),
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// Checks keys; shared by every request of a process.
#[derive(Clone)]
pub struct KeyCheck {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    /// What expiry is checked against and use is stamped with.
    clock: Clock,
    /// By key hash.
    cache: Mutex<HashMap<String, CachedKey>>,
    /// Keys whose `last_used_at` this process recorded, and when.
    touched: Mutex<HashMap<String, Instant>>,
}

struct CachedKey {
    row: Option<KeyRow>,
    read_at: Instant,
}

impl KeyCheck {
    pub fn new(db: DatabaseConnection, clock: Clock) -> Self {
        KeyCheck {
            inner: Arc::new(Inner {
                db,
                clock,
                cache: Mutex::default(),
                touched: Mutex::default(),
            }),
        }
    }

    /// The stored key `presented` is, if it may be used now; its use is recorded.
    pub async fn check(&self, presented: &str) -> Result<KeyRow, CredentialError> {
        if !presented.starts_with(KEY_PREFIX) {
            return Err(CredentialError::Unknown);
        }
        let row = self
            .key_row(&keys::hash(presented))
            .await?
            .ok_or(CredentialError::Unknown)?;
        let now = self.inner.clock.now_ms();
        if row.revoked_at_ms.is_some() {
            return Err(CredentialError::Revoked(row.prefix));
        }
        if row.expires_at_ms.is_some_and(|at| at <= now) {
            return Err(CredentialError::Expired(row.prefix));
        }
        self.touch(&row.id, now);
        Ok(row)
    }

    /// The stored key with this hash, from the cache while it is fresh.
    async fn key_row(&self, hash: &str) -> Result<Option<KeyRow>, DbErr> {
        if let Some(c) = self.inner.cache.lock().expect("key cache").get(hash)
            && c.read_at.elapsed() < CACHE_TTL
        {
            return Ok(c.row.clone());
        }
        let row = store::api_keys::find_by_hash(&self.inner.db, hash).await?;
        let mut cache = self.inner.cache.lock().expect("key cache");
        if cache.len() >= CACHE_CAP {
            cache.clear();
        }
        cache.insert(
            hash.to_owned(),
            CachedKey {
                row: row.clone(),
                read_at: Instant::now(),
            },
        );
        Ok(row)
    }

    /// Records the key's use at most once a minute per process (the store skips the write
    /// when another process recorded it in the last minute), off the request's path.
    fn touch(&self, id: &str, now_ms: i64) {
        {
            let mut touched = self.inner.touched.lock().expect("touched");
            if touched.get(id).is_some_and(|at| at.elapsed() < TOUCH_EVERY) {
                return;
            }
            touched.insert(id.to_owned(), Instant::now());
        }
        let db = self.inner.db.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            if let Err(e) = store::api_keys::touch(&db, &id, now_ms).await {
                tracing::warn!(key = %id, error = %e, "could not record a key's last use");
            }
        });
    }
}
