use crucible::domain::{NodeFailure, NodeTaskStatus, TaskId};
use crucible::store::{EntityKind, NodeTask, NodeTaskEnd, Store, StoreError};
use serde_json::json;

use super::support::{hotkey, t};

fn task(n: u64, minutes: i64) -> NodeTask {
    let id = TaskId::parse(&format!("node-task-{n}")).unwrap();
    let request = json!({
        "training_data": { "task_id": id.as_str(), "model": "org/m", "hours_to_complete": 1.5 },
        "github_repo": "https://github.com/m/r",
        "gpu_ids": [0, 2],
        "hotkey": hotkey(n).as_str(),
    });
    NodeTask {
        task_id: id,
        hotkey: hotkey(n),
        attempt: 1,
        request: request.as_object().unwrap().clone(),
        gpu_ids: vec![0, 2],
        status: NodeTaskStatus::Training,
        started_at: t(minutes),
        finished_at: None,
        logs: vec!["accepted".into()],
        test_loss: None,
        synth_loss: None,
        eval: Default::default(),
        failure: None,
    }
}

fn success(minutes: i64) -> NodeTaskEnd {
    NodeTaskEnd {
        status: NodeTaskStatus::Success,
        at: t(minutes),
        logs: vec!["trained".into(), "scored".into()],
        test_loss: Some(0.5),
        synth_loss: Some(0.25),
        eval: crucible::domain::task_scores::EvalFacts {
            is_finetune: Some(false),
            collected_at: Some(t(minutes)),
            rewards: vec![0.5, -1.0],
            kl_divergence: Some(0.125),
            image: Some(format!("sha256:{}", "ab".repeat(32))),
        },
        failure: None,
    }
}

fn a_node_task_is_stored_and_read_back_with_its_request(store: &Store) {
    let started = task(1, 0);
    store.start_node_task(&started).unwrap();
    assert_eq!(store.get_node_task(&started.task_id, &started.hotkey).unwrap(), started);
    assert_eq!(store.node_tasks_in(NodeTaskStatus::Training).unwrap(), vec![started.clone()]);
    let log = store.transitions(EntityKind::NodeTask, &format!("{}/{}", started.task_id, started.hotkey)).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].to_status, "training");
    assert!(log[0].cause.contains("[0, 2]"), "{}", log[0].cause);
}

fn a_finished_node_task_keeps_its_losses_and_its_log(store: &Store) {
    let started = task(1, 0);
    store.start_node_task(&started).unwrap();
    let done = store.finish_node_task(&started.task_id, &started.hotkey, 1, &success(30)).unwrap();
    assert_eq!(store.get_node_task(&started.task_id, &started.hotkey).unwrap(), done);
    assert_eq!(done.status, NodeTaskStatus::Success);
    assert_eq!(done.finished_at, Some(t(30)));
    assert_eq!(done.logs, ["accepted", "trained", "scored"]);
    assert_eq!((done.test_loss, done.synth_loss), (Some(0.5), Some(0.25)));
    assert!(store.node_tasks_in(NodeTaskStatus::Training).unwrap().is_empty());
    let log = store.transitions(EntityKind::NodeTask, &format!("{}/{}", started.task_id, started.hotkey)).unwrap();
    let steps: Vec<_> = log.iter().map(|l| (l.from_status.clone(), l.to_status.clone(), l.cause.clone())).collect();
    assert_eq!(steps[1], (Some("training".into()), "success".into(), "scored".into()));
}

fn a_running_node_task_cannot_start_again_but_a_finished_one_can(store: &Store) {
    let first = task(1, 0);
    store.start_node_task(&first).unwrap();
    assert!(matches!(store.start_node_task(&first), Err(StoreError::Conflict(_))));
    let failed = NodeTaskEnd {
        status: NodeTaskStatus::Failure,
        at: t(5),
        logs: vec!["Error cloning github repository: no such commit".into()],
        test_loss: None,
        synth_loss: None,
        eval: Default::default(),
        failure: Some(NodeFailure::Unfetchable),
    };
    let ended = store.finish_node_task(&first.task_id, &first.hotkey, 1, &failed).unwrap();
    assert_eq!(ended.failure, Some(NodeFailure::Unfetchable));

    let second = NodeTask { attempt: 2, started_at: t(10), gpu_ids: vec![1], ..task(1, 10) };
    store.start_node_task(&second).unwrap();
    let stored = store.get_node_task(&first.task_id, &first.hotkey).unwrap();
    assert_eq!(stored, second, "the new run replaces the finished record");
    let log = store.transitions(EntityKind::NodeTask, &format!("{}/{}", first.task_id, first.hotkey)).unwrap();
    assert_eq!(log.last().unwrap().from_status.as_deref(), Some("failure"));
}

fn a_node_task_ends_once_and_only_at_its_attempt(store: &Store) {
    let started = task(1, 0);
    assert!(matches!(
        store.finish_node_task(&started.task_id, &started.hotkey, 1, &success(1)),
        Err(StoreError::NotFound { .. })
    ));
    store.start_node_task(&started).unwrap();
    assert!(matches!(
        store.finish_node_task(&started.task_id, &started.hotkey, 2, &success(1)),
        Err(StoreError::Conflict(_))
    ));
    let training = NodeTaskEnd { status: NodeTaskStatus::Training, ..success(1) };
    assert!(matches!(
        store.finish_node_task(&started.task_id, &started.hotkey, 1, &training),
        Err(StoreError::Conflict(_))
    ));
    store.finish_node_task(&started.task_id, &started.hotkey, 1, &success(2)).unwrap();
    assert!(matches!(
        store.finish_node_task(&started.task_id, &started.hotkey, 1, &success(3)),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_node_task(&started.task_id, &started.hotkey).unwrap().finished_at, Some(t(2)));
}

fn recent_node_tasks_are_those_started_or_finished_in_the_window_newest_first(store: &Store) {
    let old_finished_late = task(1, 0);
    let old_finished_early = task(2, 1);
    let new = task(3, 100);
    let newer = task(4, 120);
    for task in [&old_finished_late, &old_finished_early, &new, &newer] {
        store.start_node_task(task).unwrap();
    }
    store.finish_node_task(&old_finished_late.task_id, &old_finished_late.hotkey, 1, &success(95)).unwrap();
    store.finish_node_task(&old_finished_early.task_id, &old_finished_early.hotkey, 1, &success(20)).unwrap();
    let recent: Vec<TaskId> = store.recent_node_tasks(t(90)).unwrap().into_iter().map(|t| t.task_id).collect();
    assert_eq!(recent, vec![newer.task_id, new.task_id, old_finished_late.task_id]);
    assert!(store.recent_node_tasks(t(121)).unwrap().is_empty());
}

on_both_backends!(
    a_node_task_is_stored_and_read_back_with_its_request,
    a_finished_node_task_keeps_its_losses_and_its_log,
    a_running_node_task_cannot_start_again_but_a_finished_one_can,
    a_node_task_ends_once_and_only_at_its_attempt,
    recent_node_tasks_are_those_started_or_finished_in_the_window_newest_first,
);
