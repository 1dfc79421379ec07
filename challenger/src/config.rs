//! The challenger's settings: the common ones plus the models it checks, its
//! bond, batch size and which results it follows (shard, sample), from flags,
//! environment variables and a TOML file.

use crate::service::{Options, Selection};
use clap::Args;
use refute_service::config::read_file;
use refute_service::{CommonArgs, ModelSet, Settings};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Flags of `challenger run` and `challenger check`.
#[derive(Debug, Clone, Default, Args)]
pub struct ChallengerArgs {
    /// TOML config file with any of the settings below (flags and environment win).
    #[arg(long, env = "REFUTE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Common settings.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Model manifest to check (repeat the flag; comma-separated in the
    /// environment). Results of other models are not followed.
    #[arg(long = "model", env = "REFUTE_MODELS", value_delimiter = ',')]
    pub models: Vec<PathBuf>,
    /// Bond per game (wei, or e.g. `0.1ether`); default: the least bond.
    #[arg(long, env = "REFUTE_BOND")]
    pub bond: Option<String>,
    /// Most results re-run at once.
    #[arg(long, env = "REFUTE_BATCH_SIZE")]
    pub batch_size: Option<usize>,
    /// This instance's shard, `I/N` (0-based): it follows results whose id is I mod N.
    #[arg(long, env = "REFUTE_SHARD")]
    pub shard: Option<String>,
    /// Fraction of results to check, in (0, 1].
    #[arg(long, env = "REFUTE_SAMPLE")]
    pub sample: Option<f64>,
    /// Challenge correct results too (demos only: such a challenger loses its bond).
    #[arg(long, env = "REFUTE_GRIEF", hide = true)]
    pub grief: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FileSettings {
    models: Vec<PathBuf>,
    bond: Option<String>,
    batch_size: Option<usize>,
    shard: Option<String>,
    sample: Option<f64>,
}

/// The challenger's own keys in a config file.
pub const KEYS: &[&str] = &["models", "bond", "batch_size", "shard", "sample"];

/// Everything `challenger run` needs, checked.
#[derive(Debug)]
pub struct Resolved {
    /// Common settings.
    pub settings: Settings,
    /// Checked models.
    pub models: ModelSet,
    /// Challenger options.
    pub options: Options,
}

pub use refute_service::config::parse_shard;

impl ChallengerArgs {
    /// Merges flags, environment and file; checks everything and lists every problem.
    pub fn resolve(self) -> Result<Resolved, Vec<String>> {
        let (file_common, file) = match &self.config {
            Some(p) => match read_file::<FileSettings>(p, KEYS) {
                Ok((c, mut f)) => {
                    f.models = f.models.iter().map(|m| relative_to(p, m)).collect();
                    (c, f)
                }
                Err(e) => return Err(vec![e.to_string()]),
            },
            None => (CommonArgs::default(), FileSettings::default()),
        };
        let mut problems = vec![];
        let settings = match self.common.or(file_common).settings(".refute-data/challenger") {
            Ok(s) => Some(s),
            Err(p) => {
                problems.extend(p);
                None
            }
        };
        let model_paths = if self.models.is_empty() { file.models } else { self.models };
        let models = if model_paths.is_empty() {
            problems.push("models: none given (flag --model, REFUTE_MODELS, or `models` in the config file)".into());
            None
        } else {
            ModelSet::load(&model_paths).map_err(|e| problems.push(format!("models: {e}"))).ok()
        };
        let bond = match self.bond.or(file.bond) {
            Some(s) => refute_chain::parse_amount(&s).map_err(|e| problems.push(format!("bond: {e}"))).ok(),
            None => None,
        };
        let batch_size = self.batch_size.or(file.batch_size).unwrap_or(16);
        if batch_size == 0 {
            problems.push("batch_size: must be at least 1".into());
        }
        let (shard, shards) = match self.shard.or(file.shard) {
            Some(s) => parse_shard(&s).map_err(|e| problems.push(format!("shard: {e}"))).unwrap_or((0, 1)),
            None => (0, 1),
        };
        let sample = self.sample.or(file.sample).unwrap_or(1.0);
        if !(sample > 0.0 && sample <= 1.0) {
            problems.push(format!("sample: must be in (0, 1], got {sample}"));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Resolved {
            settings: settings.expect("checked"),
            models: models.expect("checked"),
            options: Options { bond, batch_size, selection: Selection { shard, shards, sample }, grief: self.grief },
        })
    }
}

/// A path in a config file is relative to the file's directory.
fn relative_to(file: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        file.parent().unwrap_or(Path::new(".")).join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_bad_ones_are_named() {
        assert_eq!(parse_shard("1/3"), Ok((1, 3)));
        for bad in ["3/3", "1", "a/2", "0/0", "-1/2"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let args = ChallengerArgs {
            common: CommonArgs { rpc_url: Some("ftp://x".into()), private_key: Some("nope".into()), ..Default::default() },
            shard: Some("5/2".into()),
            sample: Some(0.0),
            bond: Some("lots".into()),
            ..Default::default()
        };
        let p = args.resolve().unwrap_err().join("\n");
        for what in ["rpc_url", "private_key", "deployment", "models", "shard", "sample", "bond"] {
            assert!(p.contains(&format!("{what}:")), "{what} not named in:\n{p}");
        }
    }

    #[test]
    fn unknown_keys_in_the_file_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "rpc_url = \"http://127.0.0.1:8545\"\nsampel = 0.5\n").unwrap();
        let args = ChallengerArgs { config: Some(f), ..Default::default() };
        let p = args.resolve().unwrap_err().join("\n");
        assert!(p.contains("unknown setting `sampel`"), "{p}");
    }
}
