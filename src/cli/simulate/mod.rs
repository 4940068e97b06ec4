//! `crucible simulate`: one text and one image tournament from registration to weights, on simulated
//! miners, a simulated fleet and virtual time, through the same actors as the validator. With `--db`
//! the run is durable: the same command on the same file resumes an unfinished run, and the final report
//! equals that of an uninterrupted run with the same seed. With `simulation.executor = "local"` or
//! `"remote"` the trainings really run (see [`crate::sim::run::Execution`]). With `--serve` the control
//! API and the live pages are served while it runs, with virtual time paced (`--pace`) so a person can
//! watch, and afterwards until Ctrl-C.

mod real;

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
    /// Number of simulated miners (default 32; with --real, one per variant of the example trainer).
    #[arg(long)]
    pub miners: Option<usize>,
    /// Seed of everything random: the same seed gives the same tournaments, winners and weights.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// A SQLite file to keep the run in (resumable); in memory when absent.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// The simulated fleet: nodes of H100- and A100-class GPUs, e.g. 4x8H100,2x4A100 (with --real,
    /// default 1x2H100: two trainings at a time on this host's CPUs).
    #[arg(long, value_name = "SPEC")]
    pub nodes: Option<String>,
    /// A real text tournament: miners submit variants of the example trainer (tuned, timid, unchanged,
    /// diverging; the house trains it as shipped), every training really runs on this host's Docker
    /// engine on its CPUs, the download step prepares it from --content and the shipped evaluator
    /// scores it, on the wall clock.
    #[arg(long)]
    pub real: bool,
    /// With --real: the task content (`crucible tasks tiny --out DIR` writes one); default `[content] dir`.
    #[arg(long, value_name = "DIR")]
    pub content: Option<PathBuf>,
    /// With --real: the example trainer the variants are made from.
    #[arg(long, value_name = "DIR", default_value = "examples/trainer")]
    pub example: PathBuf,
    /// Serve the control API and the live pages on this address (host:port) while the simulation
    /// runs, and afterwards until Ctrl-C.
    #[arg(long, value_name = "ADDR")]
    pub serve: Option<String>,
    /// With --serve: virtual seconds that pass per real second, so a person can watch.
    #[arg(long, value_name = "SECONDS", default_value_t = 1800.0)]
    pub pace: f64,
}

pub fn run(args: SimulateArgs, settings: &Settings) -> Result<(), CliError> {
    let default_nodes = if args.real { "1x2H100" } else { "4x8H100,2x4A100" };
    let nodes_spec = args.nodes.clone().unwrap_or_else(|| default_nodes.to_owned());
    let nodes = NodeSpec::parse(&nodes_spec).map_err(|e| CliError::Usage(e.to_string()))?;
    let miners = args.miners.unwrap_or(if args.real { crate::sim::real::MINERS.len() } else { 32 });
    if miners == 0 {
        return Err(CliError::Usage("--miners must be at least 1".into()));
    }
    let mut rules = settings.rules.clone();
    let opts = if args.real {
        real::options(&args, settings, &mut rules, miners, nodes, nodes_spec)?
    } else {
        if args.content.is_some() {
            return Err(CliError::Usage("--content is for --real".into()));
        }
        SimRun {
            miners,
            seed: args.seed,
            db: args.db.clone(),
            nodes,
            nodes_spec,
            shares: settings.simulation.shares.clone(),
            execution: execution(settings)?,
            types: crate::domain::TournamentType::ALL.to_vec(),
            content: None,
        }
    };
    if !args.real && !matches!(opts.execution, Execution::Simulated) {
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
    if !matches!(opts.execution, Execution::Simulated) {
        progress = progress.with_trainings();
    }
    println!("simulating {} miners (seed {}) on {}", opts.miners, args.seed, opts.nodes_spec);
    let live = Live { events, pace: served.as_ref().map(|_| args.pace) };
    let started = std::time::Instant::now();
    let (report, info) = run_live(store, live, &opts, &rules, move |event| progress.show(event)).map_err(failed)?;
    if info.resumed {
        println!("resumed the run in {} from {}", info.database, info.started_at);
    }
    print_summary(&report);
    if args.real {
        real::print_outcome(&report, &opts, &rules, started.elapsed());
    }
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
    let state = crate::api::ApiState {
        store,
        rules: settings.rules.clone(),
        events,
        directory_file: None,
        control: None,
        ready: Default::default(),
    };
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
    let repositories = vec![Submission { repo_url, commit_hash: sim.commit.clone() }];
    Ok(match sim.executor {
        ExecutorBackend::Simulated => Execution::Simulated,
        ExecutorBackend::Local => Execution::Local {
            settings: Box::new(settings.local_executor.clone()),
            // A simulation faces no miners: its repository may be a local path.
            gates: crate::repo::GateRules { allow_local: true, ..settings.gates.clone() },
            repositories,
        },
        ExecutorBackend::Remote => Execution::Remote {
            nodes: settings.validator.nodes.clone(),
            polling: settings.validator.polling.clone(),
            repositories,
        },
    })
}
