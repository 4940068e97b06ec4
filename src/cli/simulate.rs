//! `crucible simulate`: one text and one image tournament from registration to weights, on simulated
//! miners, a simulated fleet and virtual time, through the same actors as the validator. With `--db`
//! the run is durable: the same command on the same file resumes an unfinished run, and the final report
//! equals that of an uninterrupted run with the same seed. With `simulation.executor = "local"` or
//! `"remote"` the trainings really run (see [`crate::sim::run::Execution`]).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;

use super::CliError;
use super::progress::{Progress, print_summary};
use crate::config::{ExecutorBackend, Settings};
use crate::miners::Submission;
use crate::sim::NodeSpec;
use crate::sim::run::{Execution, SimError, SimRun, run as run_simulation};

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Number of simulated miners.
    #[arg(long, default_value_t = 32)]
    pub miners: usize,
    /// Seed of everything random: the same seed gives the same tournaments, winners and weights.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// A SQLite file to keep the run in (resumable); in memory when absent.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// The simulated fleet: nodes of H100- and A100-class GPUs, e.g. 4x8H100,2x4A100.
    #[arg(long, value_name = "SPEC", default_value = "4x8H100,2x4A100")]
    pub nodes: String,
}

pub fn run(args: SimulateArgs, settings: &Settings) -> Result<(), CliError> {
    let nodes = NodeSpec::parse(&args.nodes).map_err(|e| CliError::Usage(e.to_string()))?;
    if args.miners == 0 {
        return Err(CliError::Usage("--miners must be at least 1".into()));
    }
    let opts = SimRun {
        miners: args.miners,
        seed: args.seed,
        db: args.db.clone(),
        nodes,
        nodes_spec: args.nodes.clone(),
        shares: settings.simulation.shares.clone(),
        execution: execution(settings)?,
    };
    if !matches!(opts.execution, Execution::Simulated) {
        println!(
            "trainings really run ({:?} executor, wall clock); answering miners submit {} at {}",
            settings.simulation.executor, settings.simulation.repository, settings.simulation.commit
        );
    }
    let mut progress = Progress::new(std::io::stdout().is_terminal());
    println!("simulating {} miners (seed {}) on {}", args.miners, args.seed, args.nodes);
    let (report, info) =
        run_simulation(&opts, &settings.rules, move |event| progress.show(event)).map_err(|e| match e {
            SimError::OtherSimulation(_) => CliError::Usage(e.to_string()),
            other => CliError::Failure(other.into()),
        })?;
    if info.resumed {
        println!("resumed the run in {} from {}", info.database, info.started_at);
    }
    print_summary(&report);
    if let Some(path) = &args.report {
        let text = serde_json::to_string_pretty(&report).map_err(anyhow::Error::from)?;
        std::fs::write(path, text + "\n").map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        println!("report written to {}", path.display());
    }
    std::io::stdout().flush().ok();
    Ok(())
}

/// Where the trainings run, from `simulation.executor`.
fn execution(settings: &Settings) -> Result<Execution, CliError> {
    let sim = &settings.simulation;
    let repo_url = crate::repo::fetch::source(&sim.repository)
        .map_err(|e| CliError::Usage(format!("simulation.repository: {e}")))?;
    let repository = Submission { repo_url, commit_hash: sim.commit.clone() };
    Ok(match sim.executor {
        ExecutorBackend::Simulated => Execution::Simulated,
        ExecutorBackend::Local => Execution::Local {
            settings: Box::new(settings.local_executor.clone()),
            gates: settings.gates.clone(),
            repository,
        },
        ExecutorBackend::Remote => Execution::Remote {
            nodes: settings.validator.nodes.clone(),
            polling: settings.validator.polling.clone(),
            repository,
        },
    })
}
