use crucible::domain::{RoundKind, RoundStatus};
use crucible::store::{EntityKind, Group, RoundWithBracket, StatusChange, Store, StoreError};

use super::support::{hotkey, knockout_round, t, tournament};

fn a_group_round_and_a_knockout_round_round_trip_in_order(store: &Store) {
    let tourn = tournament(1, 0);
    store.insert_tournament(&tourn).unwrap();
    let knockout = {
        let mut round = knockout_round(&tourn.id);
        round.round.id = tourn.id.round(2);
        round.round.number = 2;
        round.pairs[0].id = round.round.id.pair(1);
        round.pairs.push(crucible::store::Pair { id: round.round.id.pair(2), number: 2, ..round.pairs[0].clone() });
        round.pairs[1].hotkey_a = hotkey(3);
        round.pairs[1].winner = Some(hotkey(3));
        round
    };
    let group_id = tourn.id.round(1);
    let groups = RoundWithBracket {
        round: crucible::store::Round {
            id: group_id.clone(),
            number: 1,
            kind: RoundKind::Group,
            seed: 0,
            ..knockout.round.clone()
        },
        groups: vec![
            Group { id: group_id.group(1), number: 1, members: (1..=20).map(hotkey).collect() },
            Group { id: group_id.group(2), number: 2, members: (21..=40).map(hotkey).collect() },
        ],
        pairs: vec![],
    };
    // Members come back sorted by hotkey; write them that way to compare.
    let mut groups = groups;
    for group in &mut groups.groups {
        group.members.sort();
    }
    store.insert_round(&knockout).unwrap();
    store.insert_round(&groups).unwrap();
    assert_eq!(store.list_rounds(&tourn.id).unwrap(), vec![groups.clone(), knockout.clone()]);
    assert_eq!(store.get_round(&knockout.round.id).unwrap(), knockout);
    assert_eq!(store.get_round(&knockout.round.id).unwrap().round.seed, u64::MAX - 7);
}

fn a_round_is_written_whole_or_not_at_all(store: &Store) {
    let tourn = tournament(1, 0);
    store.insert_tournament(&tourn).unwrap();
    let mut round = knockout_round(&tourn.id);
    round.pairs.push(round.pairs[0].clone()); // the same pair id twice
    assert!(matches!(store.insert_round(&round), Err(StoreError::Conflict(_))));
    assert_eq!(store.list_rounds(&tourn.id).unwrap(), vec![]);
}

fn round_status_changes_are_logged_and_pair_winners_stored(store: &Store) {
    use RoundStatus::*;
    let tourn = tournament(1, 0);
    store.insert_tournament(&tourn).unwrap();
    let round = knockout_round(&tourn.id);
    let id = &round.round.id;
    store.insert_round(&round).unwrap();
    store.set_round_status(id, &StatusChange::new(Pending, Active, "tasks ready", t(20))).unwrap();
    store.set_pair_winner(&round.pairs[0].id, Some(&hotkey(2))).unwrap();
    store.set_round_status(id, &StatusChange::new(Active, Completed, "all pairs decided", t(200))).unwrap();

    let stored = store.get_round(id).unwrap();
    assert_eq!((stored.round.status, stored.round.completed_at), (Completed, Some(t(200))));
    assert_eq!(stored.pairs[0].winner, Some(hotkey(2)));
    let log = store.transitions(EntityKind::Round, id.as_str()).unwrap();
    let steps: Vec<_> = log.iter().map(|e| (e.from_status.as_deref(), e.to_status.as_str())).collect();
    assert_eq!(steps, vec![(None, "pending"), (Some("pending"), "active"), (Some("active"), "completed")]);
    assert!(matches!(store.set_pair_winner("no-such-pair", None), Err(StoreError::NotFound { .. })));
    let stale = store.set_round_status(id, &StatusChange::new(Pending, Active, "again", t(300)));
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
}

on_both_backends!(
    a_group_round_and_a_knockout_round_round_trip_in_order,
    a_round_is_written_whole_or_not_at_all,
    round_status_changes_are_logged_and_pair_winners_stored,
);
