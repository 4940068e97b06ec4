//! The composition root: one validator assembled from its settings and the backends its caller chose
//! (the store, the clock, where trainings run, who answers registration, the control API's socket).
//! `validator`, `simulate` and the tests build it the same way, with [`Application::build`], and run it
//! with [`Application::run_until_stopped`].
//!
//! * `executors`: where trainings run: an executor given, this host's Docker engine, remote nodes.
//! * `registration`: who answers the registration ping: a source given, or the miners over HTTP.
//! * `nodes`: the stored trainer nodes as the GPU broker sees them.

mod executors;
mod nodes;
mod registration;

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::sync::Arc;

use actix::{Actor, Addr};
use tokio::sync::{Notify, broadcast, oneshot};

use crate::actors::fleet::FleetActor;
use crate::actors::gpu_broker::GpuBroker;
use crate::actors::health::NodeHealth;
use crate::actors::supervisor::Supervisor;
use crate::actors::{Event, Runtime};
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::domain::TournamentType;
use crate::domain::catalog::Catalog;
use crate::exec::Executor;
use crate::miners::RegistrationSource;
use crate::store::{Db, Store, StoreError};

pub use executors::LOCAL_NODE;
pub use nodes::{node_views, record_fleet};

/// Where trainings run.
pub enum Trainings {
    /// An executor the caller made (the simulator's, a test's), over the stored fleet as it is.
    Given(Rc<dyn Executor>),
    /// This host's Docker engine (`[local_executor]`, `[gates]`, `[content]`). With `as_node` the host
    /// is the validator's one trainer node, [`LOCAL_NODE`]: its GPUs discovered or configured
    /// (`[trainer_node]`), containers no open attempt claims reaped. Without, the stored fleet (a
    /// simulation's) stands for its GPUs.
    Local { as_node: bool },
    /// The trainer nodes of `[validator] nodes` and those operators added, followed as
    /// `[validator] polling` says; their GPUs are read at start and a health loop watches them.
    Remote,
}

/// Who answers the registration ping.
pub enum Registration {
    /// A source the caller made (the simulator's, a test's).
    Given(Rc<dyn RegistrationSource>),
    /// The miners of the directory (`[miners]`), over HTTP, signed with `[validator] key_file`, their
    /// repositories checked against `[gates]`.
    Http,
}

/// Which tournaments run.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The types scheduled (an operator may still create one of another).
    pub types: Vec<TournamentType>,
    /// At most this many tournaments per type, then the application has finished; `None` runs for
    /// ever.
    pub limit: Option<usize>,
    /// Seeds tournament ids, so a replayed simulation makes the same ones.
    pub seed: u64,
}

impl Schedule {
    /// Every type, for ever: a validator's.
    pub fn forever() -> Self {
        Self { types: TournamentType::ALL.to_vec(), limit: None, seed: rand::random() }
    }
}

/// Sees every event as it happens.
pub type Observer = Box<dyn FnMut(&Event)>;

/// What an application runs on, beside its settings.
pub struct Backends {
    /// The store, opened and migrated.
    pub store: Arc<Store>,
    pub clock: SharedClock,
    /// The tasks tournaments draw from.
    pub catalog: Catalog,
    pub trainings: Trainings,
    pub registration: Registration,
    pub schedule: Schedule,
    /// Where the control API listens (`None`: no API).
    pub api: Option<TcpListener>,
    /// The runtime's events; subscribe before building to miss none.
    pub events: broadcast::Sender<Event>,
    /// Sees every event as it happens (logging, progress).
    pub observe: Option<Observer>,
}

/// Why an application could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A backend could not be set up; the message names it.
    #[error("{0}")]
    Backend(String),
}

/// Asks a running application to stop; clones ask the same one. A stop asked before the application
/// runs is kept.
#[derive(Clone, Default)]
pub struct Stop(Rc<Notify>);

impl Stop {
    pub fn stop(&self) {
        self.0.notify_one();
    }

    pub async fn requested(self) {
        self.0.notified().await;
    }
}

/// How [`Application::run_until_stopped`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The shutdown future completed.
    Stopped,
    /// Every type ran its [`Schedule::limit`].
    Finished,
}

/// A built validator: its actors started, its API listening.
pub struct Application {
    supervisor: Addr<Supervisor>,
    stalls: crate::actors::stalls::Stalls,
    broker: Addr<GpuBroker>,
    events: broadcast::Sender<Event>,
    address: Option<SocketAddr>,
    server: Option<actix_web::dev::ServerHandle>,
    finished: oneshot::Receiver<()>,
}

impl Application {
    /// Starts the validator's actors on the current actix system; call inside one (see [`system`]).
    pub async fn build(settings: &Settings, backends: Backends) -> Result<Self, AppError> {
        let Backends { store, clock, catalog, trainings, registration, schedule, api, events, observe } = backends;
        let db = Db::new(store.clone());
        let stalls = crate::actors::stalls::Stalls::published();
        let now = clock.now();
        let closed = db.run(move |s| s.close_attempts_of_ended_tournaments(now)).await?;
        if closed > 0 {
            tracing::info!(attempts = closed, "closed the attempts and trainings ended tournaments left open");
        }
        let built = executors::build(settings, trainings, &db, &clock).await?;
        let nodes = nodes::in_use(&db, &built).await?;
        let registration = registration::build(settings, registration, &store, &clock)?;
        if let Some(mut observe) = observe {
            let mut receiver = events.subscribe();
            actix::spawn(async move {
                while let Some(event) = crate::actors::events::next(&mut receiver).await {
                    observe(&event);
                }
            });
        }

        let broker =
            GpuBroker::new(db.clone(), clock.clone(), settings.rules.training.max_training_attempts, nodes).start();
        let runtime = Rc::new(Runtime {
            db: db.clone(),
            clock: clock.clone(),
            rules: Arc::new(settings.rules.clone()),
            catalog,
            executor: built.executor,
            registration,
            broker: broker.clone(),
            events: events.clone(),
            stalls: stalls.clone(),
        });
        let runtime_stalls = stalls.clone();
        let (done, finished) = oneshot::channel();
        let supervisor = Supervisor::new(runtime, schedule.limit, schedule.seed, schedule.types, done).start();
        let fleet =
            FleetActor::new(built.remote.clone(), built.name, broker.clone(), db.clone(), clock.clone()).start();
        let (mut address, mut server) = (None, None);
        if let Some(listener) = api {
            address = Some(listener.local_addr().map_err(|e| AppError::Backend(format!("api.listen: {e}")))?);
            crate::api::install_metrics();
            let state = crate::api::ApiState {
                store,
                rules: settings.rules.clone(),
                events: events.clone(),
                directory_file: Some(settings.miners.directory.clone()).filter(|d| !d.is_empty()),
                control: Some(crate::api::Control { supervisor: supervisor.clone(), fleet, stalls }),
                ready: Default::default(),
            };
            let serving = crate::api::start(state, &settings.api, listener)
                .map_err(|e| AppError::Backend(format!("the control API cannot start: {e}")))?;
            server = Some(serving.handle());
            actix::spawn(serving);
        }
        if let Some(remote) = built.remote {
            let interval = std::time::Duration::from_secs_f64(settings.validator.polling.health_interval_secs);
            NodeHealth { remote, broker: broker.clone(), db, clock, interval }.start();
        }
        Ok(Self { supervisor, stalls: runtime_stalls, broker, events, address, server, finished })
    }

    /// The supervisor, which operators' requests go to.
    pub fn supervisor(&self) -> &Addr<Supervisor> {
        &self.supervisor
    }

    /// What has stalled, waiting for an operator.
    pub fn stalls(&self) -> &crate::actors::stalls::Stalls {
        &self.stalls
    }

    /// The GPU broker.
    pub fn broker(&self) -> &Addr<GpuBroker> {
        &self.broker
    }

    /// The runtime's events.
    pub fn events(&self) -> &broadcast::Sender<Event> {
        &self.events
    }

    /// Where the control API listens, when it does.
    pub fn address(&self) -> Option<SocketAddr> {
        self.address
    }

    /// Runs until `shutdown` completes or every scheduled tournament has run, then stops the control
    /// API. Every transition was persisted before its effects, so what is stopped here loses nothing:
    /// the actors end with the system.
    pub async fn run_until_stopped(mut self, shutdown: impl Future<Output = ()>) -> Ended {
        let ended = tokio::select! {
            () = shutdown => Ended::Stopped,
            _ = &mut self.finished => Ended::Finished,
        };
        if let Some(server) = self.server {
            server.stop(false).await;
        }
        ended
    }
}

/// A new actix system on a current-thread tokio runtime, its clock paused when `paused` (virtual time
/// then advances whenever every task waits on a timer).
pub fn system(paused: bool) -> std::io::Result<actix::SystemRunner> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(paused).build()?;
    Ok(actix::System::with_tokio_rt(move || runtime))
}
