//! One whole simulation: the store prepared (identity, fleet, balances), the actors started on a
//! paused tokio clock, run until every tournament has ended, then the report read back. Used by
//! `simulate`, the tests and the load benchmark.
//!
//! With [`Execution::Local`] the trainings really run, on this host's Docker engine, and so on the wall
//! clock: the simulated miners that answer all submit one real repository, and the evaluator image
//! scores them.

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use tokio::sync::broadcast;

use super::{Behaviour, NodeSpec, SimSettings, SimWorld, SimulatedExecutor, SimulatedRegistration};
use crate::actors::Event;
use crate::app::{Application, Backends, Registration, Schedule, Trainings};
use crate::clock::{SharedClock, VirtualClock, WallClock};
use crate::config::Settings;
use crate::domain::rules::Rules;
use crate::domain::{Coldkey, LedgerKind, TournamentType};
use crate::exec::local::LocalSettings;
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
    let real = !matches!(opts.execution, Execution::Simulated);
    let origin =
        if real { Utc::now() } else { Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).single().unwrap_or_default() };
    let resumed = prepare(&store, &world, &opts.nodes, &identity, origin)?;
    let started_at = store.last_transition_at()?.unwrap_or(origin);
    let settings = settings(opts, rules);

    let runner = crate::app::system(!real).map_err(|e| SimError::System(e.to_string()))?;
    let Live { events, pace } = live;
    let (parts_store, schedule) =
        (store.clone(), Schedule { types: opts.types.clone(), limit: Some(1), seed: opts.seed });
    let execution = opts.execution.clone();
    runner.block_on(async move {
        let clock: SharedClock =
            if real { Arc::new(WallClock) } else { Arc::new(VirtualClock::starting_at(started_at)) };
        let registration = SimulatedRegistration::new(world.clone(), clock.clone());
        let (trainings, registration) = match execution {
            Execution::Simulated => {
                (Trainings::Given(Rc::new(SimulatedExecutor::new(world, clock.clone()))), registration)
            }
            Execution::Local { repositories, .. } => {
                (Trainings::Local { as_node: false }, registration.submitting(repositories))
            }
            Execution::Remote { repositories, .. } => (Trainings::Remote, registration.submitting(repositories)),
        };
        if let Some(pace) = pace.filter(|_| !real) {
            actix::spawn(paced(pace));
        }
        let backends = Backends {
            store: parts_store,
            clock,
            catalog,
            trainings,
            registration: Registration::Given(Rc::new(registration)),
            schedule,
            api: None,
            events,
            observe: Some(Box::new(observe)),
        };
        let app = Application::build(&settings, backends).await.map_err(|e| SimError::System(e.to_string()))?;
        app.run_until_stopped(std::future::pending()).await;
        Ok::<(), SimError>(())
    })?;

    let ended_at = store.last_transition_at()?.unwrap_or(started_at);
    let report = crate::report::build(&store, rules, ended_at)?;
    Ok((report, RunInfo { resumed, database: store.url().to_owned(), started_at, ended_at }))
}

/// The settings the application of `opts` runs with: `rules`, and where trainings run.
fn settings(opts: &SimRun, rules: &Rules) -> Settings {
    let mut settings = Settings { rules: rules.clone(), ..Settings::default() };
    if let Some(dir) = &opts.content {
        settings.content.dir = dir.display().to_string();
    }
    match &opts.execution {
        Execution::Simulated => {}
        Execution::Local { settings: local, gates, .. } => {
            settings.local_executor = (**local).clone();
            settings.gates = gates.clone();
        }
        Execution::Remote { nodes, polling, .. } => {
            settings.validator.nodes = nodes.clone();
            settings.validator.polling = polling.clone();
        }
    }
    settings
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
