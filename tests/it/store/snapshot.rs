use std::collections::BTreeSet;

use crucible::domain::{TaskStatus, TournamentId, TournamentStatus};
use crucible::store::{Store, StoreError};

use super::history::played;

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

on_both_backends!(
    a_snapshot_reads_back_exactly_what_was_written,
    a_snapshot_of_an_unknown_tournament_is_not_found,
    a_snapshot_can_be_read_inside_a_write_transaction,
);
