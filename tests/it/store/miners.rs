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

on_both_backends!(miners_round_trip_update_and_leave);
