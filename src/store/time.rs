//! Conversions between the stored unix-millisecond times and the RFC 3339 times of the API.
use chrono::{DateTime, Utc};

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub fn opt_from_ms(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.map(from_ms)
}
