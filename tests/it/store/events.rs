use crucible::store::{EntityKind, Store, Transition};

use super::support::{t, tournament};

fn a_logged_event_appears_in_the_log_and_changes_nothing_else(store: &Store) {
    let tourn = tournament(1, 0);
    store.insert_tournament(&tourn).unwrap();
    let id = tourn.id.as_str();
    store.log_event(EntityKind::Registration, id, "retry_scheduled", "5 of 8 miners admitted", t(30)).unwrap();
    store.log_event(EntityKind::Gpu, "node-a/0", "reserved", "task-1/5Sim", t(31)).unwrap();

    let log = store.transitions(EntityKind::Registration, id).unwrap();
    let Transition { entity_kind, entity_id, from_status, to_status, cause, at, .. } = log[0].clone();
    assert_eq!(log.len(), 1);
    assert_eq!((entity_kind, entity_id.as_str(), from_status), (EntityKind::Registration, id, None));
    assert_eq!((to_status.as_str(), cause.as_str(), at), ("retry_scheduled", "5 of 8 miners admitted", t(30)));
    let gpu = store.transitions(EntityKind::Gpu, "node-a/0").unwrap();
    assert_eq!(
        gpu.iter().map(|e| (e.entity_kind, e.to_status.as_str())).collect::<Vec<_>>(),
        vec![(EntityKind::Gpu, "reserved")]
    );

    assert_eq!(store.get_tournament(&tourn.id).unwrap(), tourn);
    assert_eq!(store.transitions(EntityKind::Tournament, id).unwrap().len(), 1);
}

fn the_last_transition_time_is_the_latest_of_the_whole_log(store: &Store) {
    assert_eq!(store.last_transition_at().unwrap(), None);
    store.insert_tournament(&tournament(1, 0)).unwrap();
    assert_eq!(store.last_transition_at().unwrap(), Some(t(0)));
    store.log_event(EntityKind::Registration, "r", "attempted", "scheduled", t(50)).unwrap();
    // Appended last but earlier: the latest time wins, not the latest entry.
    store.log_event(EntityKind::Gpu, "node-a/1", "free", "released", t(20)).unwrap();
    assert_eq!(store.last_transition_at().unwrap(), Some(t(50)));
}

#[test]
fn entity_kinds_print_and_parse_as_their_log_text() {
    for kind in EntityKind::ALL {
        assert_eq!(kind.as_str().parse::<EntityKind>(), Ok(kind));
    }
    assert_eq!((EntityKind::Gpu.as_str(), EntityKind::Registration.as_str()), ("gpu", "registration"));
    assert_eq!(EntityKind::gpu_id("node-a", 3), "node-a/3");
}

on_both_backends!(
    a_logged_event_appears_in_the_log_and_changes_nothing_else,
    the_last_transition_time_is_the_latest_of_the_whole_log,
);
