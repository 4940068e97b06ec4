use crucible::store::{Miner, Store, StoreError};

use super::support::{coldkey, hotkey, t};

fn miners_round_trip_update_and_leave(store: &Store) {
    let miner = |n: u64| Miner {
        hotkey: hotkey(n),
        coldkey: coldkey(n),
        address: format!("http://127.0.0.{n}:8091"),
        stake: 1234.5 + n as f64,
        updated_at: t(n as i64),
    };
    let (a, b) = (miner(1), miner(2));
    store.upsert_miner(&b).unwrap();
    store.upsert_miner(&a).unwrap();
    assert_eq!(store.list_miners().unwrap(), vec![a.clone(), b.clone()]);

    let moved = Miner { address: "http://127.0.0.9:9000".into(), stake: 0.5, updated_at: t(60), ..a.clone() };
    store.upsert_miner(&moved).unwrap();
    assert_eq!(store.get_miner(&a.hotkey).unwrap(), moved);

    assert!(store.remove_miner(&a.hotkey).unwrap());
    assert!(!store.remove_miner(&a.hotkey).unwrap());
    assert!(matches!(store.get_miner(&a.hotkey), Err(StoreError::NotFound { entity: "miner", .. })));
    assert_eq!(store.list_miners().unwrap(), vec![b]);
}

fn syncing_makes_the_stored_directory_equal_to_its_source(store: &Store) {
    use crucible::miners::directory::{MinerEntry, SyncSummary, sync};
    let entry = |n: u64, stake: f64| MinerEntry {
        hotkey: hotkey(n),
        coldkey: coldkey(n),
        address: format!("127.0.0.1:{}", 9000 + n),
        stake,
    };
    let first = [entry(1, 1.0), entry(2, 2.0)];
    assert_eq!(sync(store, &first, t(1)).unwrap(), SyncSummary { added: 2, updated: 0, removed: 0 });
    assert_eq!(sync(store, &first, t(2)).unwrap(), SyncSummary::default(), "an unchanged source changes nothing");
    let second = [entry(2, 5.0), entry(3, 3.0)];
    assert_eq!(sync(store, &second, t(3)).unwrap(), SyncSummary { added: 1, updated: 1, removed: 1 });
    let stored: Vec<(String, f64)> = store.list_miners().unwrap().into_iter().map(|m| (m.address, m.stake)).collect();
    assert_eq!(stored, vec![("127.0.0.1:9002".to_owned(), 5.0), ("127.0.0.1:9003".to_owned(), 3.0)]);
}

on_both_backends!(miners_round_trip_update_and_leave, syncing_makes_the_stored_directory_equal_to_its_source);
