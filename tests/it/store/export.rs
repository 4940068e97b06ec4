use crucible::domain::bundle::{
    BUNDLE_FORMAT, ParticipantRecord, ResultsBundle, RoundRecord, TaskRecord, TournamentRecord,
};
use crucible::domain::scoring::TrainingResult;
use crucible::domain::task_scores::EvalFacts;
use crucible::domain::weights::{WeightRules, compute};
use crucible::domain::{Hotkey, RoundKind, RunStatus, TaskType, TournamentStatus};
use crucible::store::{Store, StoreError, TournamentSnapshot};

use super::history::{house, played};
use super::support::{hotkey, t, tournament};

const FAILED: &str = "container exited with code 137";

/// What the export must make of a tournament written by `played`.
fn exported(written: &TournamentSnapshot) -> TournamentRecord {
    let t = &written.tournament;
    let task_id = |round: usize, index: usize| written.rounds[round].tasks[index].task.id.clone();
    let result = |h: Hotkey, status: RunStatus, test_loss: Option<f64>, synth_loss: Option<f64>| TrainingResult {
        synth_loss,
        eval: EvalFacts::default(),
        reason: (status == RunStatus::Failure).then(|| FAILED.to_owned()),
        ..TrainingResult::new(h, status, test_loss)
    };
    let participant =
        |h: Hotkey, eliminated_in_round: Option<u32>| ParticipantRecord { hotkey: h, eliminated_in_round };
    TournamentRecord {
        id: t.id.clone(),
        tournament_type: t.tournament_type,
        track: None,
        status: t.status,
        base_winner_hotkey: t.base_winner_hotkey.clone(),
        winner_hotkey: t.winner_hotkey.clone(),
        winning_performance_difference: t.winning_performance_difference,
        created_at: t.created_at,
        completed_at: t.completed_at,
        // Hotkey 6 was refused at registration.
        participants: vec![
            participant(house(), None),
            participant(hotkey(1), None),
            participant(hotkey(2), Some(1)),
            participant(hotkey(3), Some(1)),
            participant(hotkey(4), Some(1)),
            participant(hotkey(5), Some(1)),
        ],
        rounds: vec![
            RoundRecord {
                number: 1,
                kind: RoundKind::Group,
                is_final: false,
                // Task A (index 0) was replaced; pending and running trainings are left out.
                tasks: vec![
                    TaskRecord {
                        id: task_id(0, 1),
                        reward_weights: Vec::new(),
                        task_type: TaskType::InstructText,
                        results: vec![result(hotkey(4), RunStatus::Success, Some(0.7), Some(0.72))],
                    },
                    TaskRecord {
                        id: task_id(0, 2),
                        reward_weights: Vec::new(),
                        task_type: TaskType::InstructText,
                        results: vec![
                            result(hotkey(1), RunStatus::Success, Some(0.5), Some(0.55)),
                            result(hotkey(3), RunStatus::Failure, None, None),
                        ],
                    },
                ],
            },
            RoundRecord {
                number: 2,
                kind: RoundKind::Knockout,
                is_final: true,
                tasks: vec![TaskRecord {
                    id: task_id(1, 0),
                    task_type: TaskType::Dpo,
                    reward_weights: Vec::new(),
                    results: vec![
                        result(hotkey(1), RunStatus::Success, Some(0.3), None),
                        result(house(), RunStatus::Success, Some(0.4), Some(0.41)),
                    ],
                }],
            },
        ],
    }
}

fn the_export_skips_pending_and_cancelled_tournaments_replaced_tasks_and_unfinished_trainings(store: &Store) {
    let completed = played(store, 1, TournamentStatus::Completed);
    played(store, 2, TournamentStatus::Pending);
    let active = played(store, 3, TournamentStatus::Active);
    played(store, 4, TournamentStatus::Cancelled);

    let bundle = store.export_bundle(&house(), t(5000)).unwrap();
    assert_eq!(bundle.format, BUNDLE_FORMAT);
    assert_eq!(bundle.house_hotkey, house());
    assert_eq!(bundle.exported_at, Some(t(5000)));
    assert_eq!(bundle.tournaments, vec![exported(&completed), exported(&active)]);
}

fn the_exported_bundle_validates_and_its_weights_sum_to_one(store: &Store) {
    played(store, 1, TournamentStatus::Completed);
    played(store, 2, TournamentStatus::Completed);
    played(store, 3, TournamentStatus::Active);

    let bundle = store.export_bundle(&house(), t(5000)).unwrap();
    bundle.validate().unwrap();
    let json = serde_json::to_string(&bundle).unwrap();
    assert_eq!(serde_json::from_str::<ResultsBundle>(&json).unwrap(), bundle);

    let report = compute(&bundle, &WeightRules::default());
    let sum: f64 = report.weights.values().sum();
    assert!((sum - 1.0).abs() < 1e-9, "weights sum to {sum}: {:?}", report.weights);
    assert!(report.weights[&hotkey(1)] > 0.0, "the winner has weight: {:?}", report.weights);
    // Hotkey 1 and the house are still in the active tournament; the house counts while it is in.
    assert_eq!(report.participants, 2);
}

fn an_empty_store_exports_an_empty_valid_bundle(store: &Store) {
    let bundle = store.export_bundle(&house(), t(0)).unwrap();
    assert_eq!(bundle.tournaments, vec![]);
    bundle.validate().unwrap();
}

fn stored_results_that_cannot_make_a_valid_bundle_are_refused(store: &Store) {
    let broken = crucible::store::Tournament { status: TournamentStatus::Completed, ..tournament(1, 0) };
    store.insert_tournament(&broken).unwrap();
    let error = store.export_bundle(&house(), t(0)).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
    assert!(error.to_string().contains("no completed_at"), "{error}");
}

on_both_backends!(
    the_export_skips_pending_and_cancelled_tournaments_replaced_tasks_and_unfinished_trainings,
    the_exported_bundle_validates_and_its_weights_sum_to_one,
    an_empty_store_exports_an_empty_valid_bundle,
    stored_results_that_cannot_make_a_valid_bundle_are_refused,
);
