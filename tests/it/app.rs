//! Tests drive the application in-process, built as `validator` and `simulate` build it
//! ([`crucible::app::Application::build`]): [`Play`] runs one over simulated miners on a paused clock,
//! [`spawn_app`] serves one on the wall clock with its control API on port 0. Both hand the test the
//! runtime's events, subscribed before anything ran, so tests await events instead of reading logs.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use crucible::actors::Event;
use crucible::app::{Application, Backends, Ended, Registration, Schedule, Stop, Trainings};
use crucible::clock::VirtualClock;
use crucible::config::Settings;
use crucible::exec::Executor;
use crucible::sim::{NodeSpec, SimSettings, SimWorld, SimulatedExecutor, SimulatedRegistration};
use crucible::store::Store;
use tokio::sync::broadcast;

/// What a test sees of a running application.
pub(crate) struct Running<'a> {
    pub app: &'a Application,
    /// Every event from the first.
    pub events: broadcast::Receiver<Event>,
    /// Stops the application.
    pub stop: Stop,
}

/// One application over simulated miners, on a paused clock (virtual time runs whenever everything
/// waits on a timer).
pub(crate) struct Play {
    pub store: Arc<Store>,
    pub world: Arc<SimWorld>,
    /// Where the virtual clock starts.
    pub start: DateTime<Utc>,
    pub settings: Settings,
    pub schedule: Schedule,
}

impl Play {
    /// `miners` simulated miners of `seed` on the default fleet, recorded in `store` (under the name
    /// `name`), playing one tournament of every type; the clock starts where the store left off.
    pub fn new(store: &Arc<Store>, miners: usize, seed: u64, name: &str) -> Self {
        let world = Arc::new(SimWorld::new(SimSettings { miners, seed, ..SimSettings::default() }));
        let origin = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        crucible::sim::run::prepare(store, &world, &NodeSpec::default(), name, origin).unwrap();
        let start = store.last_transition_at().unwrap().unwrap_or(origin);
        let schedule = Schedule { types: crucible::domain::TournamentType::ALL.to_vec(), limit: Some(1), seed };
        Self { store: store.clone(), world, start, settings: Settings::default(), schedule }
    }

    /// Runs until every scheduled tournament has run or the test stops it; the executor is the one
    /// `executor` makes of the simulated one and the clock; `watch` sees the application before it runs.
    pub fn run(
        self,
        executor: impl FnOnce(SimulatedExecutor, Arc<VirtualClock>) -> Rc<dyn Executor>,
        watch: impl FnOnce(Running),
    ) -> Ended {
        let Self { store, world, start, settings, schedule } = self;
        let system = crucible::app::system(true).unwrap();
        system.block_on(async move {
            let clock = Arc::new(VirtualClock::starting_at(start));
            let executor = executor(SimulatedExecutor::new(world.clone(), clock.clone()), clock.clone());
            let (events, receiver) = broadcast::channel::<Event>(65_536);
            let backends = Backends {
                store,
                clock: clock.clone(),
                catalog: crucible::sim::catalog(),
                trainings: Trainings::Given(executor),
                registration: Registration::Given(Rc::new(SimulatedRegistration::new(world, clock))),
                schedule,
                api: None,
                events,
                observe: None,
            };
            let app = Application::build(&settings, backends).await.unwrap();
            let stop = Stop::default();
            watch(Running { app: &app, events: receiver, stop: stop.clone() });
            app.run_until_stopped(stop.requested()).await
        })
    }
}

/// A validator serving its control API on a free port of 127.0.0.1, on the wall clock, on a thread and
/// actix system of its own (as a validator process has); stopped when dropped.
pub(crate) struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub store: Arc<Store>,
    pub events: broadcast::Receiver<Event>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl TestApp {
    /// Stops the application and waits until its system has ended, as a validator process that exits.
    pub async fn shutdown(mut self) {
        let stop = self.stop.take().expect("running");
        let _ = stop.send(());
        let thread = self.thread.take().expect("running");
        tokio::task::spawn_blocking(move || thread.join()).await.unwrap().expect("the application ran to its stop");
    }

    /// The next event `pick` accepts (others are skipped), within a minute.
    pub async fn next<T>(&mut self, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
        let wait = async {
            loop {
                match crucible::actors::events::next(&mut self.events).await {
                    Some(event) => {
                        if let Some(found) = pick(&event) {
                            return found;
                        }
                    }
                    None => panic!("the application ended before the event came"),
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(60), wait).await.expect("the event came within a minute")
    }
}

/// Builds and runs a validator as `validator` does: the settings are the defaults with the simulated
/// task content, a fresh database and the control API on port 0, then changed by `configure`; its
/// backends are the settings' (the simulated ones from `[simulation]`). Returns once it is built.
pub(crate) async fn spawn_app(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.content.dir = super::content::sim_content().display().to_string();
    settings.database.url = format!("sqlite://{}", dir.path().join("validator.db").display());
    settings.api.listen = "127.0.0.1:0".into();
    configure(&mut settings);
    let store = Arc::new(Store::open(&settings.database.url).unwrap());
    store.migrate().unwrap();
    let (events, receiver) = broadcast::channel::<Event>(65_536);
    let (built, address) = tokio::sync::oneshot::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app_store = store.clone();
    let thread = std::thread::spawn(move || {
        let system = crucible::app::system(false).unwrap();
        system.block_on(async move {
            let app = Application::build(&settings, backends(&settings, app_store, events)).await.unwrap();
            let _ = built.send(app.address().expect("the API listens"));
            app.run_until_stopped(async {
                let _ = stopped.await;
            })
            .await;
        });
    });
    let url = match address.await {
        Ok(address) => format!("http://{address}"),
        Err(_) => panic!("the application could not be built: {:?}", thread.join().err()),
    };
    TestApp { url, store, events: receiver, stop: Some(stop), thread: Some(thread), _dir: dir }
}

/// The backends `settings` name, as `validator` chooses them.
fn backends(settings: &Settings, store: Arc<Store>, events: broadcast::Sender<Event>) -> Backends {
    use crucible::config::{Backend, ExecutorBackend};
    let clock: crucible::clock::SharedClock = Arc::new(crucible::clock::WallClock);
    let sim = &settings.simulation;
    let world = Arc::new(SimWorld::new(SimSettings { miners: sim.miners, seed: sim.seed, shares: sim.shares.clone() }));
    let trainings = match settings.validator.executor {
        ExecutorBackend::Simulated => Trainings::Given(Rc::new(SimulatedExecutor::new(world.clone(), clock.clone()))),
        ExecutorBackend::Local => Trainings::Local { as_node: true },
        ExecutorBackend::Remote => Trainings::Remote,
    };
    let registration = match settings.validator.registration {
        Backend::Simulated => Registration::Given(Rc::new(SimulatedRegistration::new(world, clock.clone()))),
        Backend::Http => Registration::Http,
    };
    if matches!(trainings, Trainings::Given(_)) && store.list_nodes().unwrap().is_empty() {
        let fleet = NodeSpec::parse(&settings.simulation.nodes).unwrap();
        crucible::app::record_fleet(&store, &fleet, Utc::now()).unwrap();
    }
    let content = crucible::content::Content::load(std::path::Path::new(&settings.content.dir)).unwrap();
    let listener = std::net::TcpListener::bind(&settings.api.listen).unwrap();
    Backends {
        store,
        clock,
        catalog: content.catalog,
        trainings,
        registration,
        schedule: Schedule::forever(),
        api: Some(listener),
        events,
        observe: None,
    }
}

/// One call to an HTTP API: its status and JSON body (`null` when it has none).
pub(crate) async fn call(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let client = reqwest::Client::new();
    let mut request = match method {
        "GET" => client.get(url),
        "DELETE" => client.delete(url),
        _ => client.post(url),
    };
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(serde_json::Value::Null))
}

/// A text tournament (numbered `n`) completed at `at`, with no winner: the schedule's next one of the
/// type is due the interval after it.
pub(crate) fn completed_text_tournament(n: u64, at: DateTime<Utc>) -> crucible::store::Tournament {
    use crucible::domain::{TournamentId, TournamentStatus, TournamentType};
    crucible::store::Tournament {
        id: TournamentId::new(n, 2026, 11, 1),
        tournament_type: TournamentType::Text,
        status: TournamentStatus::Completed,
        base_winner_hotkey: None,
        winner_hotkey: None,
        winning_performance_difference: Some(0.0),
        champion_wins: 0,
        created_at: at,
        started_at: Some(at),
        completed_at: Some(at),
        cancel_reason: None,
        track: "text".into(),
    }
}
