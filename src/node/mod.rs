//! `crucible trainer-node`: the trainer API (trainer-node-api.md) on a GPU host, wire-compatible with
//! the reference's Python trainer nodes, plus bearer-token access.
//!
//! * `settings`: `[trainer_node]`, `[[validator.nodes]]` and `[validator.polling]`.
//! * `wire`: the JSON of the API, both the node's side and the remote executor's.
//! * access and errors come from [`crate::http`]: allow-list, bearer token, JSON errors.
//! * `inventory`: the GPUs offered (discovered with NVML, else configured).
//! * `book`: the TaskBook actor: starts, GPU holds, runs through the executor, restore after restart.
//! * `routes`: the HTTP handlers.
//!
//! Task records are durable (`node_tasks` in the configured database): a restarted node knows its
//! tasks and re-attaches to runs its executor still sees.
//!
//! The executor comes from `trainer_node.executor` (`simulated`, or `local`: the Docker pipeline);
//! [`executor`] is the one place that builds it, so another backend is one variant and one match arm.

pub mod answers;
pub mod book;
pub mod checks;
pub mod inventory;
pub mod routes;
pub mod settings;
pub mod wire;

use std::net::TcpListener;
use std::rc::Rc;
use std::sync::Arc;

use actix::Actor;
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

use crate::actors::Db;
use crate::clock::WallClock;
use crate::config::Settings;
use crate::exec::Executor;
use crate::exec::local::LocalExecutor;
use crate::http::auth::Access;
use crate::http::{Gate, guard};
use crate::sim::{SimSettings, SimWorld, SimulatedExecutor};
use crate::store::Store;
use book::TaskBook;
use inventory::NodeGpu;
use routes::NodeState;
use settings::NodeExecutorKind;

/// Everything a node server is made of.
pub struct NodeParts {
    pub store: Arc<Store>,
    pub executor: Rc<dyn Executor>,
    pub gpus: Vec<NodeGpu>,
    pub access: Access,
    pub max_body_bytes: usize,
}

/// The executor `trainer_node.executor` names. Call inside the actix system that will run it.
pub async fn executor(settings: &Settings, store: &Store) -> anyhow::Result<Rc<dyn Executor>> {
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

/// Starts the task book (which restores the stored tasks first) and the HTTP server on `listener`.
/// Call inside a running actix system; the returned server runs until stopped or signalled.
pub fn start(parts: NodeParts, listener: TcpListener) -> std::io::Result<Server> {
    let book = TaskBook::new(Db::new(parts.store.clone()), parts.executor, parts.gpus).start();
    let state = NodeState { book, store: parts.store, max_body_bytes: parts.max_body_bytes };
    let gate = web::Data::new(Gate { access: parts.access, public_reads: false, open: &[], detail_body: true });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .app_data(gate.clone())
            .app_data(web::QueryConfig::default().error_handler(|e, _| {
                let issue = answers::Issue::new(
                    "query_invalid",
                    vec![serde_json::json!("query")],
                    e.to_string(),
                    serde_json::Value::Null,
                );
                answers::NodeError::Invalid(vec![issue]).into()
            }))
            .wrap(from_fn(guard))
            .configure(routes::configure)
            .default_service(web::to(answers::no_route))
    })
    .workers(2)
    .listen(listener)?
    .run();
    Ok(server)
}

/// `crucible trainer-node`: opens and migrates the store, finds the GPUs, serves until SIGTERM/Ctrl-C.
pub fn run(settings: &Settings) -> anyhow::Result<()> {
    let node = &settings.trainer_node;
    let store = Arc::new(Store::open(&settings.database.url)?);
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
