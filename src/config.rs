//! Typed settings: the embedded `config/default.toml`, then a `--config FILE`, then `CRUCIBLE_*`
//! environment variables (`CRUCIBLE_RULES__SCORING__GROUP_ADVANCE=6`). Validated once at start-up;
//! every error names the key or the file it came from.

use std::fmt;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Serialize};

use crate::domain::rules::{Rules, validate};

mod shares;

pub use shares::Shares;

/// The defaults, compiled in so the binary works from any directory.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub log: LogSettings,
    pub validator: ValidatorSettings,
    pub miners: MinersSettings,
    pub simulation: SimulationSettings,
    pub gates: crate::repo::GateRules,
    pub local_executor: crate::exec::local::LocalSettings,
    pub rules: Rules,
    pub trainer_node: crate::node::settings::TrainerNodeSettings,
    pub api: crate::api::ApiSettings,
    pub hub: crate::exec::hub::HubSettings,
    pub content: ContentSettings,
}

/// `[content]`: the task content the validator draws tasks from (`crate::content`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentSettings {
    /// A directory with `content.json`; empty: none (the validator refuses to start without one).
    pub dir: String,
}

/// Which backends `validator` uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorSettings {
    /// Where trainings run: `simulated`, `local` (this host's Docker engine), or `remote` (the trainer
    /// nodes of `nodes`).
    pub executor: ExecutorBackend,
    /// Who answers registration: `simulated`, or `http` (the miners of the directory, pinged over HTTP).
    pub registration: Backend,
    /// The trainer nodes `executor = "remote"` drives.
    pub nodes: Vec<crate::exec::remote::settings::RemoteNodeSettings>,
    /// How remote trainings are followed and nodes watched.
    pub polling: crate::exec::remote::settings::PollingSettings,
    /// A file holding the validator hotkey's secret seed (hex) to sign requests to miners; empty:
    /// requests go unsigned.
    #[serde(default)]
    pub key_file: String,
    /// Where HTTP registration checks out submitted commits to run the repository gates.
    pub scratch_dir: String,
}

impl ValidatorSettings {
    /// The signing key of `key_file`, if one is configured.
    pub fn load_key(&self) -> Result<Option<crate::miners::signing::ValidatorKey>, String> {
        if self.key_file.is_empty() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&self.key_file).map_err(|e| format!("{}: {e}", self.key_file))?;
        crate::miners::signing::ValidatorKey::from_seed_hex(&text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", self.key_file))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Simulated,
    Http,
}

/// Where `validator` runs trainings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorBackend {
    Simulated,
    /// This host's Docker engine, through the pipeline of `[local_executor]`.
    Local,
    /// The trainer nodes of `validator.nodes`, through their trainer API.
    Remote,
}

/// The miner directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinersSettings {
    /// A TOML file of `[[miner]]` entries (see config/miners.toml), synced into the store at start;
    /// empty for none.
    pub directory: String,
}

/// The simulated backends `validator` uses until the real executor and registration land.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationSettings {
    pub miners: usize,
    pub seed: u64,
    /// The simulated fleet, e.g. `4x8H100,2x4A100`.
    pub nodes: String,
    /// How often simulated miners and runs misbehave.
    pub shares: Shares,
    /// Where `simulate` runs trainings: `simulated` (virtual time), `local` (this host's Docker engine)
    /// or `remote` (the nodes of `validator.nodes`); the last two on the wall clock.
    pub executor: ExecutorBackend,
    /// With a real executor, the repository every answering simulated miner submits (URL or path).
    pub repository: String,
    /// Its commit SHA or branch.
    pub commit: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// May hold a password: print it with [`crate::store::redact_url`]-style masking only.
    pub url: String,
    /// A file-backed SQLite database's `synchronous`: `normal` keeps every commit through a process
    /// crash, `full` also through a power loss, at the cost of a disk sync per commit.
    pub sqlite_synchronous: crate::store::SqliteSynchronous,
}

impl DatabaseSettings {
    /// The store's options these settings choose.
    pub fn store_options(&self) -> crate::store::StoreOptions {
        crate::store::StoreOptions { sqlite_synchronous: self.sqlite_synchronous, ..Default::default() }
    }

    /// Opens the store these settings name (not migrated).
    pub fn open(&self) -> Result<crate::store::Store, crate::store::StoreError> {
        crate::store::Store::open_with(&self.url, &self.store_options())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

/// Settings that cannot be used, with every reason found.
#[derive(Debug)]
pub struct ConfigError(pub Vec<String>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.0.join("; "))
    }
}

impl std::error::Error for ConfigError {}

impl Settings {
    /// Loads defaults, then `file`, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_with_env(file, Env::prefixed("CRUCIBLE_"))
    }

    /// Loads with an explicit environment provider (tests pass their own).
    pub fn load_with_env(file: Option<&Path>, env: Env) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError(vec![format!(
                    "config file {} does not exist or is not a file",
                    path.display()
                )]));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        // Only nested keys are settings (`SECTION__KEY`); other CRUCIBLE_* variables belong to tools.
        let env = env.filter(|key| key.as_str().contains("__")).split("__");
        let settings: Settings =
            figment.merge(env).extract().map_err(|e| ConfigError(e.into_iter().map(|e| e.to_string()).collect()))?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = validate(&self.rules);
        if self.database.url.trim().is_empty() {
            problems.push("database.url: must not be empty".into());
        }
        if let Err(e) = crate::domain::node_spec::NodeSpec::parse(&self.simulation.nodes) {
            problems.push(format!("simulation.nodes: {e}"));
        }
        problems.extend(self.simulation.shares.validate());
        if self.simulation.executor != ExecutorBackend::Simulated && self.simulation.repository.trim().is_empty() {
            problems.push("simulation.repository: a real executor needs a repository for the miners to submit".into());
        }
        problems.extend(self.local_executor.validate());
        problems.extend(self.api.validate());
        let remote =
            self.validator.executor == ExecutorBackend::Remote || self.simulation.executor == ExecutorBackend::Remote;
        problems.extend(crate::exec::remote::settings::validate_remote(
            &self.validator.nodes,
            &self.validator.polling,
            remote,
        ));
        problems.extend(self.trainer_node.validate());
        problems.extend(self.hub.validate());
        if self.validator.scratch_dir.trim().is_empty() {
            problems.push("validator.scratch_dir: must not be empty".into());
        }
        if !self.validator.key_file.is_empty()
            && let Err(e) = self.validator.load_key()
        {
            problems.push(format!("validator.key_file: {e}"));
        }
        if self.gates.max_files == 0 || self.gates.max_repo_bytes == 0 {
            problems.push("gates: max_files and max_repo_bytes must be positive".into());
        }
        if self.gates.registration_fetch_secs == 0 || self.gates.fetch_memory_mib < 256 {
            problems.push("gates: registration_fetch_secs must be positive and fetch_memory_mib at least 256".into());
        }
        if let Some(host) = self.gates.allowed_hosts.iter().find(|h| h.is_empty() || h.contains(['/', ':', '@', ' '])) {
            problems.push(format!("gates.allowed_hosts: {host:?} is not a host name"));
        }
        if self.simulation.miners == 0 {
            problems.push("simulation.miners: must be at least 1".into());
        }
        if self.log.filter.parse::<tracing_subscriber::EnvFilter>().is_err() {
            problems.push(format!("log.filter: {:?} is not a valid tracing filter", self.log.filter));
        }
        if problems.is_empty() { Ok(()) } else { Err(ConfigError(problems)) }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database: DatabaseSettings {
                url: "sqlite://crucible.db".into(),
                sqlite_synchronous: crate::store::SqliteSynchronous::Normal,
            },
            log: LogSettings { format: LogFormat::Text, filter: "info".into() },
            validator: ValidatorSettings {
                executor: ExecutorBackend::Simulated,
                registration: Backend::Simulated,
                nodes: Vec::new(),
                polling: Default::default(),
                key_file: String::new(),
                scratch_dir: "crucible-work/registration".into(),
            },
            miners: MinersSettings { directory: String::new() },
            simulation: SimulationSettings {
                miners: 32,
                seed: 1,
                nodes: "4x8H100,2x4A100".into(),
                shares: Shares::default(),
                executor: ExecutorBackend::Simulated,
                repository: String::new(),
                commit: "main".into(),
            },
            gates: crate::repo::GateRules::default(),
            local_executor: crate::exec::local::LocalSettings::default(),
            rules: Rules::default(),
            trainer_node: Default::default(),
            api: Default::default(),
            hub: Default::default(),
            content: ContentSettings::default(),
        }
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
