use crucible::domain::{AdmissionOutcome, TournamentStatus, TournamentType};
use crucible::store::{EntityKind, Participant, StatusChange, Store, StoreError};

use super::support::{coldkey, hotkey, t, tournament};

fn a_tournament_round_trips(store: &Store) {
    let mut written = tournament(1, 0);
    written.winning_performance_difference = Some(0.125);
    written.winner_hotkey = Some(hotkey(9));
    store.insert_tournament(&written).unwrap();
    assert_eq!(store.get_tournament(&written.id).unwrap(), written);
    assert_eq!(store.list_tournaments(None).unwrap(), vec![written.clone()]);
    assert_eq!(store.list_tournaments(Some("image")).unwrap(), vec![]);
    let missing = tournament(2, 0).id;
    assert!(matches!(store.get_tournament(&missing), Err(StoreError::NotFound { entity: "tournament", .. })));
}

fn participants_round_trip_and_upsert_keeps_the_first_record_time(store: &Store) {
    let tourn = tournament(1, 0);
    store.insert_tournament(&tourn).unwrap();
    let house = Participant {
        tournament_id: tourn.id.clone(),
        hotkey: hotkey(0),
        coldkey: None,
        repo_url: "https://github.com/champ/repo".into(),
        commit_hash: "a".repeat(40),
        is_house: true,
        admission: AdmissionOutcome::Admitted,
        admission_reason: "house".into(),
        eliminated_in_round: None,
        fee_rao: None,
        created_at: t(0),
    };
    let mut miner = Participant {
        hotkey: hotkey(1),
        coldkey: Some(coldkey(1)),
        is_house: false,
        admission: AdmissionOutcome::Timeout,
        admission_reason: "no answer within 10 s".into(),
        created_at: t(1),
        ..house.clone()
    };
    store.upsert_participant(&house).unwrap();
    store.upsert_participant(&miner).unwrap();
    assert_eq!(store.list_participants(&tourn.id).unwrap(), vec![house.clone(), miner.clone()]);

    miner.admission = AdmissionOutcome::Admitted;
    miner.admission_reason = "ok".into();
    miner.fee_rao = Some(200_000_000);
    store.upsert_participant(&Participant { created_at: t(30), ..miner.clone() }).unwrap();
    assert_eq!(store.get_participant(&tourn.id, &hotkey(1)).unwrap(), miner);

    store.set_eliminated_in_round(&tourn.id, &[hotkey(1)], 2).unwrap();
    assert_eq!(store.get_participant(&tourn.id, &hotkey(1)).unwrap().eliminated_in_round, Some(2));
    // Losing again later (a house back as a filler) keeps the first elimination.
    store.set_eliminated_in_round(&tourn.id, &[hotkey(1)], 4).unwrap();
    assert_eq!(store.get_participant(&tourn.id, &hotkey(1)).unwrap().eliminated_in_round, Some(2));
    let unknown = store.set_eliminated_in_round(&tourn.id, &[hotkey(0), hotkey(5)], 3);
    assert!(matches!(unknown, Err(StoreError::NotFound { .. })), "{unknown:?}");
    assert_eq!(store.get_participant(&tourn.id, &hotkey(0)).unwrap().eliminated_in_round, None, "rolled back");
}

fn status_changes_are_logged_with_their_cause(store: &Store) {
    use TournamentStatus::*;
    let tourn = tournament(1, 0);
    store.insert_tournament(&tourn).unwrap();
    store.set_tournament_status(&tourn.id, &StatusChange::new(Pending, Active, "8 miners admitted", t(5))).unwrap();
    store.set_tournament_result(&tourn.id, &hotkey(3), 0.07).unwrap();
    store.set_tournament_status(&tourn.id, &StatusChange::new(Active, Completed, "boss round decided", t(60))).unwrap();

    let stored = store.get_tournament(&tourn.id).unwrap();
    assert_eq!((stored.status, stored.started_at, stored.completed_at), (Completed, Some(t(5)), Some(t(60))));
    assert_eq!((stored.winner_hotkey, stored.winning_performance_difference), (Some(hotkey(3)), Some(0.07)));
    let log: Vec<_> = store
        .transitions(EntityKind::Tournament, tourn.id.as_str())
        .unwrap()
        .into_iter()
        .map(|e| (e.from_status, e.to_status, e.cause, e.at))
        .collect();
    assert_eq!(
        log,
        vec![
            (None, "pending".into(), "created".into(), t(0)),
            (Some("pending".into()), "active".into(), "8 miners admitted".into(), t(5)),
            (Some("active".into()), "completed".into(), "boss round decided".into(), t(60)),
        ]
    );
}

fn a_stale_status_change_is_a_conflict_and_logs_nothing(store: &Store) {
    use TournamentStatus::*;
    let tourn = tournament(1, 0);
    store.insert_tournament(&tourn).unwrap();
    store.set_tournament_status(&tourn.id, &StatusChange::new(Pending, Active, "started", t(1))).unwrap();
    let stale = store.set_tournament_status(&tourn.id, &StatusChange::new(Pending, Cancelled, "late", t(2)));
    assert!(matches!(stale, Err(StoreError::Conflict(ref m)) if m.contains("is active, not pending")), "{stale:?}");
    assert_eq!(store.transitions(EntityKind::Tournament, tourn.id.as_str()).unwrap().len(), 2);
    let missing = tournament(2, 0).id;
    let unknown = store.set_tournament_status(&missing, &StatusChange::new(Pending, Active, "x", t(1)));
    assert!(matches!(unknown, Err(StoreError::NotFound { .. })), "{unknown:?}");
}

fn a_cancellation_keeps_its_reason(store: &Store) {
    use TournamentStatus::*;
    let tourn = tournament(1, 0);
    store.insert_tournament(&tourn).unwrap();
    let reason = "registration deadline passed with 5 of 8 miners";
    store.set_tournament_status(&tourn.id, &StatusChange::new(Pending, Cancelled, reason, t(1440))).unwrap();
    let stored = store.get_tournament(&tourn.id).unwrap();
    assert_eq!((stored.cancel_reason.as_deref(), stored.completed_at), (Some(reason), Some(t(1440))));
    assert_eq!(store.unfinished_tournaments().unwrap(), vec![]);
}

fn scheduling_finds_unfinished_latest_and_previous_tournaments(store: &Store) {
    let complete = |n: u64, at: i64, kind: TournamentType| {
        let mut tourn = tournament(n, at - 100);
        tourn.tournament_type = kind;
        tourn.track = kind.as_str().to_owned();
        tourn.status = TournamentStatus::Completed;
        tourn.completed_at = Some(t(at));
        store.insert_tournament(&tourn).unwrap();
        tourn
    };
    let first = complete(1, 1000, TournamentType::Text);
    let second = complete(2, 5000, TournamentType::Text);
    let image = complete(3, 9000, TournamentType::Image);
    let running = tournament(4, 6000);
    store.insert_tournament(&running).unwrap();

    assert_eq!(store.latest_completed_tournament("text").unwrap(), Some(second.clone()));
    assert_eq!(store.previous_completed_tournament(&second.id).unwrap(), Some(first.clone()));
    assert_eq!(store.previous_completed_tournament(&first.id).unwrap(), None);
    assert_eq!(store.latest_completed_tournament("image").unwrap(), Some(image.clone()));
    assert_eq!(store.previous_completed_tournament(&image.id).unwrap(), None);
    assert_eq!(store.unfinished_tournaments().unwrap(), vec![running.clone()]);
    assert!(matches!(store.previous_completed_tournament(&running.id), Err(StoreError::Conflict(_))));
    assert_eq!(store.list_tournaments(Some("text")).unwrap(), vec![first, second, running]);
}

fn a_group_commit_is_all_or_nothing(store: &Store) {
    use TournamentStatus::*;
    let (a, b) = (tournament(1, 0), tournament(2, 0));
    let failed = store.transaction(|tx| {
        tx.insert_tournament(&a)?;
        tx.insert_tournament(&b)?;
        tx.set_tournament_status(&a.id, &StatusChange::new(Pending, Active, "go", t(1)))?;
        tx.set_tournament_status(&b.id, &StatusChange::new(Active, Completed, "stale", t(1)))
    });
    assert!(matches!(failed, Err(StoreError::Conflict(_))), "{failed:?}");
    assert_eq!(store.list_tournaments(None).unwrap(), vec![]);
    assert_eq!(store.transitions(EntityKind::Tournament, a.id.as_str()).unwrap(), vec![]);

    store
        .transaction(|tx| {
            tx.insert_tournament(&a)?;
            tx.insert_tournament(&b)?;
            tx.set_tournament_status(&a.id, &StatusChange::new(Pending, Active, "go", t(1)))
        })
        .unwrap();
    assert_eq!(store.get_tournament(&a.id).unwrap().status, Active);
    assert_eq!(store.get_tournament(&b.id).unwrap().status, Pending);
}

on_both_backends!(
    a_tournament_round_trips,
    participants_round_trip_and_upsert_keeps_the_first_record_time,
    status_changes_are_logged_with_their_cause,
    a_stale_status_change_is_a_conflict_and_logs_nothing,
    a_cancellation_keeps_its_reason,
    scheduling_finds_unfinished_latest_and_previous_tournaments,
    a_group_commit_is_all_or_nothing,
);
