use crucible::store::Store;

use super::support::t;

fn a_meta_value_is_upserted_and_read_back(store: &Store) {
    assert_eq!(store.get_meta("sim.clock").unwrap(), None);
    store.set_meta("sim.clock", "2026-11-25T12:00:00Z", t(0)).unwrap();
    store.set_meta("sim.seed", "42", t(0)).unwrap();
    assert_eq!(store.get_meta("sim.clock").unwrap().as_deref(), Some("2026-11-25T12:00:00Z"));

    store.set_meta("sim.clock", "2026-11-26T08:30:00Z", t(5)).unwrap();
    assert_eq!(store.get_meta("sim.clock").unwrap().as_deref(), Some("2026-11-26T08:30:00Z"));
    assert_eq!(store.get_meta("sim.seed").unwrap().as_deref(), Some("42"));
    store.set_meta("sim.seed", "", t(6)).unwrap();
    assert_eq!(store.get_meta("sim.seed").unwrap().as_deref(), Some(""));
}

fn the_instance_id_is_made_once_and_kept(store: &Store) {
    let id = store.instance_id(t(0)).unwrap();
    assert_eq!(id.len(), 16);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    assert_eq!(store.instance_id(t(5)).unwrap(), id, "the same id on every later call");
    assert_eq!(store.get_meta("instance_id").unwrap().as_deref(), Some(id.as_str()));
}

on_both_backends!(a_meta_value_is_upserted_and_read_back, the_instance_id_is_made_once_and_kept);
