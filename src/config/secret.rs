//! A secret held in memory: the admin token, the signer's key, a keystore password. `Debug`
//! never shows it and its bytes are wiped when it is dropped. It can be given as a value (a
//! flag or an environment variable) or, better, as a file: `ps` shows every flag of a
//! process, and files keep secrets out of shell histories.
use std::path::Path;

use zeroize::Zeroizing;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads a secret from `path`. One trailing line break is dropped, as editors and
    /// `echo` add one; an empty file is an error.
    pub fn from_file(path: &Path) -> anyhow::Result<Secret> {
        let text =
            Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("cannot read the secret file {}: {e}", path.display())
            })?);
        let value = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(&text);
        anyhow::ensure!(
            !value.is_empty(),
            "the secret file {} is empty",
            path.display()
        );
        Ok(Secret::from(value))
    }

    /// The secret given as a value or as a file (clap refuses both at once), if any.
    pub fn from_value_or_file(
        value: Option<&Secret>,
        file: Option<&Path>,
    ) -> anyhow::Result<Option<Secret>> {
        match (value, file) {
            (_, Some(path)) => Secret::from_file(path).map(Some),
            (value, None) => Ok(value.cloned()),
        }
    }
}

impl std::ops::Deref for Secret {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(Zeroizing::new(s.to_owned()))
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(Zeroizing::new(s))
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret::from(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value() {
        let shown = format!("{:?}", Some(Secret::from("hunter2-token")));
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn files_lose_one_trailing_line_break() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\r\n").unwrap();
        assert_eq!(Secret::from_file(&path).unwrap().expose(), "s3cret");
        std::fs::write(&path, " spaced \n").unwrap();
        assert_eq!(Secret::from_file(&path).unwrap().expose(), " spaced ");
        std::fs::write(&path, "\n").unwrap();
        assert!(Secret::from_file(&path).is_err());
        assert!(Secret::from_file(&dir.path().join("missing")).is_err());
    }
}
