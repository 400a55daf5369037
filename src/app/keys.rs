//! API keys: what they look like, what they allow, and how they are created and revoked.
//!
//! A key is `mf_` followed by 32 random bytes (base64url, 43 characters). It is shown once,
//! when created; the database keeps its SHA-256 and its first characters only.
use std::fmt;
use std::time::Duration;

use alloy::primitives::Address;
use base64::Engine as _;
use rand::RngCore;
use sea_orm::{DatabaseConnection, DbErr};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::store::{self, api_keys::KeyRow, time::Clock};
use crate::workflows::priority;

/// What every key starts with, so a leaked one is recognisable (secret scanners, logs).
pub const KEY_PREFIX: &str = "mf_";
/// Characters of a key kept in clear to tell keys apart (`mf_` and 8 more).
const VISIBLE_CHARS: usize = 11;
/// Longest key name.
pub const MAX_NAME_LEN: usize = 100;
/// Most payees a key may settle for as a facilitator (`facilitator_pay_to`).
pub const MAX_FACILITATOR_PAYEES: usize = 100;

/// One permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Operator reads: lists, searches, histories, events, stats, settings, audit, metrics.
    Read,
    /// Mints without payment, within the key's quota.
    Mint,
    /// Everything, including settings, webhooks, workflow actions and key management.
    Admin,
    /// x402 facilitation: verifying and settling payments for other resource servers, to the
    /// payees `FACILITATOR_PAY_TO` allows.
    Facilitate,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Mint, Scope::Admin, Scope::Facilitate];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Mint => "mint",
            Scope::Admin => "admin",
            Scope::Facilitate => "facilitate",
        }
    }

    pub fn parse(raw: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == raw.trim())
    }
}

/// A set of scopes; `admin` implies the others.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scopes {
    read: bool,
    mint: bool,
    admin: bool,
    facilitate: bool,
}

impl Scopes {
    pub const ADMIN: Scopes = Scopes {
        read: true,
        mint: true,
        admin: true,
        facilitate: true,
    };

    pub fn of(scopes: impl IntoIterator<Item = Scope>) -> Scopes {
        let mut out = Scopes::default();
        for s in scopes {
            match s {
                Scope::Read => out.read = true,
                Scope::Mint => out.mint = true,
                Scope::Admin => out.admin = true,
                Scope::Facilitate => out.facilitate = true,
            }
        }
        out
    }

    /// Parses `read,mint`; unknown or empty lists are an error naming what was wrong.
    pub fn parse_list(raw: &str) -> Result<Scopes, KeyError> {
        let mut list = Vec::new();
        for part in raw.split(',').filter(|p| !p.trim().is_empty()) {
            list.push(Scope::parse(part).ok_or_else(|| KeyError::UnknownScope(part.into()))?);
        }
        if list.is_empty() {
            return Err(KeyError::NoScope);
        }
        Ok(Scopes::of(list))
    }

    /// True when these scopes allow what `needed` allows.
    pub fn allow(self, needed: Scope) -> bool {
        self.admin
            || match needed {
                Scope::Read => self.read,
                Scope::Mint => self.mint,
                Scope::Facilitate => self.facilitate,
                Scope::Admin => false,
            }
    }

    /// The scopes as granted (not expanded by `admin`), in a fixed order.
    pub fn list(self) -> Vec<Scope> {
        Scope::ALL
            .into_iter()
            .filter(|s| match s {
                Scope::Read => self.read,
                Scope::Mint => self.mint,
                Scope::Admin => self.admin,
                Scope::Facilitate => self.facilitate,
            })
            .collect()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.list().into_iter().map(Scope::as_str).collect();
        f.write_str(&names.join(","))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("unknown scope `{0}`: use read, mint, admin or facilitate")]
    UnknownScope(String),
    #[error("a key needs at least one scope (read, mint, admin, facilitate)")]
    NoScope,
    #[error("a key's name must be 1 to {MAX_NAME_LEN} characters")]
    BadName,
    #[error("`{0}` is not a duration: use a number with s, m, h or d (e.g. 30d)")]
    BadDuration(String),
    #[error("the mint quota must be at least 1 mint per minute")]
    BadQuota,
    #[error(
        "the maximum mint priority must be between 0 and {}",
        crate::workflows::priority::MAX
    )]
    BadMaxPriority,
    #[error(
        "payees to settle for (facilitatorPayTo) are for keys with the facilitate or admin scope"
    )]
    PayeesWithoutFacilitate,
    #[error(
        "give 1 to {MAX_FACILITATOR_PAYEES} payees to settle for, or none to settle for every \
         payee FACILITATOR_PAY_TO names"
    )]
    BadPayees,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The SHA-256 of a presented key, hex: what the table is searched by.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Parses `30d`, `12h`, `15m`, `90s`.
pub fn parse_duration(raw: &str) -> Result<Duration, KeyError> {
    let bad = || KeyError::BadDuration(raw.into());
    let raw = raw.trim();
    let (digits, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60).ok_or_else(bad)?,
        "h" => n.checked_mul(3600).ok_or_else(bad)?,
        "d" => n.checked_mul(86_400).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if secs == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(secs))
}

/// What a new key should be.
#[derive(Clone, Debug)]
pub struct NewKey {
    pub name: String,
    pub scopes: Scopes,
    pub expires_in: Option<Duration>,
    /// Most mints per minute this key may queue without paying (`None`: only the service's
    /// own limits apply).
    pub mint_quota_per_minute: Option<i64>,
    /// Highest mint priority this key may ask for (`priority::DEFAULT`: none above it).
    pub max_mint_priority: i16,
    /// The only payees this key may settle for as a facilitator, within
    /// `FACILITATOR_PAY_TO` (`None`: every payee that list names).
    pub facilitator_pay_to: Option<Vec<Address>>,
}

/// A key just created: the stored row and the key itself, which is shown this once.
pub struct Created {
    pub row: KeyRow,
    pub key: Zeroizing<String>,
}

impl fmt::Debug for Created {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Created")
            .field("row", &self.row)
            .field("key", &"<secret>")
            .finish()
    }
}

/// Creates a key, audited as `actor`, in one transaction, stamped by `clock`.
pub async fn create(
    db: &DatabaseConnection,
    new: NewKey,
    actor: &str,
    clock: &Clock,
) -> Result<Created, KeyError> {
    let name = new.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(KeyError::BadName);
    }
    if new.mint_quota_per_minute.is_some_and(|q| q < 1) {
        return Err(KeyError::BadQuota);
    }
    if priority::in_range(new.max_mint_priority.into()).is_err() {
        return Err(KeyError::BadMaxPriority);
    }
    let facilitator_pay_to = new
        .facilitator_pay_to
        .map(|payees| payee_list(new.scopes, payees))
        .transpose()?;
    let mut secret = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(secret.as_mut());
    let key = Zeroizing::new(format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret.as_ref())
    ));
    let now = clock.now_ms();
    let row = KeyRow {
        id: Uuid::now_v7().to_string(),
        name,
        prefix: key[..VISIBLE_CHARS].to_owned(),
        key_hash: hash(&key),
        scopes: new.scopes.to_string(),
        mint_quota_per_minute: new.mint_quota_per_minute,
        max_mint_priority: new.max_mint_priority,
        facilitator_pay_to,
        expires_at_ms: new
            .expires_in
            .map(|d| now.saturating_add(d.as_millis().min(i64::MAX as u128) as i64)),
        created_at_ms: now,
        created_by: actor.to_owned(),
        last_used_at_ms: None,
        revoked_at_ms: None,
    };
    let txn = store::begin_write(db).await?;
    store::api_keys::insert(&txn, &row).await?;
    txn.commit().await?;
    tracing::info!(key = %row.id, prefix = %row.prefix, scopes = %row.scopes, by = actor, "API key created");
    Ok(Created { row, key })
}

#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    #[error("no key {0}")]
    NotFound(String),
    #[error("key {0} is already revoked")]
    AlreadyRevoked(String),
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// Revokes a key, audited as `actor`, at `clock`'s now.
pub async fn revoke(
    db: &DatabaseConnection,
    id: &str,
    actor: &str,
    clock: &Clock,
) -> Result<(), RevokeError> {
    let txn = store::begin_write(db).await?;
    let revoked = store::api_keys::revoke(&txn, id, actor, clock.now_ms()).await?;
    txn.commit().await?;
    if revoked {
        tracing::info!(key = id, by = actor, "API key revoked");
        return Ok(());
    }
    Err(match store::api_keys::find(db, id).await? {
        Some(_) => RevokeError::AlreadyRevoked(id.to_owned()),
        None => RevokeError::NotFound(id.to_owned()),
    })
}

/// Every key, newest first, revoked and expired ones included.
pub async fn list(db: &DatabaseConnection) -> Result<Vec<KeyRow>, DbErr> {
    store::api_keys::list(db).await
}

/// The scopes a stored key grants (a row with a scope this build does not know grants that
/// scope to nobody).
pub fn scopes_of(row: &KeyRow) -> Scopes {
    Scopes::of(row.scopes.split(',').filter_map(Scope::parse))
}

/// A key's payees as stored: each once, lowercase, comma-separated, in the order given.
fn payee_list(scopes: Scopes, payees: Vec<Address>) -> Result<String, KeyError> {
    if !scopes.allow(Scope::Facilitate) {
        return Err(KeyError::PayeesWithoutFacilitate);
    }
    let mut unique: Vec<Address> = Vec::with_capacity(payees.len());
    for payee in payees {
        if !unique.contains(&payee) {
            unique.push(payee);
        }
    }
    if unique.is_empty() || unique.len() > MAX_FACILITATOR_PAYEES {
        return Err(KeyError::BadPayees);
    }
    let stored: Vec<String> = unique.iter().map(|a| format!("{a:#x}")).collect();
    Ok(stored.join(","))
}

/// The payees a stored key may settle for, `None` for every payee `FACILITATOR_PAY_TO`
/// names. An entry this build cannot read allows nobody (the key settles for fewer, never for
/// more).
pub fn facilitator_pay_to_of(row: &KeyRow) -> Option<Vec<Address>> {
    let stored = row.facilitator_pay_to.as_deref()?;
    Some(stored.split(',').filter_map(|a| a.parse().ok()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_implies_every_scope_and_others_only_themselves() {
        let admin = Scopes::parse_list("admin").unwrap();
        assert!(Scope::ALL.iter().all(|s| admin.allow(*s)));
        let read = Scopes::parse_list("read").unwrap();
        assert!(read.allow(Scope::Read) && !read.allow(Scope::Mint) && !read.allow(Scope::Admin));
        let both = Scopes::parse_list("read, mint").unwrap();
        assert!(both.allow(Scope::Mint) && !both.allow(Scope::Admin));
        assert_eq!(both.to_string(), "read,mint");
    }

    #[test]
    fn bad_scope_lists_are_refused() {
        assert!(
            matches!(Scopes::parse_list("read,root"), Err(KeyError::UnknownScope(s)) if s == "root")
        );
        assert!(matches!(Scopes::parse_list(" , "), Err(KeyError::NoScope)));
    }

    #[test]
    fn payees_are_for_facilitators_stored_once_and_read_back() {
        let facilitate = Scopes::of([Scope::Facilitate]);
        let (a, b) = (Address::repeat_byte(0xab), Address::repeat_byte(0x0c));
        let stored = payee_list(facilitate, vec![a, b, a]).unwrap();
        assert_eq!(stored, format!("{a:#x},{b:#x}"));
        let row = |payees: Option<&str>| KeyRow {
            scopes: "facilitate".into(),
            facilitator_pay_to: payees.map(Into::into),
            ..KeyRow::default()
        };
        assert_eq!(facilitator_pay_to_of(&row(Some(&stored))), Some(vec![a, b]));
        assert_eq!(facilitator_pay_to_of(&row(None)), None);
        // Unreadable: allows nobody, not everybody.
        assert_eq!(facilitator_pay_to_of(&row(Some("0xnope"))), Some(vec![]));

        assert!(payee_list(Scopes::ADMIN, vec![a]).is_ok());
        assert!(matches!(
            payee_list(Scopes::of([Scope::Read, Scope::Mint]), vec![a]),
            Err(KeyError::PayeesWithoutFacilitate)
        ));
        assert!(matches!(
            payee_list(facilitate, vec![]),
            Err(KeyError::BadPayees)
        ));
        let too_many = (0..=MAX_FACILITATOR_PAYEES)
            .map(|i| Address::left_padding_from(&(i as u64).to_be_bytes()))
            .collect();
        assert!(matches!(
            payee_list(facilitate, too_many),
            Err(KeyError::BadPayees)
        ));
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        for bad in ["", "d", "10", "10y", "0d", "-1d", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
