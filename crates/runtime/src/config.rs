//! Reading a service's TOML configuration file, with errors that name the file
//! and the field. Flags and environment variables (clap) override the file.

use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// Why a configuration file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this service (unknown or mistyped field).
    #[error("config file {path}: {msg}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, naming the field.
        msg: String,
    },
}

/// Reads a TOML file into `T` (use `#[serde(deny_unknown_fields)]` on `T`).
pub fn read_toml<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.to_path_buf(), msg: e.to_string().trim().to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Cfg {
        rpc_url: Option<String>,
        confirmations: Option<u64>,
    }

    #[test]
    fn unknown_and_mistyped_fields_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "rpc_url = \"http://x\"\nconfirmation = 3\n").unwrap();
        let e = read_toml::<Cfg>(&p).unwrap_err().to_string();
        assert!(e.contains("confirmation") && e.contains("c.toml"), "{e}");
        std::fs::write(&p, "confirmations = \"three\"\n").unwrap();
        let e = read_toml::<Cfg>(&p).unwrap_err().to_string();
        assert!(e.contains("confirmations"), "{e}");
        std::fs::write(&p, "confirmations = 3\n").unwrap();
        assert_eq!(read_toml::<Cfg>(&p).unwrap().confirmations, Some(3));
        assert!(read_toml::<Cfg>(&dir.path().join("missing.toml")).unwrap_err().to_string().contains("missing.toml"));
    }
}
