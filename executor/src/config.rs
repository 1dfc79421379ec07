//! The executor's settings: the common ones plus the models it serves, its stake
//! and batch size, from flags, environment variables and a TOML file.

use crate::cheat::Cheat;
use crate::service::Options;
use clap::Args;
use refute_service::config::read_file;
use refute_service::{CommonArgs, ModelSet, Settings};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Flags of `executor run` and `executor check`.
#[derive(Debug, Clone, Default, Args)]
pub struct ExecutorArgs {
    /// TOML config file with any of the settings below (flags and environment win).
    #[arg(long, env = "REFUTE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Common settings.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Model manifest to serve (repeat the flag; comma-separated in the environment).
    #[arg(long = "model", env = "REFUTE_MODELS", value_delimiter = ',')]
    pub models: Vec<PathBuf>,
    /// Stake per result (wei, or e.g. `1ether`); default: the oracle's least stake.
    #[arg(long, env = "REFUTE_STAKE")]
    pub stake: Option<String>,
    /// Most requests run through the engine at once.
    #[arg(long, env = "REFUTE_BATCH_SIZE")]
    pub batch_size: Option<usize>,
    /// This instance's shard, `I/N` (0-based): it serves requests whose id is I mod N
    /// (run N executors, each with its own key and store, to split the requests).
    #[arg(long, env = "REFUTE_SHARD")]
    pub shard: Option<String>,
    /// Post deliberately wrong results (`output`, `step:N`, `element:S:E`): demos and tests only.
    #[arg(long, env = "REFUTE_CHEAT", hide = true)]
    pub cheat: Option<Cheat>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FileSettings {
    models: Vec<PathBuf>,
    stake: Option<String>,
    batch_size: Option<usize>,
    shard: Option<String>,
}

/// The executor's own keys in a config file.
pub const KEYS: &[&str] = &["models", "stake", "batch_size", "shard"];

/// Everything `executor run` needs, checked.
#[derive(Debug)]
pub struct Resolved {
    /// Common settings.
    pub settings: Settings,
    /// Served models.
    pub models: ModelSet,
    /// Executor options.
    pub options: Options,
}

impl ExecutorArgs {
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
        let settings = match self.common.or(file_common).settings(".refute-data/executor") {
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
            match ModelSet::load(&model_paths) {
                Ok(m) => Some(m),
                Err(e) => {
                    problems.push(format!("models: {e}"));
                    None
                }
            }
        };
        let stake = match self.stake.or(file.stake) {
            Some(s) => match refute_chain::parse_amount(&s) {
                Ok(v) => Some(v),
                Err(e) => {
                    problems.push(format!("stake: {e}"));
                    None
                }
            },
            None => None,
        };
        let batch_size = self.batch_size.or(file.batch_size).unwrap_or(16);
        if batch_size == 0 {
            problems.push("batch_size: must be at least 1".into());
        }
        let shard = match self.shard.or(file.shard) {
            Some(s) => refute_service::config::parse_shard(&s).map_err(|e| problems.push(format!("shard: {e}"))).unwrap_or((0, 1)),
            None => (0, 1),
        };
        if let (Some(c), Some(m)) = (self.cheat, &models) {
            for id in m.ids() {
                if let Some((model, _)) = m.get(&id)
                    && let Err(e) = c.check(model)
                {
                    problems.push(format!("cheat: {e}"));
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Resolved {
            settings: settings.expect("checked"),
            models: models.expect("checked"),
            options: Options { stake, batch_size, cheat: self.cheat, cheat_only: None, shard },
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
    fn a_shard_is_read_and_a_bad_one_named() {
        let args = |shard: &str| ExecutorArgs { shard: Some(shard.into()), models: vec![], ..Default::default() };
        let problems = args("2/2").resolve().unwrap_err();
        assert!(problems.iter().any(|p| p.starts_with("shard: ") && p.contains("`2/2`")), "{problems:?}");
        let problems = args("1/2").resolve().unwrap_err();
        assert!(!problems.iter().any(|p| p.starts_with("shard")), "{problems:?}");
    }
}
