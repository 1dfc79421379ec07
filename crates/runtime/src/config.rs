//! Reading a service's TOML configuration file, with errors that name the file
//! and the setting. A file holds the settings every service shares and the
//! service's own; [`read_settings`] reads both parts and refuses keys that are
//! neither. Flags and environment variables (clap) override the file.

use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// Why a configuration file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("config file {}: {msg}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        msg: String,
    },
    /// A key that is no setting of this service.
    #[error("config file {}: unknown setting `{key}` (known: {})", path.display(), known.join(", "))]
    UnknownSetting {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// The settings the service knows.
        known: Vec<String>,
    },
    /// A setting of the wrong type or value.
    #[error("config file {} ({part}): {msg}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Which part of the settings (`common settings`, `service settings`).
        part: &'static str,
        /// The parser's message, naming the setting.
        msg: String,
    },
}

/// Reads a service's config file: `C` from the keys in `common`, `S` from the keys
/// in `own`; any other key is an error that names it and lists the known ones.
pub fn read_settings<C: DeserializeOwned, S: DeserializeOwned>(path: &Path, common: &[&str], own: &[&str]) -> Result<(C, S), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.to_path_buf(), msg: e.to_string().trim().to_string() })?;
    if let Some(k) = table.keys().find(|k| !common.contains(&k.as_str()) && !own.contains(&k.as_str())) {
        let known = common.iter().chain(own).map(|s| s.to_string()).collect();
        return Err(ConfigError::UnknownSetting { path: path.to_path_buf(), key: k.clone(), known });
    }
    let invalid =
        |part: &'static str, e: toml::de::Error| ConfigError::Invalid { path: path.to_path_buf(), part, msg: e.to_string().trim().to_string() };
    let c: C = table.clone().try_into().map_err(|e| invalid("common settings", e))?;
    let s: S = table.try_into().map_err(|e| invalid("service settings", e))?;
    Ok((c, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, serde::Deserialize)]
    #[allow(dead_code)]
    struct Common {
        rpc_url: Option<String>,
        confirmations: Option<u64>,
    }

    #[derive(Debug, Default, serde::Deserialize)]
    struct Own {
        stake: Option<String>,
    }

    fn read(p: &Path) -> Result<(Common, Own), ConfigError> {
        read_settings(p, &["rpc_url", "confirmations"], &["stake"])
    }

    #[test]
    fn unknown_and_mistyped_settings_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "rpc_url = \"http://x\"\nconfirmation = 3\n").unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains("unknown setting `confirmation`") && e.contains("c.toml") && e.contains("known: rpc_url, confirmations, stake"), "{e}");
        std::fs::write(&p, "confirmations = \"three\"\n").unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains("confirmations") && e.contains("(common settings)"), "{e}");
        std::fs::write(&p, "stake = 3\n").unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains("stake") && e.contains("(service settings)"), "{e}");
        std::fs::write(&p, "confirmations = [\n").unwrap();
        assert!(matches!(read(&p), Err(ConfigError::Parse { .. })));
        std::fs::write(&p, "confirmations = 3\nstake = \"1ether\"\n").unwrap();
        let (c, s) = read(&p).unwrap();
        assert_eq!((c.confirmations, s.stake.as_deref()), (Some(3), Some("1ether")));
        assert!(read(&dir.path().join("missing.toml")).unwrap_err().to_string().contains("missing.toml"));
    }
}
