//! A played tournament written through the store, the fixture of the snapshot and export tests: two
//! rounds (inserted out of order, groups too), a replaced task, trainings in every status, admitted and
//! refused participants.

use crucible::domain::{
    AdmissionOutcome, Hotkey, RoundId, RoundKind, RoundStatus, TaskId, TaskStatus, TaskType, TournamentId,
    TournamentStatus, TrainingStatus,
};
use crucible::store::{
    Group, Pair, Participant, Round, RoundSnapshot, RoundWithBracket, Store, Task, TaskSnapshot, TournamentSnapshot,
    Training,
};

use super::support::{coldkey, hotkey, t, tournament};

/// The house of these tournaments (it plays the boss round against `hotkey(1)`).
pub fn house() -> Hotkey {
    hotkey(99)
}

/// Writes tournament `n`, created at `t(1000 n)`, in `status`, and returns what was written as its
/// snapshot must read back.
///
/// Round 1 (group, completed): group 1 = hotkeys 1-3 plays task A, replaced by A'; group 2 = hotkeys
/// 4-5 plays task C. Round 2 (the boss knockout, active): hotkey 1 against the house on task B.
/// Hotkey 6 was refused at registration.
pub fn played(store: &Store, n: u64, status: TournamentStatus) -> TournamentSnapshot {
    let base = 1000 * i64::try_from(n).expect("small n");
    let at = |minutes: i64| t(base + minutes);
    let mut tourn = tournament(n, base);
    tourn.status = status;
    match status {
        TournamentStatus::Pending => {}
        TournamentStatus::Active => tourn.started_at = Some(at(5)),
        TournamentStatus::Completed => {
            tourn.started_at = Some(at(5));
            tourn.completed_at = Some(at(300));
            tourn.winner_hotkey = Some(hotkey(1));
            // What its boss round gives: (0.4 − 0.3) / 0.3.
            tourn.winning_performance_difference = Some((0.4 - 0.3) / 0.3);
        }
        TournamentStatus::Cancelled => {
            tourn.completed_at = Some(at(6));
            tourn.cancel_reason = Some("fewer than 8 miners admitted".into());
        }
    }
    store.insert_tournament(&tourn).unwrap();

    let participants: Vec<Participant> =
        [(99, None), (1, None), (2, Some(1)), (3, Some(1)), (4, Some(1)), (5, Some(1)), (6, None)]
            .into_iter()
            .enumerate()
            .map(|(i, (key, eliminated_in_round))| {
                let refused = key == 6;
                Participant {
                    tournament_id: tourn.id.clone(),
                    hotkey: hotkey(key),
                    coldkey: (key != 99).then(|| coldkey(key)),
                    repo_url: format!("https://github.com/miner{key}/trainer"),
                    commit_hash: format!("{key:040x}"),
                    is_house: key == 99,
                    admission: if refused { AdmissionOutcome::Timeout } else { AdmissionOutcome::Admitted },
                    admission_reason: if refused { "no answer after 10 s".into() } else { String::new() },
                    eliminated_in_round,
                    fee_rao: (key != 99 && !refused).then_some(250_000),
                    created_at: at(1 + i64::try_from(i).expect("small index")),
                }
            })
            .collect();
    for participant in &participants {
        store.upsert_participant(participant).unwrap();
    }

    let (r1, r2) = (tourn.id.round(1), tourn.id.round(2));
    let round1 = RoundWithBracket {
        round: round(&tourn.id, &r1, 1, RoundKind::Group, RoundStatus::Completed, at(10), Some(at(200))),
        groups: vec![
            Group { id: r1.group(1), number: 1, members: (1..=3).map(hotkey).collect() },
            Group { id: r1.group(2), number: 2, members: (4..=5).map(hotkey).collect() },
        ],
        pairs: vec![],
    };
    let round2 = RoundWithBracket {
        round: Round {
            is_final: true,
            ..round(&tourn.id, &r2, 2, RoundKind::Knockout, RoundStatus::Active, at(210), None)
        },
        groups: vec![],
        pairs: vec![Pair { id: r2.pair(1), number: 1, hotkey_a: hotkey(1), hotkey_b: house(), winner: None }],
    };
    store.insert_round(&round2).unwrap();
    let mut groups_reversed = round1.clone();
    groups_reversed.groups.reverse();
    store.insert_round(&groups_reversed).unwrap();

    let new_task = |key: &str, round: &RoundId, group: Option<String>, pair: Option<String>, minutes: i64| Task {
        id: TaskId::derived(&format!("{}-{key}", tourn.id)),
        tournament_id: tourn.id.clone(),
        round_id: round.clone(),
        group_id: group,
        pair_id: pair,
        task_type: TaskType::InstructText,
        model: "org/model-3b".into(),
        model_params: Some(3_000_000_000),
        dataset: format!("org/dataset-{key}"),
        dataset_rows: Some(10_000),
        dataset_type_json: "{}".into(),
        model_type: None,
        hours_to_complete: 2.0,
        replaces_task_id: None,
        status: TaskStatus::Active,
        created_at: at(minutes),
    };
    let task_c = new_task("C", &r1, Some(r1.group(2)), None, 15);
    let task_a = Task { status: TaskStatus::Active, ..new_task("A", &r1, Some(r1.group(1)), None, 11) };
    let task_a2 =
        Task { replaces_task_id: Some(task_a.id.clone()), ..new_task("A2", &r1, Some(r1.group(1)), None, 20) };
    let task_b = Task {
        task_type: TaskType::Dpo,
        status: TaskStatus::Accepted,
        ..new_task("B", &r2, None, Some(r2.pair(1)), 220)
    };

    let training = |task: &Task, key: u64, status: TrainingStatus, losses: (Option<f64>, Option<f64>)| Training {
        task_id: task.id.clone(),
        hotkey: hotkey(key),
        status,
        attempts: u32::from(status != TrainingStatus::Pending),
        failure_reason: (status == TrainingStatus::Failure).then(|| "container exited with code 137".into()),
        test_loss: losses.0,
        synth_loss: losses.1,
        eval: Default::default(),
        updated_at: task.created_at + chrono::Duration::minutes(30),
    };
    use TrainingStatus::{Failure, Pending, Success, Training as Running};
    let trainings_c =
        vec![training(&task_c, 4, Success, (Some(0.7), Some(0.72))), training(&task_c, 5, Pending, (None, None))];
    let trainings_a = vec![training(&task_a, 1, Failure, (None, None)), training(&task_a, 2, Pending, (None, None))];
    let trainings_a2 = vec![
        training(&task_a2, 1, Success, (Some(0.5), Some(0.55))),
        training(&task_a2, 2, Running, (None, None)),
        training(&task_a2, 3, Failure, (None, None)),
    ];
    let trainings_b =
        vec![training(&task_b, 1, Success, (Some(0.3), None)), training(&task_b, 99, Success, (Some(0.4), Some(0.41)))];

    store.insert_task(&task_c).unwrap();
    store.insert_task(&task_a).unwrap();
    store.insert_task(&task_b).unwrap();
    // Written in reverse so the read order is the store's, not the insertion order.
    for written in [&trainings_c, &trainings_a, &trainings_b] {
        written.iter().rev().for_each(|tr| store.insert_training(tr).unwrap());
    }
    store.replace_task(&task_a2, "dataset could not be prepared", at(20)).unwrap();
    trainings_a2.iter().rev().for_each(|tr| store.insert_training(tr).unwrap());

    let replaced_a = Task { status: TaskStatus::Replaced, ..task_a };
    let snapshot = |task: Task, trainings: Vec<Training>| TaskSnapshot { task, trainings };
    TournamentSnapshot {
        tournament: tourn,
        participants,
        rounds: vec![
            RoundSnapshot {
                round: round1,
                tasks: vec![
                    snapshot(replaced_a, trainings_a),
                    snapshot(task_c, trainings_c),
                    snapshot(task_a2, trainings_a2),
                ],
            },
            RoundSnapshot { round: round2, tasks: vec![snapshot(task_b, trainings_b)] },
        ],
    }
}

fn round(
    tournament: &TournamentId,
    id: &RoundId,
    number: u32,
    kind: RoundKind,
    status: RoundStatus,
    created_at: chrono::DateTime<chrono::Utc>,
    completed_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Round {
    Round {
        id: id.clone(),
        tournament_id: tournament.clone(),
        number,
        kind,
        is_final: false,
        status,
        seed: u64::from(number) << 40,
        created_at,
        completed_at,
    }
}
