use crucible::domain::{GpuClass, Hotkey, TaskId, TrainingKey};
use crucible::store::{EntityKind, Gpu, Store, StoreError, TrainerNode};

use super::support::t;

/// The training of miner `n` on `task`.
fn key(task: &str, n: u64) -> TrainingKey {
    TrainingKey::new(TaskId::parse(task).unwrap(), Hotkey::synthetic(n))
}

fn node(id: &str, gpus: u32) -> TrainerNode {
    TrainerNode {
        id: crate::node_id(id),
        address: format!("http://{id}.internal:8080"),
        fenced: false,
        last_seen: Some(t(1)),
        created_at: t(0),
        gpus: (0..gpus)
            .map(|index| Gpu {
                index,
                class: if index % 2 == 0 { GpuClass::H100 } else { GpuClass::A100 },
                model_name: "NVIDIA H200".into(),
                vram_gb: 141,
                holder: (index == 0).then(|| key("task-1", 1)),
            })
            .collect(),
    }
}

fn nodes_and_their_gpus_round_trip(store: &Store) {
    let (a, b) = (node("node-a", 4), node("node-b", 2));
    store.upsert_node(&b).unwrap();
    store.upsert_node(&a).unwrap();
    assert_eq!(store.list_nodes().unwrap(), vec![a.clone(), b.clone()]);
    assert_eq!(store.get_node("node-b").unwrap(), b);

    let shrunk = TrainerNode { address: "http://10.0.0.9:8080".into(), created_at: t(99), ..node("node-a", 1) };
    store.upsert_node(&shrunk).unwrap();
    assert_eq!(store.get_node("node-a").unwrap(), TrainerNode { created_at: t(0), ..shrunk });
    assert!(matches!(store.get_node("node-z"), Err(StoreError::NotFound { .. })));
}

fn fencing_is_logged_once_and_gpu_holders_change(store: &Store) {
    store.upsert_node(&node("node-a", 2)).unwrap();
    store.set_node_fenced("node-a", true, "3 health checks missed", t(5)).unwrap();
    store.set_node_fenced("node-a", true, "still silent", t(6)).unwrap();
    store.set_node_fenced("node-a", false, "answered again", t(9)).unwrap();
    store.touch_node("node-a", t(9)).unwrap();
    store.set_gpu_holder("node-a", 0, None).unwrap();
    store.set_gpu_holder("node-a", 1, Some(&key("task-2", 2))).unwrap();

    let stored = store.get_node("node-a").unwrap();
    assert_eq!((stored.fenced, stored.last_seen), (false, Some(t(9))));
    let holders: Vec<_> = stored.gpus.iter().map(|g| g.holder.clone()).collect();
    assert_eq!(holders, vec![None, Some(key("task-2", 2))]);
    let log = store.transitions(EntityKind::Node, "node-a").unwrap();
    let steps: Vec<_> = log.iter().map(|e| (e.to_status.as_str(), e.cause.as_str())).collect();
    assert_eq!(steps, vec![("fenced", "3 health checks missed"), ("available", "answered again")]);
    assert!(matches!(store.set_gpu_holder("node-a", 7, None), Err(StoreError::NotFound { .. })));
    assert!(matches!(store.set_node_fenced("node-z", true, "x", t(1)), Err(StoreError::NotFound { .. })));
}

fn holders(store: &Store, node: &str) -> Vec<Option<TrainingKey>> {
    store.get_node(node).unwrap().gpus.into_iter().map(|g| g.holder).collect()
}

fn gpu_holders_are_set_and_freed_together_and_each_gpu_is_logged(store: &Store) {
    store.upsert_node(&node("node-a", 4)).unwrap();
    let (first, placed) = (Some(key("task-1", 1)), Some(key("task-7", 7)));
    store.set_gpu_holders("node-a", &[2, 1], placed.as_ref(), "placed task-7/5Sim7", t(10)).unwrap();
    assert_eq!(holders(store, "node-a"), vec![first.clone(), placed.clone(), placed.clone(), None]);
    store.set_gpu_holders("node-a", &[2, 0], None, "task-7/5Sim7 finished", t(20)).unwrap();
    assert_eq!(holders(store, "node-a"), vec![None, placed, None, None]);

    let log = |index: u32| -> Vec<_> {
        let entries = store.transitions(EntityKind::Gpu, &EntityKind::gpu_id("node-a", index)).unwrap();
        entries.into_iter().map(|e| (e.from_status, e.to_status, e.cause, e.at)).collect()
    };
    let entry = |status: &str, cause: &str, at| (None, status.to_owned(), cause.to_owned(), at);
    assert_eq!(log(0), vec![entry("free", "task-7/5Sim7 finished", t(20))]);
    assert_eq!(log(1), vec![entry("reserved", "placed task-7/5Sim7", t(10))]);
    assert_eq!(
        log(2),
        vec![entry("reserved", "placed task-7/5Sim7", t(10)), entry("free", "task-7/5Sim7 finished", t(20))]
    );
    assert_eq!(log(3), vec![]);
}

fn a_missing_gpu_fails_set_gpu_holders_and_changes_nothing(store: &Store) {
    store.upsert_node(&node("node-a", 2)).unwrap();
    store.upsert_node(&node("node-b", 4)).unwrap();
    let before = store.list_nodes().unwrap();

    // GPU 3 exists, but on node-b.
    let missing = store.set_gpu_holders("node-a", &[0, 1, 3], Some(&key("task-9", 9)), "placed", t(1));
    assert!(matches!(missing, Err(StoreError::NotFound { entity: "GPU", ref id }) if id == "node-a#3"), "{missing:?}");
    let no_node = store.set_gpu_holders("node-z", &[0], None, "released", t(1));
    assert!(matches!(no_node, Err(StoreError::NotFound { .. })), "{no_node:?}");
    // Atomic even when the caller's transaction goes on and commits.
    let failed_inside = store
        .transaction(|tx| Ok(tx.set_gpu_holders("node-a", &[1, 5], Some(&key("task-9", 9)), "placed", t(2)).is_err()))
        .unwrap();
    assert!(failed_inside);

    assert_eq!(store.list_nodes().unwrap(), before);
    assert_eq!(store.last_transition_at().unwrap(), None, "nothing was logged");
}

on_both_backends!(
    nodes_and_their_gpus_round_trip,
    fencing_is_logged_once_and_gpu_holders_change,
    gpu_holders_are_set_and_freed_together_and_each_gpu_is_logged,
    a_missing_gpu_fails_set_gpu_holders_and_changes_nothing,
);
