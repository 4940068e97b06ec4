//! Group commit through `Db::write` on both backends: every write answers with its own result, a
//! refused write leaves nothing, and what was acknowledged is already visible to every connection.

use std::sync::Arc;

use crucible::store::{Db, EntityKind, Store, StoreError};

use super::support::{TestDatabase, t};

fn concurrent_writes_answer_each_its_own_result_once_stored(store: Arc<Store>) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let db = Db::new(store.clone());
        let mut writes = tokio::task::JoinSet::new();
        for n in 0..64u32 {
            let (db, store) = (db.clone(), store.clone());
            writes.spawn(async move {
                let id = format!("write-{n}");
                let entity = id.clone();
                let answer = db
                    .write(move |tx| {
                        tx.log_event(EntityKind::Registration, &entity, "written", "group commit", t(0))?;
                        if n % 10 == 7 { Err(StoreError::Conflict(format!("write {n} refuses"))) } else { Ok(n) }
                    })
                    .await;
                // Read on another connection as soon as the answer came.
                let stored = store.transitions(EntityKind::Registration, &id).unwrap().len();
                (n, answer, stored)
            });
        }
        let mut refused = 0;
        while let Some(joined) = writes.join_next().await {
            let (n, answer, stored) = joined.unwrap();
            match answer {
                Ok(got) => assert_eq!((got, stored), (n, 1), "write {n} acknowledged and visible"),
                Err(StoreError::Conflict(m)) => {
                    assert_eq!((n % 10, stored), (7, 0), "{m}: nothing of a refused write is kept");
                    refused += 1;
                }
                Err(e) => panic!("write {n}: {e}"),
            }
        }
        assert_eq!(refused, 6);
        assert_eq!(store.count_transitions().unwrap(), 58);
        assert!((1..=64).contains(&db.batches()), "{}", db.batches());
    });
}

#[test]
fn concurrent_writes_answer_each_its_own_result_once_stored_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("group.db").display())).unwrap();
    store.migrate().unwrap();
    concurrent_writes_answer_each_its_own_result_once_stored(Arc::new(store));
}

#[test]
fn concurrent_writes_answer_each_its_own_result_once_stored_on_postgres() {
    let Some(db) = TestDatabase::create() else { return };
    let store = Store::open(&db.url).unwrap();
    store.migrate().unwrap();
    concurrent_writes_answer_each_its_own_result_once_stored(Arc::new(store));
}
