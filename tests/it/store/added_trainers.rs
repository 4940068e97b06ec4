use crucible::domain::GpuClass;
use crucible::store::{AddedTrainer, Gpu, Store, StoreError, TrainerNode};

use super::support::t;

fn trainer(id: &str, port: u16) -> AddedTrainer {
    AddedTrainer {
        id: id.into(),
        url: format!("http://10.0.0.5:{port}"),
        token: "node-token".into(),
        draining: false,
        created_at: t(port.into()),
    }
}

fn node(id: &str, holder: Option<&str>) -> TrainerNode {
    let gpu = Gpu {
        index: 0,
        class: GpuClass::H100,
        model_name: "H100".into(),
        vram_gb: 80,
        holder: holder.map(str::to_owned),
    };
    TrainerNode {
        id: id.into(),
        address: "http://10.0.0.5".into(),
        fenced: false,
        last_seen: None,
        created_at: t(0),
        gpus: vec![gpu],
    }
}

fn added_nodes_are_kept_with_their_token_oldest_first(store: &Store) {
    store.add_trainer(&trainer("b", 9)).unwrap();
    store.add_trainer(&trainer("a", 10)).unwrap();
    let ids: Vec<_> = store.added_trainers().unwrap().into_iter().map(|a| (a.id, a.token)).collect();
    assert_eq!(ids, [("b".to_owned(), "node-token".to_owned()), ("a".to_owned(), "node-token".to_owned())]);
    let same_url = AddedTrainer { id: "c".into(), ..trainer("c", 9) };
    assert!(matches!(store.add_trainer(&same_url), Err(StoreError::Conflict(_))), "one record per URL");
    assert!(matches!(store.add_trainer(&trainer("a", 11)), Err(StoreError::Conflict(_))), "one record per id");
}

fn a_node_is_removed_only_once_its_gpus_are_free(store: &Store) {
    store.add_trainer(&trainer("n", 1)).unwrap();
    store.upsert_node(&node("n", Some("task/hotkey"))).unwrap();
    assert!(matches!(store.remove_added_trainer("n"), Err(StoreError::Conflict(m)) if m.contains("held")));
    assert_eq!(store.added_trainers().unwrap().len(), 1, "nothing removed");
    assert!(store.set_trainer_draining("n").unwrap());
    assert!(store.added_trainers().unwrap()[0].draining, "being removed");
    assert!(!store.set_trainer_draining("other").unwrap());
    store.upsert_node(&node("n", None)).unwrap();
    assert!(store.remove_added_trainer("n").unwrap());
    assert!(store.added_trainers().unwrap().is_empty());
    assert!(matches!(store.get_node("n"), Err(StoreError::NotFound { .. })), "its node and GPUs went with it");
    assert!(!store.remove_added_trainer("n").unwrap(), "a second removal finds nothing");
}

on_both_backends!(added_nodes_are_kept_with_their_token_oldest_first, a_node_is_removed_only_once_its_gpus_are_free,);
