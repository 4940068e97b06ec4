use crucible::domain::{GpuClass, weights};
use crucible::domain::{RunStatus, TaskId, TaskType, TournamentStatus, TrainingStatus};
use crucible::store::{EntityKind, Gpu, StatusChange, Store, StoreError, TASK_REPLACED, Task, TrainerNode, Training};

use super::support::{hotkey, knockout_round, t, tournament};

fn meta_upserts_round_trip(store: &Store) {
    assert_eq!(store.get_meta("simulation").unwrap(), None);
    store.set_meta("simulation", "one", t(1)).unwrap();
    store.set_meta("simulation", "two", t(2)).unwrap();
    assert_eq!(store.get_meta("simulation").unwrap().as_deref(), Some("two"));
}

fn logged_events_appear_in_the_log_and_set_the_last_time(store: &Store) {
    assert_eq!(store.last_transition_at().unwrap(), None);
    store.log_event(EntityKind::Registration, "tourn-x", "attempted", "3 admitted", t(5)).unwrap();
    store.log_event(EntityKind::Registration, "tourn-x", "attempted", "9 admitted", t(35)).unwrap();
    store.log_event(EntityKind::Gpu, "node/0", "free", "released", t(20)).unwrap();
    let log = store.transitions(EntityKind::Registration, "tourn-x").unwrap();
    assert_eq!(log.iter().map(|e| e.cause.as_str()).collect::<Vec<_>>(), vec!["3 admitted", "9 admitted"]);
    assert_eq!(log[0].from_status, None);
    assert_eq!(store.last_transition_at().unwrap(), Some(t(35)));
}

fn gpu_holders_are_set_in_bulk_logged_and_atomic(store: &Store) {
    let gpus = (0..4)
        .map(|index| Gpu { index, class: GpuClass::H100, model_name: "H100".into(), vram_gb: 80, holder: None })
        .collect();
    store
        .upsert_node(&TrainerNode {
            id: "n1".into(),
            address: "x".into(),
            fenced: false,
            last_seen: None,
            created_at: t(0),
            gpus,
        })
        .unwrap();
    store.set_gpu_holders("n1", &[1, 2], Some("task/hk"), "placed task/hk", t(3)).unwrap();
    let holders: Vec<Option<String>> = store.get_node("n1").unwrap().gpus.into_iter().map(|g| g.holder).collect();
    assert_eq!(holders, vec![None, Some("task/hk".into()), Some("task/hk".into()), None]);
    assert_eq!(store.transitions(EntityKind::Gpu, "n1/2").unwrap()[0].to_status, "reserved");
    let err = store.set_gpu_holders("n1", &[3, 9], Some("other"), "placed other", t(4)).unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    assert_eq!(store.get_node("n1").unwrap().gpus[3].holder, None, "nothing changed");
    store.set_gpu_holders("n1", &[1, 2], None, "released", t(5)).unwrap();
    assert!(store.get_node("n1").unwrap().gpus.iter().all(|g| g.holder.is_none()));
}

fn training(task: &Task, n: u64, status: TrainingStatus, loss: Option<f64>) -> Training {
    Training {
        task_id: task.id.clone(),
        hotkey: hotkey(n),
        status,
        attempts: 1,
        failure_reason: None,
        test_loss: loss,
        synth_loss: None,
        updated_at: t(50),
    }
}

/// An active tournament with one round: a replaced task, its replacement, trainings in several states.
fn written(store: &Store) -> (crucible::store::Tournament, Task, Task) {
    let tourn = tournament(7, 0);
    store.insert_tournament(&tourn).unwrap();
    store
        .set_tournament_status(
            &tourn.id,
            &StatusChange::new(TournamentStatus::Pending, TournamentStatus::Active, "go", t(1)),
        )
        .unwrap();
    let round = knockout_round(&tourn.id);
    store.insert_round(&round).unwrap();
    let old = Task {
        id: TaskId::parse("old-task").unwrap(),
        tournament_id: tourn.id.clone(),
        round_id: round.round.id.clone(),
        group_id: None,
        pair_id: Some(round.pairs[0].id.clone()),
        task_type: TaskType::InstructText,
        model: "m".into(),
        model_params: Some(1_000_000_000),
        dataset: "d".into(),
        dataset_rows: Some(5000),
        dataset_type_json: "{}".into(),
        model_type: None,
        hours_to_complete: 2.0,
        replaces_task_id: None,
        status: "active".into(),
        created_at: t(11),
    };
    store.insert_task(&old).unwrap();
    let new = Task {
        id: TaskId::parse("new-task").unwrap(),
        replaces_task_id: Some(old.id.clone()),
        created_at: t(30),
        ..old.clone()
    };
    store.replace_task(&new, "sanity", t(30)).unwrap();
    for tr in [
        training(&old, 1, TrainingStatus::Failure, None),
        training(&old, 2, TrainingStatus::Failure, None),
        training(&new, 1, TrainingStatus::Success, Some(0.4)),
        training(&new, 2, TrainingStatus::Training, None),
    ] {
        store.insert_training(&tr).unwrap();
    }
    (store.get_tournament(&tourn.id).unwrap(), old, new)
}

fn a_snapshot_reads_back_the_whole_tournament(store: &Store) {
    let (tourn, old, new) = written(store);
    let s = store.tournament_snapshot(&tourn.id).unwrap();
    assert_eq!(s.tournament, tourn);
    assert_eq!(s.rounds.len(), 1);
    let tasks = &s.rounds[0].tasks;
    assert_eq!(tasks.iter().map(|t| t.task.id.clone()).collect::<Vec<_>>(), vec![old.id.clone(), new.id.clone()]);
    assert_eq!(tasks[0].task.status, TASK_REPLACED);
    assert_eq!(
        tasks[1].trainings.iter().map(|t| t.status).collect::<Vec<_>>(),
        vec![TrainingStatus::Success, TrainingStatus::Training]
    );
    assert!(matches!(store.tournament_snapshot(&tournament(99, 0).id), Err(StoreError::NotFound { .. })));
}

fn the_export_skips_replaced_tasks_and_unfinished_trainings(store: &Store) {
    let (tourn, _, new) = written(store);
    store.insert_tournament(&tournament(8, 5)).unwrap();
    let bundle = store.export_bundle(&hotkey(999), t(60)).unwrap();
    bundle.validate().unwrap();
    assert_eq!(bundle.tournaments.len(), 1, "the pending tournament is left out");
    let exported = &bundle.tournaments[0];
    assert_eq!(exported.id, tourn.id);
    let tasks = &exported.rounds[0].tasks;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].id, new.id);
    assert_eq!(tasks[0].results.len(), 1);
    assert_eq!((tasks[0].results[0].status, tasks[0].results[0].test_loss), (RunStatus::Success, Some(0.4)));
    let report = weights::compute(&bundle, &weights::WeightRules::default());
    assert!((report.weights.values().sum::<f64>() - 1.0).abs() < 1e-12);
}

on_both_backends!(
    meta_upserts_round_trip,
    logged_events_appear_in_the_log_and_set_the_last_time,
    gpu_holders_are_set_in_bulk_logged_and_atomic,
    a_snapshot_reads_back_the_whole_tournament,
    the_export_skips_replaced_tasks_and_unfinished_trainings,
);
