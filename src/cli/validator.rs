//! `crucible validator`: the long-running validator on the wall clock. Backends come from the
//! configuration (`[validator]`): trainings run simulated, on this host's Docker engine (`local`), or
//! on remote trainer nodes (their GPUs read from `get_gpu_availability` at start, a health loop
//! un-fencing nodes that answer again).
//! SIGTERM or Ctrl-C stops it; every transition was persisted before its effects, so nothing is lost
//! and a restart carries on from the store.

use std::rc::Rc;
use std::sync::Arc;

use actix::Actor;
use clap::Args;
use tokio::sync::broadcast;

use super::{CliError, shutdown_signal};
use crate::actors::Event;
use crate::actors::health::{self, NodeHealth};
use crate::clock::WallClock;
use crate::config::{Backend, ExecutorBackend, LogFormat, Settings};
use crate::exec::remote::RemoteExecutor;
use crate::exec::remote::settings::RemoteNodeSettings;
use crate::http::Secret;
use crate::miners::directory::{DirectorySource, FileDirectory, sync};
use crate::miners::http::{HttpRegistration, MinerList, RepositoryCheck};
use crate::sim::{NodeSpec, SimSettings, SimWorld, SimulatedExecutor, SimulatedRegistration};
use crate::store::{Gpu, Store, TrainerNode};

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
    let store = Arc::new(Store::open(&settings.database.url).map_err(anyhow::Error::from)?);
    let applied = store.migrate().map_err(anyhow::Error::from)?;
    tracing::info!(database = %store.url(), migrations = applied.len(), "store ready");
    let closed = store.close_attempts_of_ended_tournaments(chrono::Utc::now()).map_err(anyhow::Error::from)?;
    if closed > 0 {
        tracing::info!(
            attempts = closed,
            "closed the attempts and trainings that ended tournaments left running or waiting"
        );
    }

    let sim = &settings.simulation;
    let nodes = NodeSpec::parse(&sim.nodes).map_err(|e| CliError::Usage(format!("simulation.nodes: {e}")))?;
    let world = Arc::new(SimWorld::new(SimSettings { miners: sim.miners, seed: sim.seed, shares: sim.shares.clone() }));
    let simulated = settings.validator.executor == ExecutorBackend::Simulated;
    if simulated && store.list_nodes().map_err(anyhow::Error::from)?.is_empty() {
        let now = chrono::Utc::now();
        for view in nodes.views() {
            let gpus = view
                .gpus
                .iter()
                .map(|g| Gpu {
                    index: g.index,
                    class: g.class,
                    model_name: g.class.to_string(),
                    vram_gb: 80,
                    holder: None,
                })
                .collect();
            let node = TrainerNode {
                id: view.id,
                address: "simulated".into(),
                fenced: false,
                last_seen: None,
                created_at: now,
                gpus,
            };
            store.upsert_node(&node).map_err(anyhow::Error::from)?;
        }
    }
    if !settings.miners.directory.is_empty() {
        let source = FileDirectory { path: settings.miners.directory.clone().into() };
        let entries = source.load().map_err(|e| CliError::Usage(e.to_string()))?;
        let summary = sync(&store, &entries, chrono::Utc::now()).map_err(anyhow::Error::from)?;
        tracing::info!(directory = %source.describe(), added = summary.added, updated = summary.updated, removed = summary.removed, "miner directory synced");
    }
    // The directory file is read again at every registration, so edits reach the next one.
    let miners = match settings.miners.directory.as_str() {
        "" => MinerList::Store(store.clone()),
        path => MinerList::Synced(store.clone(), Arc::new(FileDirectory { path: path.into() })),
    };
    let mut http = HttpRegistration::new(miners, &settings.rules.registration)
        .map_err(anyhow::Error::from)?
        .with_repository_check(RepositoryCheck {
            gates: settings.gates.clone(),
            fetch_timeout: std::time::Duration::from_secs(settings.gates.registration_fetch_secs),
            scratch_dir: settings.validator.scratch_dir.clone().into(),
        });
    if let Some(key) = settings.validator.load_key().map_err(CliError::Usage)? {
        tracing::info!(hotkey = key.address(), "requests to miners are signed");
        http = http.signed_by(key);
    }
    let http_registration: Rc<dyn crate::miners::RegistrationSource> = Rc::new(http);
    let rules = settings.rules.clone();
    let backends = settings.validator.clone();
    tracing::info!(executor = ?backends.executor, registration = ?backends.registration, "backends");
    let api_settings = settings.api.clone();
    let directory_file = Some(settings.miners.directory.clone()).filter(|d| !d.is_empty());
    let api_listener = match api_settings.listen.as_str() {
        "" => None,
        address => {
            let listener = std::net::TcpListener::bind(address)
                .map_err(|e| CliError::Usage(format!("api.listen: cannot listen on {address}: {e}")))?;
            crate::api::install_metrics();
            Some(listener)
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(anyhow::Error::from)?;
    let system = actix::System::with_tokio_rt(move || runtime);
    system.block_on(async move {
        // Listening starts here, before anything else runs, so an early SIGTERM is not lost.
        let stop = shutdown_signal();
        if let Some(listener) = &api_listener {
            // Announced once signals are handled: whoever reads this line may stop us at once.
            tracing::info!(address = %listener.local_addr()?, "control API listening");
        }
        let clock: crate::clock::SharedClock = Arc::new(WallClock);
        let db = crate::store::Db::new(store.clone());
        let (executor, remote): (Rc<dyn crate::exec::Executor>, _) = match backends.executor {
            ExecutorBackend::Simulated => (Rc::new(SimulatedExecutor::new(world.clone(), clock.clone())), None),
            ExecutorBackend::Local => {
                (super::local_node::start(settings, &db).await? as Rc<dyn crate::exec::Executor>, None)
            }
            ExecutorBackend::Remote => {
                let remote = RemoteExecutor::new(&backends.nodes, &backends.polling)?;
                let remote = Rc::new(match remote_evaluation(settings).await {
                    Ok(evaluation) => remote.with_evaluation(evaluation),
                    Err(e) => {
                        tracing::warn!(error = %e, "no evaluation of uploaded models: runs of nodes that upload instead of scoring cannot be scored");
                        remote
                    }
                });
                // Nodes an operator added through the control API, beside the configured ones.
                for added in db.run(|s| s.added_trainers()).await? {
                    let node = RemoteNodeSettings { id: added.id, url: added.url, token: Secret::new(added.token) };
                    if remote.add_node(&node) && added.draining {
                        remote.set_draining(&node.id);
                    } else if remote.url_of(&node.id).as_deref() != Some(node.url.as_str()) {
                        tracing::warn!(node = %node.id, url = %node.url, "an added trainer node is also configured: the configuration wins");
                    }
                }
                let answered = health::register_nodes(&remote, &db, &clock).await?;
                tracing::info!(nodes = ?answered, "remote trainer nodes (id, answered)");
                (remote.clone() as Rc<dyn crate::exec::Executor>, Some(remote))
            }
        };
        let mut node_views = db.run(crate::app::node_views).await?;
        // Nodes of an earlier configuration (or simulation) stay in the store but are not used.
        match (&remote, backends.executor) {
            (Some(remote), _) => {
                let ids = remote.node_ids();
                node_views.retain(|view| ids.contains(&view.id));
            }
            (None, ExecutorBackend::Local) => node_views.retain(|view| view.id == super::local_node::LOCAL_NODE),
            (None, _) => {}
        }
        let parts = crate::app::Parts {
            store,
            clock: clock.clone(),
            rules,
            catalog,
            executor,
            registration: match backends.registration {
                Backend::Simulated => Rc::new(SimulatedRegistration::new(world, clock.clone())),
                Backend::Http => http_registration,
            },
            limit: None,
            types: crate::domain::TournamentType::ALL.to_vec(),
            seed: rand::random(),
        };
        let (events, _) = broadcast::channel::<Event>(4096);
        let mut log = events.subscribe();
        actix::spawn(async move {
            while let Some(event) = crate::actors::events::next(&mut log).await {
                tracing::info!(event = ?event, "event");
            }
        });
        let (api_store, api_rules) = (parts.store.clone(), parts.rules.clone());
        let running = crate::app::start(parts, node_views, events.clone());
        let executor_name = match backends.executor {
            ExecutorBackend::Simulated => "simulated",
            ExecutorBackend::Local => "local",
            ExecutorBackend::Remote => "remote",
        };
        let fleet = crate::actors::fleet::FleetActor::new(
            remote.clone(),
            executor_name,
            running.broker.clone(),
            db.clone(),
            clock.clone(),
        )
        .start();
        if let Some(listener) = api_listener {
            let state = crate::api::ApiState {
                store: api_store,
                rules: api_rules,
                events,
                directory_file,
                control: Some(crate::api::Control { supervisor: running.supervisor.clone(), fleet }),
            };
            actix::spawn(crate::api::start(state, &api_settings, listener)?);
        }
        if let Some(remote) = remote {
            let interval = std::time::Duration::from_secs_f64(backends.polling.health_interval_secs);
            NodeHealth { remote, broker: running.broker, db, clock, interval }.start();
        }
        actix::spawn(async move {
            stop.await;
            tracing::info!("stopping: every transition is already persisted");
            actix::System::current().stop();
        });
        Ok::<(), anyhow::Error>(())
    })?;
    system.run().map_err(|e| anyhow::anyhow!("the actor system failed: {e}"))?;
    tracing::info!("stopped");
    Ok(())
}

/// How the validator scores runs of trainer nodes that upload their model instead of scoring it: the
/// model fetched from `[hub]`, evaluated with `local_executor.evaluator_image` on this host's engine,
/// without GPUs.
pub(crate) async fn remote_evaluation(
    settings: &Settings,
) -> anyhow::Result<crate::exec::remote::evaluation::RemoteEvaluation> {
    let engine = crate::docker::Engine::connect().await?;
    let image = &settings.local_executor.evaluator();
    if !engine.has_image(image).await {
        anyhow::bail!(
            "the evaluator image {image} (local_executor.evaluator_image) is not on this host's Docker engine"
        );
    }
    let local_settings = crate::exec::local::LocalSettings {
        gpus: crate::exec::local::GpuAccess::None,
        ..settings.local_executor.clone()
    };
    let mut local = crate::exec::local::LocalExecutor::new(engine, local_settings, settings.gates.clone());
    if !settings.content.dir.trim().is_empty() {
        local = local.with_content(settings.content.dir.trim().into());
    }
    let hub = crate::exec::hub::Hub::new(settings.hub.clone())?;
    Ok(crate::exec::remote::evaluation::RemoteEvaluation { local, hub })
}
