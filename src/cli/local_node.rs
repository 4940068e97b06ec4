//! `validator.executor = "local"`: this host is the validator's one trainer node, `local`. Its GPUs are
//! the ones NVML discovers, else the configured `trainer_node.gpus`; holders recorded before a restart
//! are kept, so restored trainings still own their GPUs. Containers of this validator that no open
//! attempt claims are reaped before anything starts, so nothing keeps running unseen.

use std::rc::Rc;

use crate::config::Settings;
use crate::docker::Engine;
use crate::exec::gpus;
use crate::exec::local::LocalExecutor;
use crate::store::{Db, Gpu, StoreError, TrainerNode};

/// The id of this host as a trainer node.
pub const LOCAL_NODE: &str = "local";

/// Connects to the engine, records the `local` node, reaps unclaimed containers.
pub async fn start(settings: &Settings, db: &Db) -> anyhow::Result<Rc<LocalExecutor>> {
    let engine = Engine::connect().await?;
    let offered = crate::node::inventory::inventory(&settings.trainer_node, gpus::discover());
    if offered.is_empty() {
        anyhow::bail!("no GPUs for the local executor: NVML found none and trainer_node.gpus is empty");
    }
    let now = chrono::Utc::now();
    db.run(move |s| {
        s.transaction(|tx| {
            let stored = match tx.get_node(LOCAL_NODE) {
                Ok(node) => Some(node),
                Err(StoreError::NotFound { .. }) => None,
                Err(e) => return Err(e),
            };
            let held = |index: u32| {
                stored.as_ref().and_then(|n| n.gpus.iter().find(|g| g.index == index)).and_then(|g| g.holder.clone())
            };
            let gpus = offered
                .iter()
                .map(|g| Gpu {
                    index: g.index,
                    class: g.class,
                    model_name: g.class.to_string(),
                    vram_gb: g.vram_gb,
                    holder: held(g.index),
                })
                .collect();
            tx.upsert_node(&TrainerNode {
                id: LOCAL_NODE.into(),
                address: "local Docker engine".into(),
                fenced: false,
                last_seen: Some(now),
                created_at: now,
                gpus,
            })
        })
    })
    .await?;
    let instance = db.run(|s| s.instance_id(chrono::Utc::now())).await?;
    let mut executor =
        LocalExecutor::new(engine, settings.local_executor.clone(), settings.gates.clone()).with_instance(&instance);
    if !settings.content.dir.trim().is_empty() {
        executor = executor.with_content(settings.content.dir.trim().into());
    }
    let open = db.run(|s| s.open_attempts()).await?;
    let keep: Vec<_> = open.into_iter().map(|a| (a.task_id, a.hotkey, a.attempt)).collect();
    executor.reap_at_start(&keep).await;
    Ok(Rc::new(executor))
}
