//! Work that fails in a way retrying cannot mend stalls, visibly and with its reason, instead of
//! retrying for ever; an operator's retry resumes it from the stored state.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use crucible::actors::Event;
use crucible::actors::control::{ControlError, RetryStalled};
use crucible::app::Ended;
use crucible::domain::{TrainingKey, TrainingStatus};
use crucible::exec::{Executor, RunFuture, RunOutcome, TrainingJob};
use crucible::sim::SimulatedExecutor;
use crucible::store::Store;
use diesel::{Connection, RunQueryDsl, SqliteConnection};

use super::app::{Play, Running};

/// Runs `sql` on the database behind the validator's back; it changes one row.
fn behind_its_back(db: &std::path::Path, sql: &str) {
    let mut raw = SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    assert_eq!(diesel::sql_query(sql).execute(&mut raw).unwrap(), 1, "{sql}");
}

/// Sets the stored status of a training, behind the validator's back.
fn set_status(db: &std::path::Path, key: &TrainingKey, status: &str) {
    let sql = format!(
        "UPDATE trainings SET status = '{status}' WHERE task_id = '{}' AND hotkey = '{}'",
        key.task, key.hotkey
    );
    behind_its_back(db, &sql);
}

/// Its first run corrupts that training's stored row, then ends scored; every other run is simulated.
struct Corrupting {
    sim: SimulatedExecutor,
    db: std::path::PathBuf,
    victim: Rc<RefCell<Option<TrainingKey>>>,
}

impl Executor for Corrupting {
    fn name(&self) -> &'static str {
        "corrupting"
    }
    fn run(&self, job: TrainingJob) -> RunFuture {
        let mut victim = self.victim.borrow_mut();
        if victim.is_some() {
            return self.sim.run(job);
        }
        let key = TrainingKey::new(job.task_id.clone(), job.hotkey.clone());
        set_status(&self.db, &key, "paused");
        *victim = Some(key);
        Box::pin(async { RunOutcome::scored(0.5) })
    }
    fn reattach(&self, _: TrainingJob, _: DateTime<Utc>) -> Option<RunFuture> {
        Some(Box::pin(async { RunOutcome::scored(0.5) }))
    }
}

#[test]
fn a_training_whose_row_is_corrupt_stalls_until_an_operator_repairs_and_retries_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stalls.db");
    let store = Arc::new(Store::open(&format!("sqlite://{}", db.display())).unwrap());
    store.migrate().unwrap();
    let victim: Rc<RefCell<Option<TrainingKey>>> = Rc::default();
    let executor = {
        let (db, victim) = (db.clone(), victim.clone());
        move |sim, _| -> Rc<dyn Executor> { Rc::new(Corrupting { sim, db, victim }) }
    };
    let mut play = Play::new(&store, 12, 5, "stalls-test");
    play.schedule.types = vec![crucible::domain::TournamentType::Text];
    // Runs until the watcher stops it, never between the retry and the checks that follow it.
    play.schedule.limit = None;
    let seen: Rc<RefCell<Vec<String>>> = Rc::default();
    let log = seen.clone();
    let ended = play.run(executor, move |Running { app, mut events, stop }| {
        let (supervisor, stalls, db) = (app.supervisor().clone(), app.stalls().clone(), db.clone());
        actix::spawn(async move {
            while let Some(event) = crucible::actors::events::next(&mut events).await {
                match event {
                    Event::Stalled { id, kind, subject, reason, .. } => {
                        assert_eq!(kind, "training");
                        assert!(reason.contains("corrupt"), "{reason}");
                        let listed = stalls.list();
                        assert_eq!(listed.len(), 1, "{listed:?}");
                        assert_eq!((listed[0].id.as_str(), &listed[0].reason), (subject.as_str(), &reason));
                        log.borrow_mut().push(format!("stalled: {kind}"));
                        // Not yet repaired: a retry of the tournament itself is refused, it has not stalled.
                        let whole = supervisor.send(RetryStalled { tournament: id.clone(), training: None }).await;
                        assert!(matches!(whole.unwrap(), Err(ControlError::Conflict(_))));
                        // The operator repairs the row, then retries the training.
                        let key = TrainingKey::parse(&subject).unwrap();
                        set_status(&db, &key, "training");
                        let retry = RetryStalled { tournament: id.clone(), training: Some(key) };
                        let answer = supervisor.send(retry.clone()).await.unwrap();
                        assert_eq!(answer, Ok(format!("training {subject} resumed")));
                        assert!(stalls.list().is_empty(), "no longer stalled");
                        // Retried once: again, it has not stalled (still running), or has already
                        // ended and left its tournament's trainers.
                        let again = supervisor.send(retry).await.unwrap();
                        assert!(
                            matches!(again, Err(ControlError::Conflict(_) | ControlError::NotFound(_))),
                            "{again:?}"
                        );
                        log.borrow_mut().push("retried".into());
                    }
                    Event::TournamentCompleted { .. } => {
                        log.borrow_mut().push("completed".into());
                        stop.stop();
                    }
                    _ => {}
                }
            }
        });
    });
    assert_eq!(ended, Ended::Stopped);
    assert_eq!(*seen.borrow(), ["stalled: training", "retried", "completed"]);
    let key = victim.borrow().clone().expect("a training ran");
    let training = store.get_training(&key.task, &key.hotkey).unwrap();
    assert_eq!((training.status, training.test_loss), (TrainingStatus::Success, Some(0.5)), "{training:?}");
}

/// A type whose history cannot be read cannot get its next tournament: its schedule is retried with a
/// backoff, shown stalled once past its budget, and creates the tournament once the row is repaired.
#[test]
fn a_schedule_that_cannot_create_its_next_tournament_shows_stalled_and_recovers_once_repaired() {
    use crucible::domain::TournamentType;

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("schedule.db");
    let store = Arc::new(Store::open(&format!("sqlite://{}", db.display())).unwrap());
    store.migrate().unwrap();
    let mut play = Play::new(&store, 12, 6, "schedule-stall-test");
    let done = super::app::completed_text_tournament(7, play.start);
    store.insert_tournament(&done).unwrap();
    behind_its_back(&db, &format!("UPDATE tournaments SET status = 'paused' WHERE id = '{}'", done.id));
    play.schedule.types = vec![TournamentType::Text];
    play.schedule.limit = Some(2);
    let seen: Rc<RefCell<Vec<String>>> = Rc::default();
    let log = seen.clone();
    play.run(
        |sim, _| -> Rc<dyn Executor> { Rc::new(sim) },
        move |Running { app, mut events, stop }| {
            let stalls = app.stalls().clone();
            actix::spawn(async move {
                // Virtual minutes pass while the schedule fails and backs off (a day at most).
                let mut minutes = 0;
                while !stalls.list().iter().any(|s| s.kind == "schedule") {
                    minutes += 1;
                    if minutes > 24 * 60 {
                        log.borrow_mut().push("never stalled".into());
                        return stop.stop();
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                }
                let stall = stalls.list().remove(0);
                assert_eq!((stall.id.as_str(), stall.tournament_id.as_ref()), ("text", None));
                assert!(stall.reason.contains("corrupt") && stall.failures >= 8, "{stall:?}");
                log.borrow_mut().push("stalled".into());
                behind_its_back(&db, &format!("UPDATE tournaments SET status = 'completed' WHERE id = '{}'", done.id));
                while let Some(event) = crucible::actors::events::next(&mut events).await {
                    if let Event::TournamentCreated { .. } = event {
                        assert!(stalls.list().is_empty(), "no longer stalled");
                        log.borrow_mut().push("created".into());
                        stop.stop();
                    }
                }
            });
        },
    );
    assert_eq!(*seen.borrow(), ["stalled", "created"]);
}
