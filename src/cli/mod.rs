//! The command line: argument parsing with clap and the dispatch to each command. Bad input exits
//! with code 2 and one line naming the problem; failures of the system (database unreachable, ...)
//! exit with code 1.

mod bench;
mod doctor;
mod images;
mod ledger;
mod miner;
mod progress;
mod rules;
mod simulate;
mod tasks;
mod trainer_node;
mod trial;
mod validator;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Settings;

#[derive(Debug, Parser)]
#[command(name = "crucible", version, about = "A validator runtime for open-source training tournaments")]
pub struct Cli {
    /// A TOML file overriding config/default.toml (only the keys it names).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the database migrations to the configured database.
    Migrate {
        /// Overrides database.url for this run.
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
    },
    /// Record a received transfer as a fee credit, or read a coldkey's balance.
    Ledger {
        #[command(subcommand)]
        command: ledger::LedgerCommand,
    },
    /// The validator-owned images (evaluator, download step, crucible-ml-base), built with no registry.
    Images {
        #[command(subcommand)]
        command: images::ImagesCommand,
    },
    /// Task content: `tiny` writes a tiny content directory for CPU runs.
    Tasks {
        #[command(subcommand)]
        command: tasks::TasksCommand,
    },
    /// A reference miner server answering the registration ping from its configuration.
    Miner(miner::MinerArgs),
    /// Run one text and one image tournament on simulated miners, a simulated fleet and virtual time.
    Simulate(simulate::SimulateArgs),
    /// A miner's pre-flight check: one repository through the real local pipeline on Docker.
    Trial(trial::TrialArgs),
    /// The long-running validator on the wall clock; stops cleanly on SIGTERM or Ctrl-C.
    Validator(validator::ValidatorArgs),
    /// The trainer API on a GPU host (default port 8001): trainings started by validators.
    TrainerNode(trainer_node::TrainerNodeArgs),
    /// Benchmarks of the validator: `--packing` places drawn rounds on a fleet.
    Bench(bench::BenchArgs),
    /// Check a configuration end to end (database, content, Docker and images, GPUs, nodes, miners,
    /// API, directories) and print what to fix; exit code 1 when a check fails.
    Doctor(doctor::DoctorArgs),
    /// Print what the rules decide for given inputs, so anyone can audit a validator.
    Rules {
        #[command(subcommand)]
        command: rules::RulesCommand,
    },
}

/// What went wrong, and so which exit code the process ends with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The input was wrong: exit code 2.
    #[error("{0}")]
    Usage(String),
    /// The system failed: exit code 1.
    #[error("{0:#}")]
    Failure(#[from] anyhow::Error),
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(2),
            CliError::Failure(_) => ExitCode::from(1),
        }
    }
}

/// Parses the arguments; help and version print and exit, other errors become one line.
pub fn parse() -> Result<Cli, CliError> {
    Cli::try_parse().map_err(|e| {
        use clap::error::ErrorKind::*;
        if matches!(e.kind(), DisplayHelp | DisplayVersion | DisplayHelpOnMissingArgumentOrSubcommand) {
            e.exit();
        }
        CliError::Usage(one_line(&e.render().to_string()))
    })
}

/// The first paragraph of a multi-line message, on one line.
fn one_line(message: &str) -> String {
    let paragraph: Vec<&str> = message.lines().take_while(|l| !l.trim().is_empty()).map(str::trim).collect();
    paragraph.join(" ").trim_start_matches("error: ").to_owned()
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    if let Command::Miner(_) = cli.command {
        return miner::run(cli.config);
    }
    let settings = Settings::load(cli.config.as_deref()).map_err(|e| CliError::Usage(e.to_string()))?;
    match cli.command {
        Command::Doctor(args) => doctor::run(args, cli.config.as_deref(), &settings),
        Command::Migrate { database_url } => {
            let url = database_url.unwrap_or(settings.database.url);
            migrate(&url)
        }
        Command::Rules { command } => rules::run(command, &settings),
        Command::Bench(args) => bench::run(args, &settings),
        Command::Simulate(args) => simulate::run(args, &settings),
        Command::Miner(_) => miner::run(cli.config),
        Command::Ledger { command } => ledger::run(command, &settings),
        Command::Validator(args) => validator::run(args, &settings),
        Command::TrainerNode(args) => trainer_node::run(args, &settings),
        Command::Trial(args) => trial::run(args, &settings),
        Command::Images { command } => images::run(command),
        Command::Tasks { command } => tasks::run(command, &settings),
    }
}

fn migrate(url: &str) -> Result<(), CliError> {
    let store = crate::store::Store::open(url).map_err(anyhow::Error::from)?;
    let applied = store.migrate().map_err(anyhow::Error::from)?;
    if applied.is_empty() {
        println!("database {} is up to date", store.url());
    } else {
        for version in &applied {
            println!("applied {version}");
        }
        println!("database {} migrated ({} applied)", store.url(), applied.len());
    }
    Ok(())
}

/// Installs the SIGTERM and Ctrl-C handlers now; the future resolves when either arrives.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = match term {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the validator");
                    return ctrl_c.await.unwrap_or(());
                }
            };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        ctrl_c.await.unwrap_or(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_errors_shrink_to_one_line() {
        let message = "error: the following required arguments were not provided:\n  --task-type <T>\n\nUsage: x\n";
        assert_eq!(one_line(message), "the following required arguments were not provided: --task-type <T>");
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
