//! The signing keys: from `SIGNER_PRIVATE_KEY` or an encrypted keystore file, or a pool of
//! them from `SIGNER_PRIVATE_KEYS` or a directory of keystore files. The key is never
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

/// Loads a pool of signers: the comma-separated hex keys of `SIGNER_PRIVATE_KEYS`, else every
/// keystore file of a directory (in name order, all under one password). The first is the
/// primary. `Ok(None)` when neither is given.
pub fn load_pool(
    private_keys: Option<&str>,
    keystore_dir: Option<&Path>,
    keystore_password: Option<&str>,
) -> Result<Option<Vec<PrivateKeySigner>>, SignerError> {
    if let Some(keys) = private_keys.map(str::trim).filter(|k| !k.is_empty()) {
        return keys
            .split(',')
            .map(|key| load(Some(key), None, None))
            .collect::<Result<Vec<_>, _>>()
            .map(Some);
    }
    let Some(dir) = keystore_dir else {
        return Ok(None);
    };
    let unreadable = |e: std::io::Error| SignerError::Keystore {
        path: dir.display().to_string(),
        reason: e.to_string(),
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(unreadable(std::io::Error::other("no keystore file in it")));
    }
    files
        .iter()
        .map(|path| load(None, Some(path), keystore_password))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
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

    #[test]
    fn a_pool_from_keys_or_a_keystore_directory() {
        const SECOND: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
        let pool = load_pool(Some(&format!("{ANVIL_KEY}, {SECOND}")), None, None)
            .unwrap()
            .unwrap();
        assert_eq!(pool.len(), 2);
        assert_eq!(
            pool[0].address(),
            load(Some(ANVIL_KEY), None, None).unwrap().address()
        );
        assert!(matches!(
            load_pool(Some(&format!("{ANVIL_KEY},0x12")), None, None),
            Err(SignerError::InvalidKey)
        ));
        assert!(load_pool(None, None, None).unwrap().is_none());

        let dir = tempfile::tempdir().unwrap();
        assert!(
            load_pool(None, Some(dir.path()), Some("pw")).is_err(),
            "an empty directory"
        );
        let mut rng = rand_core_compat();
        for key in [ANVIL_KEY, SECOND] {
            let key: PrivateKeySigner = key.parse().unwrap();
            PrivateKeySigner::encrypt_keystore(dir.path(), &mut rng, key.to_bytes(), "pw", None)
                .unwrap();
        }
        let pool = load_pool(None, Some(dir.path()), Some("pw"))
            .unwrap()
            .unwrap();
        assert_eq!(pool.len(), 2);
    }

    fn rand_core_compat() -> impl alloy::signers::k256::elliptic_curve::rand_core::CryptoRngCore {
        alloy::signers::k256::elliptic_curve::rand_core::OsRng
    }
}
