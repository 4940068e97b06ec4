use crucible::domain::{GpuClass, Hotkey, TaskId, TrainingKey};
use crucible::store::{AddedNode, Gpu, Store, StoreError, TrainerNode};

use super::support::t;

fn trainer(id: &str, port: u16) -> AddedNode {
    AddedNode {
        id: crate::node_id(id),
        url: format!("http://10.0.0.5:{port}"),
        token: "node-token".into(),
        draining: false,
        created_at: t(port.into()),
    }
}

fn node(id: &str, holder: Option<TrainingKey>) -> TrainerNode {
    let gpu = Gpu { index: 0, class: GpuClass::H100, model_name: "H100".into(), vram_gb: 80, holder };
    TrainerNode {
        id: crate::node_id(id),
        address: "http://10.0.0.5".into(),
        fenced: false,
        last_seen: None,
        created_at: t(0),
        gpus: vec![gpu],
    }
}

fn added_nodes_are_kept_with_their_token_oldest_first(store: &Store) {
    store.record_added_node(&trainer("b", 9)).unwrap();
    store.record_added_node(&trainer("a", 10)).unwrap();
    let ids: Vec<_> = store.added_nodes().unwrap().into_iter().map(|a| (a.id.to_string(), a.token)).collect();
    assert_eq!(ids, [("b".to_owned(), "node-token".to_owned()), ("a".to_owned(), "node-token".to_owned())]);
    let same_url = AddedNode { id: crate::node_id("c"), ..trainer("c", 9) };
    assert!(matches!(store.record_added_node(&same_url), Err(StoreError::Conflict(_))), "one record per URL");
    assert!(matches!(store.record_added_node(&trainer("a", 11)), Err(StoreError::Conflict(_))), "one record per id");
}

fn a_node_is_removed_only_once_its_gpus_are_free(store: &Store) {
    store.record_added_node(&trainer("n", 1)).unwrap();
    let training = TrainingKey::new(TaskId::parse("task").unwrap(), Hotkey::synthetic(1));
    store.upsert_node(&node("n", Some(training))).unwrap();
    assert!(matches!(store.remove_added_node("n"), Err(StoreError::Conflict(m)) if m.contains("held")));
    assert_eq!(store.added_nodes().unwrap().len(), 1, "nothing removed");
    assert!(store.set_added_node_draining("n").unwrap());
    assert!(store.added_nodes().unwrap()[0].draining, "being removed");
    assert!(!store.set_added_node_draining("other").unwrap());
    store.upsert_node(&node("n", None)).unwrap();
    assert!(store.remove_added_node("n").unwrap());
    assert!(store.added_nodes().unwrap().is_empty());
    assert!(matches!(store.get_node("n"), Err(StoreError::NotFound { .. })), "its node and GPUs went with it");
    assert!(!store.remove_added_node("n").unwrap(), "a second removal finds nothing");
}

on_both_backends!(added_nodes_are_kept_with_their_token_oldest_first, a_node_is_removed_only_once_its_gpus_are_free,);
