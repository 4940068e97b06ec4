//! One whole simulation: the store prepared (identity, fleet, balances), the actors started on a
//! paused tokio clock, run until every tournament has ended, then the report read back. Used by
//! `simulate`, the tests and the load benchmark.
//!
//! With [`Execution::Local`] the trainings really run, on this host's Docker engine, and so on the wall
//! clock: the simulated miners that answer all submit one real repository, and the evaluator image
//! scores them.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use tokio::sync::broadcast;

use super::{Behaviour, NodeSpec, SimSettings, SimWorld, SimulatedExecutor, SimulatedRegistration};
use crate::actors::Event;
use crate::actors::health::{self, NodeHealth};
use crate::clock::{SharedClock, VirtualClock, WallClock};
use crate::docker::Engine;
use crate::domain::rules::Rules;
use crate::domain::{Coldkey, LedgerKind, TournamentType};
use crate::exec::Executor;
use crate::exec::local::{LocalExecutor, LocalSettings};
use crate::exec::remote::RemoteExecutor;
use crate::exec::remote::settings::{PollingSettings, RemoteNodeSettings};
use crate::miners::Submission;
use crate::repo::GateRules;
use crate::report::Report;
use crate::store::{Gpu, LedgerEvent, Store, StoreError, TrainerNode};

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimRun {
    pub miners: usize,
    pub seed: u64,
    /// A SQLite file (resumable); in memory when `None`.
    pub db: Option<PathBuf>,
    pub nodes: NodeSpec,
    /// The spec as given, recorded to recognise the same simulation on resume.
    pub nodes_spec: String,
    pub shares: super::Shares,
    pub execution: Execution,
    /// The tournament types played (each once).
    pub types: Vec<TournamentType>,
    /// A content directory to draw tasks from instead of the simulated catalog (its download step and
    /// the shipped evaluator then prepare and score the trainings of a real executor).
    pub content: Option<PathBuf>,
}

/// Where the trainings of a simulation run.
#[derive(Debug, Clone)]
pub enum Execution {
    /// The simulated executor, on virtual time.
    Simulated,
    /// The local Docker executor, on the wall clock; answering miner `i` submits repository
    /// `i mod n` of `repositories`.
    Local { settings: Box<LocalSettings>, gates: GateRules, repositories: Vec<Submission> },
    /// Remote trainer nodes, on the wall clock; answering miners submit `repositories` likewise.
    Remote { nodes: Vec<RemoteNodeSettings>, polling: PollingSettings, repositories: Vec<Submission> },
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("the database holds another simulation ({0}); run with the same options or another --db")]
    OtherSimulation(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the actor system failed: {0}")]
    System(String),
    #[error("the task content cannot be used: {0}")]
    Content(String),
}

/// How the run went, beside the report.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    pub resumed: bool,
    pub database: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
}

/// Every simulated miner that can pay gets this much, once.
const SIM_CREDIT_RAO: i64 = 10_000_000_000;

/// How a watched simulation runs: its events go to `events` (where the control API's stream reads
/// them), and with `pace` virtual time advances at most that many seconds per real second.
#[derive(Debug, Clone)]
pub struct Live {
    pub events: broadcast::Sender<Event>,
    pub pace: Option<f64>,
}

/// Opens (and migrates) the simulation's database: the `--db` file, or memory.
pub fn open(opts: &SimRun) -> Result<Arc<Store>, SimError> {
    let url = opts.db.as_ref().map_or_else(|| "sqlite::memory:".to_owned(), |p| format!("sqlite://{}", p.display()));
    let store = Arc::new(Store::open(&url)?);
    store.migrate()?;
    Ok(store)
}

/// Runs the simulation to its end; `observe` sees every event as it happens.
pub fn run(opts: &SimRun, rules: &Rules, observe: impl FnMut(&Event) + 'static) -> Result<(Report, RunInfo), SimError> {
    let live = Live { events: broadcast::channel::<Event>(65_536).0, pace: None };
    run_live(open(opts)?, live, opts, rules, observe)
}

/// [`run`] on an opened store, with its events and pace given.
pub fn run_live(
    store: Arc<Store>,
    live: Live,
    opts: &SimRun,
    rules: &Rules,
    observe: impl FnMut(&Event) + 'static,
) -> Result<(Report, RunInfo), SimError> {
    let world =
        Arc::new(SimWorld::new(SimSettings { miners: opts.miners, seed: opts.seed, shares: opts.shares.clone() }));
    let mut identity =
        json!({ "seed": opts.seed, "miners": opts.miners, "nodes": opts.nodes_spec, "shares": opts.shares });
    if let Some(dir) = &opts.content {
        identity["content"] = json!(dir);
        identity["types"] = json!(opts.types);
    }
    let identity = identity.to_string();
    let catalog = match &opts.content {
        Some(dir) => {
            crate::content::Content::load(dir).map_err(|problems| SimError::Content(problems.join("; ")))?.catalog
        }
        None => super::catalog(),
    };
    let content_dir = opts.content.clone();
    let types = opts.types.clone();
    let real = !matches!(opts.execution, Execution::Simulated);
    let origin =
        if real { Utc::now() } else { Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).single().unwrap_or_default() };
    let resumed = prepare(&store, &world, &opts.nodes, &identity, origin)?;
    let started_at = store.last_transition_at()?.unwrap_or(origin);
    let node_views = crate::app::node_views(&store)?;

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(!real).build();
    let runtime = runtime.map_err(|e| SimError::System(e.to_string()))?;
    let runner = actix::System::with_tokio_rt(move || runtime);
    let Live { events, pace } = live;
    let parts_store = store.clone();
    let rules_for_run = rules.clone();
    let seed = opts.seed;
    let execution = opts.execution.clone();
    let failure: Rc<RefCell<Option<String>>> = Rc::default();
    let failed = failure.clone();
    runner.block_on(async move {
        let clock: SharedClock =
            if real { Arc::new(WallClock) } else { Arc::new(VirtualClock::starting_at(started_at)) };
        let registration = SimulatedRegistration::new(world.clone(), clock.clone());
        let db = crate::store::Db::new(parts_store.clone());
        let built = build_executor(execution, content_dir, world.clone(), clock.clone(), &db).await;
        let (executor, repositories, remote) = match built {
            Ok(built) => built,
            Err(e) => {
                *failed.borrow_mut() = Some(e);
                actix::System::current().stop();
                return;
            }
        };
        let registration = match repositories {
            Some(repositories) => registration.submitting(repositories),
            None => registration,
        };
        // With remote nodes, the fleet is theirs, as just registered.
        let node_views = match &remote {
            Some((remote, _)) => match db.run(crate::app::node_views).await {
                Ok(views) => views.into_iter().filter(|v| remote.node_ids().contains(&v.id)).collect(),
                Err(e) => {
                    *failed.borrow_mut() = Some(e.to_string());
                    actix::System::current().stop();
                    return;
                }
            },
            None => node_views,
        };
        let parts = crate::app::Parts {
            store: parts_store,
            clock: clock.clone(),
            rules: rules_for_run,
            catalog,
            executor,
            registration: Rc::new(registration),
            limit: Some(1),
            types,
            seed,
        };
        if let Some(pace) = pace.filter(|_| !real) {
            actix::spawn(paced(pace));
        }
        let mut receiver = events.subscribe();
        let mut observe = observe;
        actix::spawn(async move {
            while let Some(event) = crate::actors::events::next(&mut receiver).await {
                observe(&event);
            }
        });
        let running = crate::app::start(parts, node_views, events.clone());
        if let Some((remote, interval)) = remote {
            NodeHealth { remote, broker: running.broker, db, clock, interval }.start();
        }
    });
    runner.run().map_err(|e| SimError::System(e.to_string()))?;
    if let Some(reason) = failure.take() {
        return Err(SimError::System(reason));
    }

    let ended_at = store.last_transition_at()?.unwrap_or(started_at);
    let report = crate::report::build(&store, &rules.house_hotkey, &rules.weights, ended_at)?;
    Ok((report, RunInfo { resumed, database: store.url().to_owned(), started_at, ended_at }))
}

/// Holds virtual time to at most `pace` seconds per real second: while a blocking sleep is in flight
/// the paused clock stands still, then it may advance one tick's worth.
async fn paced(pace: f64) {
    let tick = Duration::from_millis(100);
    loop {
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(tick)).await;
        tokio::time::sleep(tick.mul_f64(pace.max(0.001))).await;
    }
}

/// The executor of `execution` (with the content's download step and evaluator when there is
/// content), the repositories miners submit with it, and the remote executor (whose nodes are
/// registered) when there is one.
async fn build_executor(
    execution: Execution,
    content: Option<PathBuf>,
    world: Arc<SimWorld>,
    clock: SharedClock,
    db: &crate::store::Db,
) -> Result<(Rc<dyn Executor>, Option<Vec<Submission>>, Option<(Rc<RemoteExecutor>, Duration)>), String> {
    Ok(match execution {
        Execution::Simulated => (Rc::new(SimulatedExecutor::new(world, clock)), None, None),
        Execution::Local { settings, gates, repositories } => {
            let engine = Engine::connect().await.map_err(|e| e.to_string())?;
            let mut executor = LocalExecutor::new(engine, *settings, gates);
            if let Some(dir) = content {
                executor = executor.with_content(dir);
            }
            (Rc::new(executor), Some(repositories), None)
        }
        Execution::Remote { nodes, polling, repositories } => {
            let remote = Rc::new(RemoteExecutor::new(&nodes, &polling).map_err(|e| e.to_string())?);
            let answered = health::register_nodes(&remote, db, &clock).await.map_err(|e| e.to_string())?;
            tracing::info!(nodes = ?answered, "remote trainer nodes (id, answered)");
            let interval = Duration::from_secs_f64(polling.health_interval_secs);
            (remote.clone() as Rc<dyn Executor>, Some(repositories), Some((remote, interval)))
        }
    })
}

/// Records the simulation's identity, trainer nodes and miner balances once. Returns whether the
/// database already held this simulation; a database holding another one is refused.
pub fn prepare(
    store: &Store,
    world: &SimWorld,
    nodes: &NodeSpec,
    identity: &str,
    at: DateTime<Utc>,
) -> Result<bool, SimError> {
    match store.get_meta("simulation")? {
        Some(stored) if stored == identity => return Ok(true),
        Some(stored) => return Err(SimError::OtherSimulation(stored)),
        None => {}
    }
    store.transaction(|tx| {
        for view in nodes.views() {
            tx.upsert_node(&TrainerNode {
                id: view.id.clone(),
                address: "simulated".into(),
                fenced: false,
                last_seen: None,
                created_at: at,
                gpus: view
                    .gpus
                    .iter()
                    .map(|g| Gpu {
                        index: g.index,
                        class: g.class,
                        model_name: format!("{} (simulated)", g.class),
                        vram_gb: 80,
                        holder: None,
                    })
                    .collect(),
            })?;
        }
        for miner in world.miners.iter().filter(|m| m.behaviour != Behaviour::NoFee) {
            tx.record_ledger_event(&credit(&miner.coldkey, at))?;
        }
        tx.set_meta("simulation", identity, at)
    })?;
    Ok(false)
}

fn credit(coldkey: &Coldkey, at: DateTime<Utc>) -> LedgerEvent {
    LedgerEvent {
        coldkey: coldkey.clone(),
        kind: LedgerKind::Credit,
        amount_rao: SIM_CREDIT_RAO,
        tournament_id: None,
        hotkey: None,
        reference: Some("simulated transfer".into()),
        idempotency_key: format!("sim-credit/{coldkey}"),
        created_at: at,
    }
}
