use crucible::domain::{
    ModelType, RunStatus, TaskId, TaskStatus, TaskType, TournamentId, TrainingEvent, TrainingState, TrainingStatus,
};
use crucible::store::{
    AttemptEnd, EntityKind, NewAttempt, StatusChange, Store, StoreError, Task, Training, TrainingAttempt,
    TrainingUpdate,
};

use super::support::{hotkey, knockout_round, t, tournament};

/// A tournament with one knockout round and one pending DPO task on its pair.
fn setup(store: &Store) -> (TournamentId, Task) {
    let tourn = tournament(1, 0);
    store.insert_tournament(&tourn).unwrap();
    let round = knockout_round(&tourn.id);
    store.insert_round(&round).unwrap();
    let task = Task {
        id: TaskId::parse("8c5e0a1f-task-1").unwrap(),
        tournament_id: tourn.id.clone(),
        round_id: round.round.id.clone(),
        group_id: None,
        pair_id: Some(round.pairs[0].id.clone()),
        task_type: TaskType::Dpo,
        model: "org/model-7b".into(),
        model_params: Some(7_241_732_096),
        dataset: "org/prefs".into(),
        dataset_rows: Some(42_000),
        dataset_type_json: r#"{"field_prompt":"prompt","field_chosen":"chosen"}"#.into(),
        model_type: None,
        hours_to_complete: 3.5,
        replaces_task_id: None,
        status: TaskStatus::Active,
        created_at: t(11),
    };
    store.insert_task(&task).unwrap();
    (tourn.id, task)
}

fn tasks_round_trip_and_a_replacement_supersedes_its_task(store: &Store) {
    let (_, task) = setup(store);
    assert_eq!(store.get_task(&task.id).unwrap(), task);
    let replacement = Task {
        id: TaskId::parse("8c5e0a1f-task-2").unwrap(),
        model_type: Some(ModelType::Flux),
        model_params: None,
        dataset_rows: None,
        replaces_task_id: Some(task.id.clone()),
        created_at: t(40),
        ..task.clone()
    };
    store.replace_task(&replacement, "dataset could not be prepared", t(40)).unwrap();
    let old = Task { status: TaskStatus::Replaced, ..task.clone() };
    assert_eq!(store.list_tasks(&task.round_id).unwrap(), vec![old, replacement.clone()]);
    let log = store.transitions(EntityKind::Task, task.id.as_str()).unwrap();
    assert_eq!(
        log.last().map(|e| (e.to_status.as_str(), e.cause.as_str())),
        Some(("replaced", "dataset could not be prepared"))
    );

    let again = Task { id: TaskId::parse("8c5e0a1f-task-3").unwrap(), ..replacement.clone() };
    assert!(matches!(store.replace_task(&again, "twice", t(41)), Err(StoreError::Conflict(_))));
    let orphan = Task { replaces_task_id: None, ..again };
    assert!(matches!(store.replace_task(&orphan, "none", t(41)), Err(StoreError::Conflict(_))));
    store
        .set_task_status(
            &replacement.id,
            &StatusChange::new(TaskStatus::Active, TaskStatus::Accepted, "accepted", t(42)),
        )
        .unwrap();
    assert_eq!(store.get_task(&replacement.id).unwrap().status, TaskStatus::Accepted);
    // A change from a status the task is not in is refused and changes nothing.
    let stale = StatusChange::new(TaskStatus::Active, TaskStatus::Replaced, "stale", t(43));
    assert!(matches!(store.set_task_status(&replacement.id, &stale), Err(StoreError::Conflict(_))));
    assert_eq!(store.get_task(&replacement.id).unwrap().status, TaskStatus::Accepted);
}

fn trainings_round_trip_and_their_updates_are_logged(store: &Store) {
    let (_, task) = setup(store);
    let trainings: Vec<Training> = [1, 2]
        .map(|n| Training {
            task_id: task.id.clone(),
            hotkey: hotkey(n),
            status: TrainingStatus::Pending,
            attempts: 0,
            failure_reason: None,
            test_loss: None,
            synth_loss: None,
            eval: Default::default(),
            updated_at: t(12),
        })
        .into();
    store.transaction(|tx| trainings.iter().try_for_each(|tr| tx.insert_training(tr))).unwrap();
    assert_eq!(store.trainings_for_task(&task.id).unwrap(), trainings);
    assert_eq!(store.trainings_for_hotkey(&hotkey(2)).unwrap(), vec![trainings[1].clone()]);

    let started = TrainingState::default().step(&TrainingEvent::Started, 2).unwrap();
    let succeeded = started.step(&TrainingEvent::Succeeded, 2).unwrap();
    let update = |from, state: &TrainingState, loss, cause: &str, at| TrainingUpdate {
        from,
        state: state.clone(),
        test_loss: loss,
        synth_loss: loss.map(|l| l * 1.5),
        eval: Default::default(),
        cause: cause.into(),
        at,
    };
    let h = hotkey(1);
    store.update_training(&task.id, &h, &update(TrainingStatus::Pending, &started, None, "started", t(13))).unwrap();
    let done = update(TrainingStatus::Training, &succeeded, Some(0.4321), "evaluated", t(90));
    store.update_training(&task.id, &h, &done).unwrap();
    let expected = Training {
        status: TrainingStatus::Success,
        attempts: 1,
        test_loss: Some(0.4321),
        synth_loss: Some(0.4321 * 1.5),
        eval: Default::default(),
        updated_at: t(90),
        ..trainings[0].clone()
    };
    assert_eq!(store.get_training(&task.id, &h).unwrap(), expected);
    let log = store.transitions(EntityKind::Training, &EntityKind::training_id(&task.id, &h)).unwrap();
    let steps: Vec<_> = log.iter().map(|e| (e.to_status.as_str(), e.cause.as_str(), e.at)).collect();
    assert_eq!(
        steps,
        vec![("pending", "created", t(12)), ("training", "started", t(13)), ("success", "evaluated", t(90))]
    );

    let stale = store.update_training(&task.id, &h, &update(TrainingStatus::Pending, &started, None, "late", t(91)));
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    let nobody = store.get_training(&task.id, &hotkey(7));
    assert!(matches!(nobody, Err(StoreError::NotFound { entity: "training", .. })), "{nobody:?}");
}

fn every_attempt_is_recorded_and_ends_once(store: &Store) {
    let (_, task) = setup(store);
    let h = hotkey(1);
    let training = Training {
        task_id: task.id.clone(),
        hotkey: h.clone(),
        status: TrainingStatus::Pending,
        attempts: 0,
        failure_reason: None,
        test_loss: None,
        synth_loss: None,
        eval: Default::default(),
        updated_at: t(12),
    };
    store.insert_training(&training).unwrap();
    let start = |gpus: Vec<u32>, at| NewAttempt {
        task_id: task.id.clone(),
        hotkey: h.clone(),
        node_id: Some(crate::node_id("node-a")),
        gpu_ids: gpus,
        started_at: at,
    };
    assert_eq!(store.start_attempt(&start(vec![0, 1], t(13))).unwrap(), 1);
    let image = Some("sha256:5e1f".to_owned());
    let oom = AttemptEnd { outcome: RunStatus::Failure, reason: Some("out of memory".into()), at: t(50), image };
    store.finish_attempt(&task.id, &h, 1, &oom).unwrap();
    assert!(matches!(store.finish_attempt(&task.id, &h, 1, &oom), Err(StoreError::Conflict(_))));
    assert!(matches!(store.finish_attempt(&task.id, &h, 9, &oom), Err(StoreError::NotFound { .. })));
    assert_eq!(store.start_attempt(&start(vec![], t(55))).unwrap(), 2);

    let attempts = store.attempts(&task.id, &h).unwrap();
    let expected = vec![
        TrainingAttempt {
            task_id: task.id.clone(),
            hotkey: h.clone(),
            attempt: 1,
            node_id: Some(crate::node_id("node-a")),
            gpu_ids: vec![0, 1],
            started_at: t(13),
            finished_at: Some(t(50)),
            outcome: Some(RunStatus::Failure),
            reason: Some("out of memory".into()),
            image: Some("sha256:5e1f".into()),
        },
        TrainingAttempt {
            attempt: 2,
            gpu_ids: vec![],
            started_at: t(55),
            finished_at: None,
            outcome: None,
            reason: None,
            image: None,
            ..TrainingAttempt::clone(&attempts[0])
        },
    ];
    assert_eq!(attempts, expected);
}

/// A task is proven once enough of its trainings succeeded with a value; the tournament asking and
/// other task types are left out.
fn proven_tasks_are_those_with_enough_scored_trainings(store: &Store) {
    let (tournament, task) = setup(store);
    let training = |n: u64, status: TrainingStatus, loss: Option<f64>| Training {
        task_id: task.id.clone(),
        hotkey: hotkey(n),
        status,
        attempts: 1,
        failure_reason: None,
        test_loss: loss,
        synth_loss: None,
        eval: Default::default(),
        updated_at: t(12),
    };
    store
        .transaction(|tx| {
            tx.insert_training(&training(1, TrainingStatus::Success, Some(0.5)))?;
            tx.insert_training(&training(2, TrainingStatus::Failure, None))
        })
        .unwrap();
    let other = TournamentId::new(99, 2026, 12, 1);
    let proven = |store: &Store, min, types: &[TaskType], excluding: &TournamentId| {
        store.transaction(|tx| tx.proven_tasks(types, min, excluding)).unwrap()
    };
    assert!(proven(store, 2, &[TaskType::Dpo], &other).is_empty(), "one success is not two");
    assert_eq!(proven(store, 1, &[TaskType::Dpo], &other), vec![(task.clone(), 1)]);
    assert!(proven(store, 1, &[TaskType::Dpo], &tournament).is_empty(), "the asking tournament's own tasks");
    assert!(proven(store, 1, &[TaskType::Grpo], &other).is_empty(), "another type");
    store.transaction(|tx| tx.insert_training(&training(3, TrainingStatus::Success, Some(0.7)))).unwrap();
    assert_eq!(proven(store, 2, &[TaskType::Dpo, TaskType::Grpo], &other), vec![(task, 2)]);
}

on_both_backends!(
    proven_tasks_are_those_with_enough_scored_trainings,
    tasks_round_trip_and_a_replacement_supersedes_its_task,
    trainings_round_trip_and_their_updates_are_logged,
    every_attempt_is_recorded_and_ends_once,
);
