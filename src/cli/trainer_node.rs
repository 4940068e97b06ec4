//! `crucible trainer-node`: serves the trainer API on a GPU host (see `crate::node`) until SIGTERM or
//! Ctrl-C. Prints `trainer-node listening on ADDRESS` on stdout once it accepts connections.

use std::net::TcpListener;
use std::rc::Rc;
use std::sync::Arc;

use clap::Args;

use super::CliError;
use crate::clock::WallClock;
use crate::config::{LogFormat, Settings};
use crate::exec::Executor;
use crate::exec::local::LocalExecutor;
use crate::node::settings::NodeExecutorKind;
use crate::node::{NodeParts, inventory, start};
use crate::sim::{SimSettings, SimWorld, SimulatedExecutor};
use crate::store::Store;

#[derive(Debug, Args)]
pub struct TrainerNodeArgs {
    /// Log format: `text` (readable) or `json` (one object per line). Overrides log.format.
    #[arg(long, value_parser = ["text", "json"])]
    pub log_format: Option<String>,
}

pub fn run(args: TrainerNodeArgs, settings: &Settings) -> Result<(), CliError> {
    let format = match args.log_format.as_deref() {
        Some("json") => LogFormat::Json,
        Some(_) => LogFormat::Text,
        None => settings.log.format,
    };
    crate::telemetry::init(format, &settings.log.filter);
    serve(settings).map_err(CliError::Failure)
}

/// The executor `trainer_node.executor` names. Call inside the actix system that will run it.
async fn executor(settings: &Settings, store: &Store) -> anyhow::Result<Rc<dyn Executor>> {
    Ok(match settings.trainer_node.executor {
        NodeExecutorKind::Simulated => {
            let sim = &settings.simulation;
            let world = SimWorld::new(SimSettings { miners: sim.miners, seed: sim.seed, shares: sim.shares.clone() });
            Rc::new(SimulatedExecutor::new(Arc::new(world), Arc::new(WallClock)))
        }
        NodeExecutorKind::Local => {
            let engine = crate::docker::Engine::connect().await?;
            let instance = store.instance_id(chrono::Utc::now())?;
            let local = LocalExecutor::new(engine, settings.local_executor.clone(), settings.gates.clone())
                .with_instance(&instance);
            // Containers of this node that no running task claims are removed before anything starts.
            let running = store.node_tasks_in(crate::domain::NodeTaskStatus::Training)?;
            let keep: Vec<_> = running.into_iter().map(|t| (t.task_id, t.hotkey, t.attempt)).collect();
            local.reap_at_start(&keep).await;
            Rc::new(local)
        }
    })
}

/// `crucible trainer-node`: opens and migrates the store, finds the GPUs, serves until SIGTERM/Ctrl-C.
fn serve(settings: &Settings) -> anyhow::Result<()> {
    let node = &settings.trainer_node;
    let store = Arc::new(settings.database.open()?);
    let applied = store.migrate()?;
    tracing::info!(database = %store.url(), migrations = applied.len(), "store ready");
    let gpus = inventory::inventory(node, crate::exec::gpus::discover());
    tracing::info!(gpus = ?gpus, executor = ?node.executor, "inventory");
    let listener = TcpListener::bind(&node.listen)
        .map_err(|e| anyhow::anyhow!("trainer_node.listen: cannot listen on {}: {e}", node.listen))?;
    let address = listener.local_addr()?;
    let access = node.access().map_err(|e| anyhow::anyhow!("trainer_node.allow_list: {e}"))?;
    tracing::info!(address = %address, "access: {}", node.access_mode().1);
    // Tests and scripts read the bound address (port 0 picks one) from this line.
    println!("trainer-node listening on {address}");
    let max_body_bytes = node.max_body_bytes;
    actix_web::rt::System::new().block_on(async move {
        let executor = executor(settings, &store).await?;
        let parts = NodeParts { store, executor, gpus, access, max_body_bytes };
        start(parts, listener)?.await.map_err(anyhow::Error::from)
    })?;
    tracing::info!("stopped");
    Ok(())
}
