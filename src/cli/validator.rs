//! `crucible validator`: the long-running validator on the wall clock. Backends come from the
//! configuration (`[validator]`): trainings run simulated, on this host's Docker engine (`local`), or
//! on remote trainer nodes (their GPUs read from `get_gpu_availability` at start, a health loop
//! un-fencing nodes that answer again).
//! SIGTERM or Ctrl-C stops it; every transition was persisted before its effects, so nothing is lost
//! and a restart carries on from the store.

use std::rc::Rc;
use std::sync::Arc;

use clap::Args;
use tokio::sync::broadcast;

use super::{CliError, shutdown_signal};
use crate::actors::Event;
use crate::app::{Application, Backends, Registration, Schedule, Trainings};
use crate::clock::{SharedClock, WallClock};
use crate::config::{Backend, ExecutorBackend, LogFormat, Settings};
use crate::sim::{NodeSpec, SimSettings, SimWorld, SimulatedExecutor, SimulatedRegistration};

#[derive(Debug, Args)]
pub struct ValidatorArgs {
    /// Log format: `text` (readable) or `json` (one object per line). Overrides log.format.
    #[arg(long, value_parser = ["text", "json"])]
    pub log_format: Option<String>,
}

/// The configured task content, checked; a missing or broken one stops the start with its problems.
fn load_content(settings: &Settings) -> Result<crate::content::Content, CliError> {
    let dir = settings.content.dir.trim();
    if dir.is_empty() {
        return Err(CliError::Usage(
            "content.dir: the validator needs task content to draw tasks from (`crucible tasks tiny --out DIR` writes a tiny one)".into(),
        ));
    }
    crate::content::Content::load(std::path::Path::new(dir))
        .map_err(|problems| CliError::Usage(format!("content.dir {dir}: {}", problems.join("; "))))
}

pub fn run(args: ValidatorArgs, settings: &Settings) -> Result<(), CliError> {
    let format = match args.log_format.as_deref() {
        Some("json") => LogFormat::Json,
        Some(_) => LogFormat::Text,
        None => settings.log.format,
    };
    crate::telemetry::init(format, &settings.log.filter);
    // A task the rules ask for and the content cannot serve would stall its tournament: refuse to start.
    let content = load_content(settings)?;
    let catalog = content.catalog.clone();
    let gaps = catalog.gaps(&settings.rules.tasks);
    if !gaps.is_empty() {
        return Err(CliError::Usage(format!("the task content cannot serve the rules: {}", gaps.join("; "))));
    }
    let store = Arc::new(settings.database.open().map_err(anyhow::Error::from)?);
    let applied = store.migrate().map_err(anyhow::Error::from)?;
    tracing::info!(database = %store.url(), migrations = applied.len(), "store ready");
    let sim = &settings.simulation;
    let world = Arc::new(SimWorld::new(SimSettings { miners: sim.miners, seed: sim.seed, shares: sim.shares.clone() }));
    let simulated = settings.validator.executor == ExecutorBackend::Simulated;
    if simulated && store.list_nodes().map_err(anyhow::Error::from)?.is_empty() {
        let nodes = NodeSpec::parse(&sim.nodes).map_err(|e| CliError::Usage(format!("simulation.nodes: {e}")))?;
        crate::app::record_fleet(&store, &nodes, chrono::Utc::now()).map_err(anyhow::Error::from)?;
    }
    let api = match settings.api.listen.as_str() {
        "" => None,
        address => Some(
            std::net::TcpListener::bind(address)
                .map_err(|e| CliError::Usage(format!("api.listen: cannot listen on {address}: {e}")))?,
        ),
    };
    let backends = &settings.validator;
    tracing::info!(executor = ?backends.executor, registration = ?backends.registration, "backends");
    let system = crate::app::system(false).map_err(anyhow::Error::from)?;
    system.block_on(async move {
        // Listening starts here, before anything else runs, so an early SIGTERM is not lost.
        let stop = shutdown_signal();
        let clock: SharedClock = Arc::new(WallClock);
        let trainings = match backends.executor {
            ExecutorBackend::Simulated => {
                Trainings::Given(Rc::new(SimulatedExecutor::new(world.clone(), clock.clone())))
            }
            ExecutorBackend::Local => Trainings::Local { as_node: true },
            ExecutorBackend::Remote => Trainings::Remote,
        };
        let registration = match backends.registration {
            Backend::Simulated => Registration::Given(Rc::new(SimulatedRegistration::new(world, clock.clone()))),
            Backend::Http => Registration::Http,
        };
        let (events, _) = broadcast::channel::<Event>(4096);
        let log = |event: &Event| tracing::info!(event = ?event, "event");
        let parts = Backends {
            store,
            clock,
            catalog,
            trainings,
            registration,
            schedule: Schedule::forever(),
            api,
            events,
            observe: Some(Box::new(log)),
        };
        let app = Application::build(settings, parts).await?;
        if let Some(address) = app.address() {
            // Announced once signals are handled: whoever reads this line may stop us at once.
            tracing::info!(address = %address, "control API listening");
        }
        app.run_until_stopped(stop).await;
        tracing::info!("stopping: every transition is already persisted");
        Ok::<(), anyhow::Error>(())
    })?;
    tracing::info!("stopped");
    Ok(())
}
