use std::collections::BTreeSet;

use crucible::domain::{TaskStatus, TournamentId, TournamentStatus};
use crucible::store::{StatusChange, Store, StoreError};

use super::history::played;
use super::support::{hotkey, t};

fn a_snapshot_reads_back_exactly_what_was_written(store: &Store) {
    let written = played(store, 1, TournamentStatus::Active);
    // Another tournament's rows stay out of the snapshot.
    played(store, 2, TournamentStatus::Completed);

    let snapshot = store.tournament_snapshot(&written.tournament.id).unwrap();
    assert_eq!(snapshot, written);

    // What the fixture promises, so the equality above covers it.
    let numbers: Vec<u32> = snapshot.rounds.iter().map(|r| r.round.round.number).collect();
    assert_eq!(numbers, vec![1, 2]);
    let groups: Vec<u32> = snapshot.rounds[0].round.groups.iter().map(|g| g.number).collect();
    assert_eq!(groups, vec![1, 2]);
    let task_statuses: Vec<TaskStatus> = snapshot.rounds[0].tasks.iter().map(|t| t.task.status).collect();
    assert_eq!(task_statuses, vec![TaskStatus::Replaced, TaskStatus::Active, TaskStatus::Active]);
    let training_statuses: BTreeSet<&str> =
        snapshot.rounds.iter().flat_map(|r| &r.tasks).flat_map(|t| &t.trainings).map(|t| t.status.as_str()).collect();
    assert_eq!(training_statuses, BTreeSet::from(["failure", "pending", "success", "training"]));
}

fn a_snapshot_of_an_unknown_tournament_is_not_found(store: &Store) {
    let unknown = TournamentId::new(0xdead, 2026, 11, 25);
    assert!(matches!(store.tournament_snapshot(&unknown), Err(StoreError::NotFound { .. })));
}

fn a_snapshot_can_be_read_inside_a_write_transaction(store: &Store) {
    let written = played(store, 1, TournamentStatus::Completed);
    let read = store.transaction(|tx| tx.tournament_snapshot(&written.tournament.id)).unwrap();
    assert_eq!(read, written);
}

/// A refresh reads what changed since `previous` and reuses its completed rounds: it equals a fresh
/// read, and a completed round comes from `previous`, not from the store.
fn a_refreshed_snapshot_equals_a_fresh_read_and_reuses_completed_rounds(store: &Store) {
    let written = played(store, 1, TournamentStatus::Active);
    let id = written.tournament.id.clone();
    let previous = store.tournament_snapshot(&id).unwrap();
    store.set_eliminated_in_round(&id, &[hotkey(1)], 2).unwrap();
    let change = StatusChange::new(TournamentStatus::Active, TournamentStatus::Completed, "decided", t(1300));
    store.set_tournament_status(&id, &change).unwrap();

    let refreshed = store.refresh_snapshot(&previous).unwrap();
    assert_eq!(refreshed, store.tournament_snapshot(&id).unwrap());
    assert_eq!(refreshed.tournament.status, TournamentStatus::Completed);
    assert_ne!(refreshed, previous);

    // Round 1 is completed in `previous`, round 2 is not: only round 2 is read again.
    let mut marked = previous.clone();
    marked.rounds[0].tasks[1].task.model = "kept from the previous snapshot".into();
    marked.rounds[1].tasks[0].task.model = "read again".into();
    let refreshed = store.refresh_snapshot(&marked).unwrap();
    assert_eq!(refreshed.rounds[0].tasks[1].task.model, "kept from the previous snapshot");
    assert_eq!(refreshed.rounds[1].tasks[0], previous.rounds[1].tasks[0]);
}

on_both_backends!(
    a_refreshed_snapshot_equals_a_fresh_read_and_reuses_completed_rounds,
    a_snapshot_reads_back_exactly_what_was_written,
    a_snapshot_of_an_unknown_tournament_is_not_found,
    a_snapshot_can_be_read_inside_a_write_transaction,
);
