//! The actor runtime through its library API: a training that was running when the process stopped,
//! and that the executor cannot see any more, is counted as a lost run under the retry rules, never
//! dropped and never run beyond the policy.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use crucible::actors::Event;
use crucible::clock::{Clock, VirtualClock};
use crucible::domain::TrainingStatus;
use crucible::domain::rules::Rules;
use crucible::exec::{Executor, RunFuture, RunOutcome, TrainingJob};
use crucible::sim::{NodeSpec, SimulatedExecutor};
use crucible::store::Store;

use super::app::{Play, Running};

/// Runs like the simulated executor but has forgotten every run started before it existed.
struct Forgetful(SimulatedExecutor);

impl Executor for Forgetful {
    fn name(&self) -> &'static str {
        "forgetful"
    }
    fn run(&self, job: TrainingJob) -> RunFuture {
        self.0.run(job)
    }
    fn reattach(&self, _: TrainingJob, _: DateTime<Utc>) -> Option<RunFuture> {
        None
    }
}

/// Refuses the first two starts of every training, then runs like the simulated executor; keeps the
/// virtual time of every start asked of it.
struct Refusing {
    inner: SimulatedExecutor,
    clock: Arc<VirtualClock>,
    asked: Rc<RefCell<HashMap<String, Vec<DateTime<Utc>>>>>,
}

impl Executor for Refusing {
    fn name(&self) -> &'static str {
        "refusing"
    }
    fn run(&self, job: TrainingJob) -> RunFuture {
        let key = format!("{}/{}", job.task_id, job.hotkey);
        let mut asked = self.asked.borrow_mut();
        let times = asked.entry(key).or_default();
        times.push(self.clock.now());
        if times.len() <= 2 {
            return Box::pin(std::future::ready(RunOutcome::NotStarted { reason: "the node answered 409".into() }));
        }
        self.inner.run(job)
    }
    fn reattach(&self, job: TrainingJob, at: DateTime<Utc>) -> Option<RunFuture> {
        self.inner.reattach(job, at)
    }
}

/// Runs the runtime on `store` until `stop_after` trainings have started (or to the end).
fn run(store: &Arc<Store>, forgetful: bool, stop_after: Option<usize>) {
    let play = Play::new(store, 12, 9, "runtime-test");
    let executor = move |simulated, _| -> Rc<dyn Executor> {
        if forgetful { Rc::new(Forgetful(simulated)) } else { Rc::new(simulated) }
    };
    play.run(executor, |Running { mut events, stop, .. }| {
        let starts = Rc::new(Cell::new(0));
        actix::spawn(async move {
            while let Ok(event) = events.recv().await {
                if matches!(event, Event::TrainingStarted { .. }) {
                    starts.set(starts.get() + 1);
                    if Some(starts.get()) == stop_after {
                        stop.stop();
                    }
                }
            }
        });
    });
}

#[test]
fn a_run_lost_in_a_restart_costs_an_attempt_and_the_tournament_still_completes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&format!("sqlite://{}", dir.path().join("r.db").display())).unwrap());
    store.migrate().unwrap();
    run(&store, false, Some(6));
    let running: Vec<_> = store
        .list_tournaments(None)
        .unwrap()
        .iter()
        .flat_map(|t| store.tournament_snapshot(&t.id).unwrap().rounds)
        .flat_map(|r| r.tasks)
        .flat_map(|t| t.trainings)
        .filter(|t| t.status == TrainingStatus::Training)
        .collect();
    assert!(!running.is_empty(), "the first process stopped with trainings running");

    run(&store, true, None);
    for t in store.list_tournaments(None).unwrap() {
        assert_eq!(t.status, crucible::domain::TournamentStatus::Completed, "{}", t.id);
    }
    for was_running in running {
        let attempts = store.attempts(&was_running.task_id, &was_running.hotkey).unwrap();
        let first = &attempts[0];
        assert!(first.reason.as_deref().is_some_and(|r| r.starts_with("lost:")), "{first:?}");
        let training = store.get_training(&was_running.task_id, &was_running.hotkey).unwrap();
        assert!(training.status.is_finished());
        assert!(training.attempts <= 2 && attempts.len() <= 2, "{training:?} {attempts:?}");
    }
    // No GPU is left held once everything has ended.
    assert!(store.list_nodes().unwrap().iter().flat_map(|n| &n.gpus).all(|g| g.holder.is_none()));
}

#[test]
fn too_few_miners_retry_until_the_deadline_then_cancel_and_refund_every_fee_once() {
    use crucible::domain::{AdmissionOutcome, LedgerKind, TournamentStatus};
    use crucible::sim::Shares;
    use crucible::sim::run::{Execution, SimRun};

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cancel.db");
    let shares =
        Shares { no_fee_share: 0.6, timeout_share: 0.0, garbage_share: 0.0, bad_repo_share: 0.0, ..Shares::default() };
    let opts = SimRun {
        miners: 12,
        seed: 3,
        db: Some(db.clone()),
        nodes: NodeSpec::default(),
        nodes_spec: "default".into(),
        shares,
        execution: Execution::Simulated,
        types: crucible::domain::TournamentType::ALL.to_vec(),
        content: None,
    };
    let (report, _) = crucible::sim::run::run(&opts, &Rules::default(), |_| {}).unwrap();
    assert!(report.tournaments.iter().all(|t| t.status == TournamentStatus::Cancelled && t.rounds.is_empty()));

    let store = Store::open(&format!("sqlite://{}", db.display())).unwrap();
    for t in store.list_tournaments(None).unwrap() {
        let attempts = store.transitions(crucible::store::EntityKind::Registration, t.id.as_str()).unwrap();
        assert!(attempts.len() > 40, "registration is retried every 30 minutes for 24 hours: {}", attempts.len());
        for p in store
            .list_participants(&t.id)
            .unwrap()
            .into_iter()
            .filter(|p| p.admission == AdmissionOutcome::Admitted && !p.is_house)
        {
            let coldkey = p.coldkey.unwrap();
            let events: Vec<_> = store
                .ledger_events(&coldkey)
                .unwrap()
                .into_iter()
                .filter(|e| e.event.tournament_id.as_ref() == Some(&t.id))
                .collect();
            let kinds: Vec<LedgerKind> = events.iter().map(|e| e.event.kind).collect();
            assert_eq!(kinds, vec![LedgerKind::ParticipationFee, LedgerKind::Refund], "charged once, refunded once");
        }
    }
    // Every coldkey is back to what it was credited.
    for t in store.list_tournaments(None).unwrap() {
        for p in store.list_participants(&t.id).unwrap().into_iter().filter_map(|p| p.coldkey) {
            let balance = store.balance(&p).unwrap();
            assert!(balance == 0 || balance == 10_000_000_000, "{p}: {balance}");
        }
    }
}

/// Plays `limit` text tournaments of 12 simulated miners (`seed`) in virtual time on a fresh in-memory
/// store, with the executor `executor` makes from the simulated one and the clock, the settings changed
/// by `tune`, and `watch` given the running application; returns the store.
pub(crate) fn play_text(
    seed: u64,
    limit: usize,
    executor: impl FnOnce(SimulatedExecutor, Arc<VirtualClock>) -> Rc<dyn Executor>,
    tune: impl FnOnce(&mut crucible::config::Settings),
    watch: impl FnOnce(Running),
) -> Arc<Store> {
    let store = Arc::new(Store::open("sqlite::memory:").unwrap());
    store.migrate().unwrap();
    let mut play = Play::new(&store, 12, seed, "text-test");
    play.schedule.limit = Some(limit);
    play.schedule.types = vec![crucible::domain::TournamentType::Text];
    tune(&mut play.settings);
    assert_eq!(play.run(executor, watch), crucible::app::Ended::Finished);
    store
}

/// A second tournament's boss round copies proven tasks of the first (tournament-rules.md §5): same
/// type, model, data and hours, new ids.
#[test]
fn a_later_boss_round_copies_proven_historical_tasks() {
    let store = play_text(4, 2, |simulated, _| Rc::new(simulated), |_| {}, |_| {});
    let mut tournaments = store.list_tournaments(None).unwrap();
    tournaments.sort_by_key(|t| t.created_at);
    assert_eq!(tournaments.len(), 2);
    // The second defends the first's real winner (the house itself when it won with no champion),
    // which holds one title.
    assert_eq!(tournaments[0].base_winner_hotkey, None);
    assert!(tournaments[0].winner_hotkey.is_some());
    assert_eq!(tournaments[1].base_winner_hotkey, tournaments[0].winner_hotkey);
    assert_eq!(tournaments[1].champion_wins, 1);
    let tasks = |i: usize| {
        let snapshot = store.tournament_snapshot(&tournaments[i].id).unwrap();
        snapshot.rounds.into_iter().map(|r| (r.round.round.is_final, r.tasks)).collect::<Vec<_>>()
    };
    let key = |t: &crucible::store::Task| (t.task_type, t.model.clone(), t.dataset.clone(), t.hours_to_complete);
    let earlier: Vec<_> = tasks(0).into_iter().flat_map(|(_, ts)| ts).map(|t| key(&t.task)).collect();
    let boss: Vec<_> = tasks(1).into_iter().filter(|(f, _)| *f).flat_map(|(_, ts)| ts).collect();
    assert_eq!(boss.len(), 6);
    for task in &boss {
        assert!(earlier.contains(&key(&task.task)), "boss task {:?} is not a copy", key(&task.task));
    }
}

/// A refused start costs no attempt and is asked again only after a minute of (virtual) time.
#[test]
fn a_refused_start_is_asked_again_after_a_minute() {
    let asked = Rc::new(RefCell::new(HashMap::new()));
    let seen = asked.clone();
    let refusing = move |inner, clock| -> Rc<dyn Executor> { Rc::new(Refusing { inner, clock, asked: seen }) };
    let store = play_text(9, 1, refusing, |_| {}, |_| {});
    for t in store.list_tournaments(None).unwrap() {
        assert_eq!(t.status, crucible::domain::TournamentStatus::Completed, "{}", t.id);
    }
    let asked = asked.borrow();
    assert!(!asked.is_empty());
    for (training, times) in asked.iter() {
        assert!(times.len() >= 3, "{training}: two refusals, then a run: {times:?}");
        for pair in times[..3].windows(2) {
            assert!(pair[1] - pair[0] >= chrono::Duration::seconds(60), "{training} asked again at once: {times:?}");
        }
    }
}
