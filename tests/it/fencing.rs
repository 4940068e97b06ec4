//! A node that does not answer is fenced by the TrainerActor: the start that could not reach it costs no
//! attempt, and no later training is placed on it (nothing un-fences it in this test).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use crucible::domain::{Hotkey, TaskId};
use crucible::exec::{Executor, RunFuture, RunOutcome, TrainingJob};
use crucible::sim::SimulatedExecutor;
use crucible::store::Store;

use super::app::Play;

const DEAD: &str = "sim-node-01";

/// The simulated executor, except that node `DEAD` never answers; records every run's node.
struct DeadNode {
    inner: SimulatedExecutor,
    runs: Rc<RefCell<Vec<(crucible::domain::NodeId, TaskId, Hotkey)>>>,
}

impl Executor for DeadNode {
    fn name(&self) -> &'static str {
        "dead-node"
    }
    fn run(&self, job: TrainingJob) -> RunFuture {
        let key = (job.placement.node_id.clone(), job.task_id.clone(), job.hotkey.clone());
        let again = self.runs.borrow().contains(&key);
        self.runs.borrow_mut().push(key);
        if job.placement.node_id == DEAD && again {
            // Placed on the dead node again: the fence failed. A failure costs an attempt, so the test
            // ends (and its check of the starts fails) instead of looping for ever.
            return Box::pin(async { RunOutcome::failed("placed on the fenced node again".into()) });
        }
        if job.placement.node_id == DEAD {
            let reason = format!("node {DEAD}: cannot connect");
            return Box::pin(async move { RunOutcome::NodeUnreachable { reason, during_run: false } });
        }
        self.inner.run(job)
    }
    fn reattach(&self, job: TrainingJob, started_at: DateTime<Utc>) -> Option<RunFuture> {
        self.inner.reattach(job, started_at)
    }
}

#[test]
fn an_unreachable_node_is_fenced_and_its_start_costs_no_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&format!("sqlite://{}", dir.path().join("f.db").display())).unwrap());
    store.migrate().unwrap();
    let runs = Rc::new(RefCell::new(Vec::new()));
    let recorded = runs.clone();
    let play = Play::new(&store, 12, 9, "fencing-test");
    play.run(move |inner, _| Rc::new(DeadNode { inner, runs: recorded }), |_| {});

    let runs = runs.borrow();
    let on_dead: Vec<_> = runs.iter().filter(|(node, _, _)| *node == DEAD).collect();
    // Trainings placed on it in the same instant all fail to start; none is placed there again (without
    // the fence the broker would pick the same node forever).
    assert!(!on_dead.is_empty() && on_dead.len() <= 8, "{} starts on the dead node", on_dead.len());
    let distinct: std::collections::BTreeSet<_> = on_dead.iter().map(|(_, t, h)| (t, h)).collect();
    assert_eq!(distinct.len(), on_dead.len(), "no training tried the fenced node twice");
    for (_, task, hotkey) in on_dead {
        let attempts = store.attempts(task, hotkey).unwrap();
        assert!(attempts[0].reason.as_deref().is_some_and(|r| r.contains("cannot connect")), "{attempts:?}");
        assert!(
            attempts[1..].iter().all(|a| a.node_id.as_ref().map(|n| n.as_str()) != Some(DEAD)),
            "it started again elsewhere"
        );
        let training = store.get_training(task, hotkey).unwrap();
        assert!(training.status.is_finished());
        assert_eq!(training.attempts as usize, attempts.len() - 1, "the unreachable start was handed back");
    }
}
