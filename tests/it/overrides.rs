//! The operator's round-sanity overrides on a live round, through the supervisor as the control API
//! sends them: a failed training retried with fresh attempts, an ended task replaced, a running task
//! accepted, and every override the task's state does not allow refused.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use crucible::actors::Event;
use crucible::actors::control::{ControlError, OverrideTask, TaskAction};
use crucible::domain::{Hotkey, TaskId, TaskStatus, TournamentId, TrainingStatus};
use crucible::exec::{Executor, RunFuture, RunOutcome, TrainingJob};
use crucible::sim::SimulatedExecutor;
use crucible::store::Store;

use super::app::{Play, Running};

/// The first task it sees ends at once: its first trainee fails, the others succeed. Every other run is
/// simulated and takes hours, so the round stays undecided while the operator acts.
struct Scripted {
    sim: SimulatedExecutor,
    first: RefCell<Option<(TaskId, Hotkey)>>,
    /// The tournament of the first task.
    tournament: RefCell<Option<TournamentId>>,
    /// Every job asked of it.
    jobs: Rc<RefCell<Vec<TrainingJob>>>,
}

impl Executor for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }
    fn run(&self, job: TrainingJob) -> RunFuture {
        self.jobs.borrow_mut().push(job.clone());
        let (task, victim) = self.first.borrow_mut().get_or_insert((job.task_id.clone(), job.hotkey.clone())).clone();
        self.tournament.borrow_mut().get_or_insert(job.tournament_id.clone());
        if job.task_id != task {
            return self.sim.run(job);
        }
        let outcome = if job.hotkey == victim {
            RunOutcome::Failed { reason: "crashed".into(), image: Some(format!("sha256:{}", job.attempt)) }
        } else {
            RunOutcome::scored(0.5)
        };
        Box::pin(async move { outcome })
    }
    fn reattach(&self, _: TrainingJob, _: DateTime<Utc>) -> Option<RunFuture> {
        None
    }
}

/// What the operator got back, in order.
type Answers = Rc<RefCell<Vec<(&'static str, Result<String, ControlError>)>>>;

#[test]
fn operators_retry_replace_and_accept_tasks_of_a_live_round() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&format!("sqlite://{}", dir.path().join("o.db").display())).unwrap());
    store.migrate().unwrap();
    let answers: Answers = Rc::default();
    let first: Rc<RefCell<Option<(TaskId, Hotkey)>>> = Rc::default();
    let seen = answers.clone();
    let first_seen = first.clone();
    let jobs: Rc<RefCell<Vec<TrainingJob>>> = Rc::default();
    let jobs_seen = jobs.clone();
    let watched = store.clone();
    let scripted: Rc<RefCell<Option<Rc<Scripted>>>> = Rc::default();
    let made = scripted.clone();
    let executor = move |sim, _| -> Rc<dyn Executor> {
        let executor =
            Rc::new(Scripted { sim, first: RefCell::default(), tournament: RefCell::default(), jobs: jobs_seen });
        *made.borrow_mut() = Some(executor.clone());
        executor
    };
    let play = Play::new(&store, 12, 5, "overrides-test");
    play.run(executor, move |Running { app, events: mut receiver, stop }| {
        let scripted = scripted.borrow().clone().expect("the executor is made before the application runs");
        let supervisor = app.supervisor().clone();
        actix::spawn(async move {
            let mut other: Option<TaskId> = None;
            let mut victim_failures = 0;
            let mut replaced: Option<TaskId> = None;
            while let Ok(event) = receiver.recv().await {
                let Event::TrainingEnded { id, task, hotkey, status, .. } = event else {
                    if let Event::TrainingStarted { id, task, .. } = event {
                        // Once a training of the replacement has started (its job is with the executor).
                        if let Some(original) = &replaced
                            && watched.get_task(&task).is_ok_and(|t| t.replaces_task_id.as_ref() == Some(original))
                        {
                            stop.stop();
                        }
                        // Both tournament types run at once: the other task must be of the first task's.
                        let same = scripted.tournament.borrow().as_ref() == Some(&id);
                        if same && scripted.first.borrow().as_ref().is_some_and(|(t, _)| *t != task) {
                            other.get_or_insert(task);
                        }
                    }
                    continue;
                };
                let Some((first_task, victim)) = scripted.first.borrow().clone() else { continue };
                if task != first_task
                    || hotkey != victim
                    || status != TrainingStatus::Failure
                    || Some(&id) != scripted.tournament.borrow().as_ref()
                {
                    continue;
                }
                victim_failures += 1;
                *first_seen.borrow_mut() = Some((first_task.clone(), victim.clone()));
                // Let the task's other (instant) trainings end too.
                tokio::time::sleep(Duration::from_secs(1)).await;
                let ask = |task: &TaskId, action| OverrideTask { tournament: id.clone(), task: task.clone(), action };
                if victim_failures == 1 {
                    let other = other.clone().expect("another task is training");
                    assert_eq!(watched.get_task(&other).unwrap().tournament_id, id, "a task of this tournament");
                    for (name, request) in [
                        ("accept a running task", ask(&other, TaskAction::Accept)),
                        ("accept it again", ask(&other, TaskAction::Accept)),
                        ("retry a running task", ask(&other, TaskAction::Retry)),
                        ("retry the ended task", ask(&first_task, TaskAction::Retry)),
                    ] {
                        let answer = supervisor.send(request).await.unwrap();
                        seen.borrow_mut().push((name, answer));
                    }
                } else {
                    for (name, request) in [
                        ("replace the ended task", ask(&first_task, TaskAction::Replace)),
                        ("retry the replaced task", ask(&first_task, TaskAction::Retry)),
                        ("an unknown task", ask(&TaskId::parse("no-such-task").unwrap(), TaskAction::Accept)),
                    ] {
                        let answer = supervisor.send(request).await.unwrap();
                        seen.borrow_mut().push((name, answer));
                    }
                    // The replacement's trainings start next; the loop stops once one has.
                    replaced = Some(first_task.clone());
                }
            }
        });
    });

    let answers = answers.borrow();
    let outcome = |name: &str| {
        answers.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("{name}: {answers:?}")).1.clone()
    };
    assert!(outcome("accept a running task").is_ok(), "{answers:?}");
    assert!(matches!(outcome("accept it again"), Err(ControlError::Conflict(m)) if m.contains("accepted already")));
    assert!(matches!(outcome("retry a running task"), Err(ControlError::Conflict(m)) if m.contains("still training")));
    assert!(outcome("retry the ended task").unwrap().contains("1 failed training"), "{answers:?}");
    assert!(outcome("replace the ended task").unwrap().contains("replaced"), "{answers:?}");
    assert!(
        matches!(outcome("retry the replaced task"), Err(ControlError::Conflict(m)) if m.contains("replaced already"))
    );
    assert!(matches!(outcome("an unknown task"), Err(ControlError::NotFound(_))), "{answers:?}");

    let (first_task, victim) = first.borrow().clone().expect("the scripted task ran");
    let attempts = store.attempts(&first_task, &victim).unwrap();
    assert_eq!(attempts.len(), 4, "two attempts, retried with two fresh ones: {attempts:?}");
    // Each failed attempt keeps the image it ran.
    for a in &attempts {
        assert_eq!(a.image, Some(format!("sha256:{}", a.attempt)), "{a:?}");
    }
    let training = store.get_training(&first_task, &victim).unwrap();
    assert_eq!((training.status, training.attempts), (TrainingStatus::Failure, 2));
    let task = store.get_task(&first_task).unwrap();
    assert_eq!(task.status, TaskStatus::Replaced);
    let round = store.list_tasks(&task.round_id).unwrap();
    let replacement = round.iter().find(|t| t.replaces_task_id.as_ref() == Some(&first_task)).expect("a replacement");
    // Its model is within ±20 % of the original's size, and its trainings keep the original's names.
    // (An image task has no size; the first task to run may be either.)
    if let (Some(was), Some(now)) = (task.model_params, replacement.model_params) {
        assert!((0.8 * was as f64..=1.2 * was as f64).contains(&(now as f64)), "{was} -> {now}");
    }
    let started: Vec<TrainingJob> = jobs.borrow().iter().filter(|j| j.task_id == replacement.id).cloned().collect();
    assert!(!started.is_empty(), "the replacement's trainings started");
    for job in started {
        let original = crucible::domain::ids::expected_repo_name(&task.tournament_id, &first_task, &job.hotkey);
        assert_eq!(job.expected_repo_name, original);
    }
    assert_eq!(round.iter().filter(|t| t.status == TaskStatus::Accepted).count(), 1);
}
