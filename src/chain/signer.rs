//! The signing key: from `SIGNER_PRIVATE_KEY` or an encrypted keystore file. The key is never
//! logged: `Debug` shows only the address.
use std::path::Path;

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;

#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error("no signer configured: set SIGNER_PRIVATE_KEY or --keystore with KEYSTORE_PASSWORD")]
    Missing,
    #[error("SIGNER_PRIVATE_KEY is not a valid 32-byte hex private key")]
    InvalidKey,
    #[error("cannot open keystore {path}: {reason}")]
    Keystore { path: String, reason: String },
}

/// Loads the signer: a hex private key wins over a keystore file.
pub fn load(
    private_key: Option<&str>,
    keystore: Option<&Path>,
    keystore_password: Option<&str>,
) -> Result<PrivateKeySigner, SignerError> {
    if let Some(key) = private_key.map(str::trim).filter(|k| !k.is_empty()) {
        // The parse error may quote the input, so it is replaced by our own words.
        return key
            .parse::<PrivateKeySigner>()
            .map_err(|_| SignerError::InvalidKey);
    }
    if let Some(path) = keystore {
        return PrivateKeySigner::decrypt_keystore(path, keystore_password.unwrap_or_default())
            .map_err(|e| SignerError::Keystore {
                path: path.display().to_string(),
                reason: e.to_string(),
            });
    }
    Err(SignerError::Missing)
}

/// Lower-case hex, as addresses are stored.
pub fn address_key(address: Address) -> String {
    format!("{address:#x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANVIL_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    #[test]
    fn loads_a_hex_key_and_hides_it() {
        let signer = load(Some(ANVIL_KEY), None, None).unwrap();
        assert_eq!(
            address_key(signer.address()),
            "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
        );
        let shown = format!("{signer:?}");
        assert!(
            !shown.contains("ac0974bec39a17e3"),
            "Debug must not show the key: {shown}"
        );
    }

    #[test]
    fn bad_or_missing_keys_are_clear_errors() {
        let err = load(Some("0x1234"), None, None).unwrap_err();
        assert!(matches!(err, SignerError::InvalidKey));
        assert!(!err.to_string().contains("1234"));
        assert!(matches!(load(None, None, None), Err(SignerError::Missing)));
    }

    #[test]
    fn keystore_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let key: PrivateKeySigner = ANVIL_KEY.parse().unwrap();
        let mut rng = rand_core_compat();
        let (_, name) =
            PrivateKeySigner::encrypt_keystore(dir.path(), &mut rng, key.to_bytes(), "pw", None)
                .unwrap();
        let path = dir.path().join(name);
        let loaded = load(None, Some(&path), Some("pw")).unwrap();
        assert_eq!(loaded.address(), key.address());
        assert!(matches!(
            load(None, Some(&path), Some("wrong")),
            Err(SignerError::Keystore { .. })
        ));
    }

    fn rand_core_compat() -> impl alloy::signers::k256::elliptic_curve::rand_core::CryptoRngCore {
        alloy::signers::k256::elliptic_curve::rand_core::OsRng
    }
}
