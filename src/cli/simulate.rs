//! `crucible simulate`: one text and one image tournament from registration to weights, on simulated
//! miners, a simulated fleet and virtual time, through the same actors as the validator. With `--db`
//! the run is durable: the same command on the same file resumes an unfinished run, and the final report
//! equals that of an uninterrupted run with the same seed. With `simulation.executor = "local"` or
//! `"remote"` the trainings really run (see [`crate::sim::run::Execution`]). With `--serve` the control
//! API and the live pages are served while it runs, with virtual time paced (`--pace`) so a person can
//! watch, and afterwards until Ctrl-C.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;

use super::CliError;
use super::progress::{Progress, print_summary};
use crate::config::{ExecutorBackend, Settings};
use crate::miners::Submission;
use crate::sim::NodeSpec;
use crate::sim::run::{Execution, Live, SimError, SimRun, open, run_live};

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
    /// Serve the control API and the live pages on this address (host:port) while the simulation
    /// runs, and afterwards until Ctrl-C.
    #[arg(long, value_name = "ADDR")]
    pub serve: Option<String>,
    /// With --serve: virtual seconds that pass per real second, so a person can watch.
    #[arg(long, value_name = "SECONDS", default_value_t = 1800.0)]
    pub pace: f64,
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
    if !(args.pace.is_finite() && args.pace > 0.0) {
        return Err(CliError::Usage("--pace must be a positive number of virtual seconds per second".into()));
    }
    let failed = |e: SimError| match e {
        SimError::OtherSimulation(_) => CliError::Usage(e.to_string()),
        other => CliError::Failure(other.into()),
    };
    let store = open(&opts).map_err(failed)?;
    let (events, _) = tokio::sync::broadcast::channel(65_536);
    let served = match &args.serve {
        Some(address) => Some(serve(address, settings, store.clone(), events.clone())?),
        None => None,
    };
    let mut progress = Progress::new(std::io::stdout().is_terminal());
    println!("simulating {} miners (seed {}) on {}", args.miners, args.seed, args.nodes);
    let live = Live { events, pace: served.as_ref().map(|_| args.pace) };
    let (report, info) =
        run_live(store, live, &opts, &settings.rules, move |event| progress.show(event)).map_err(failed)?;
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
    if let Some(url) = served {
        println!("the simulation has ended; still serving {url} (Ctrl-C to stop)");
        std::io::stdout().flush().ok();
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(anyhow::Error::from)?;
        runtime.block_on(tokio::signal::ctrl_c()).map_err(anyhow::Error::from)?;
    }
    Ok(())
}

/// Serves the control API and the live pages on a thread of their own; returns the base URL.
fn serve(
    address: &str,
    settings: &Settings,
    store: std::sync::Arc<crate::store::Store>,
    events: tokio::sync::broadcast::Sender<crate::actors::Event>,
) -> Result<String, CliError> {
    let api = crate::api::ApiSettings { listen: address.to_owned(), ..settings.api.clone() };
    if let Some(problem) = api.validate().into_iter().next() {
        return Err(CliError::Usage(format!("--serve: {problem}")));
    }
    crate::api::install_metrics();
    let listener = std::net::TcpListener::bind(address)
        .map_err(|e| CliError::Usage(format!("--serve: cannot listen on {address}: {e}")))?;
    let url = format!("http://{}", listener.local_addr().map_err(anyhow::Error::from)?);
    let state =
        crate::api::ApiState { store, rules: settings.rules.clone(), events, directory_file: None, control: None };
    std::thread::spawn(move || {
        let served =
            actix_web::rt::System::new().block_on(async move { crate::api::start(state, &api, listener)?.await });
        if let Err(e) = served {
            eprintln!("the control API stopped: {e}");
        }
    });
    // Tests and scripts read the address (port 0 picks one) from this line.
    println!("serving the live pages and the control API on {url}/");
    Ok(url)
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
