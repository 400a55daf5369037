//! The signature of a webhook request: `Mintflow-Signature: t=<unix seconds>,v1=<hex>`, where
//! the hex is HMAC-SHA256 under the subscription's secret of `"<t>.<body>"`. Binding the time
//! lets receivers refuse replays older than a few minutes. While a secret is being rotated out
//! there is one `v1` per secret, the current one first; a receiver accepts any that matches.
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const HEADER: &str = "Mintflow-Signature";

/// The header's value: the time, then one `v1` per secret in `secrets`.
pub fn sign<S: AsRef<str>>(secrets: &[S], timestamp: i64, body: &str) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&hex::encode(mac(secret.as_ref(), timestamp, body)));
    }
    header
}

fn mac(secret: &str, timestamp: i64, body: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Checks a signature header against `body`, in constant time; `now` and `tolerance_secs`
/// bound the age of its timestamp. For receivers written in Rust, and for tests.
pub fn verify(secret: &str, header: &str, body: &str, now: i64, tolerance_secs: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    if (now - timestamp).abs() > tolerance_secs {
        return false;
    }
    let expected = mac(secret, timestamp, body);
    signatures
        .iter()
        .any(|sig| bool::from(expected.as_slice().ct_eq(sig.as_slice())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_with_its_secret_body_and_time() {
        let header = sign(&["s3cret-s3cret-s3cret"], 1_700_000_000, r#"{"a":1}"#);
        assert!(verify(
            "s3cret-s3cret-s3cret",
            &header,
            r#"{"a":1}"#,
            1_700_000_010,
            300
        ));
        assert!(!verify(
            "other-secret-other",
            &header,
            r#"{"a":1}"#,
            1_700_000_010,
            300
        ));
        assert!(!verify(
            "s3cret-s3cret-s3cret",
            &header,
            r#"{"a":2}"#,
            1_700_000_010,
            300
        ));
        assert!(!verify(
            "s3cret-s3cret-s3cret",
            &header,
            r#"{"a":1}"#,
            1_700_001_000,
            300
        ));
    }

    #[test]
    fn during_a_rotation_either_secret_verifies() {
        let body = r#"{"a":1}"#;
        let header = sign(
            &["new-secret-new-secret", "old-secret-old-secret"],
            1_700_000_000,
            body,
        );
        assert_eq!(header.matches(",v1=").count(), 2, "{header}");
        assert!(header.starts_with(&sign(&["new-secret-new-secret"], 1_700_000_000, body)));
        for secret in ["new-secret-new-secret", "old-secret-old-secret"] {
            assert!(
                verify(secret, &header, body, 1_700_000_000, 300),
                "{secret}"
            );
        }
        assert!(!verify(
            "a-third-secret-entirely",
            &header,
            body,
            1_700_000_000,
            300
        ));
    }
}
