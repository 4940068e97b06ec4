//! Where trainings run, built from the settings: an executor the caller made, this host's Docker
//! engine, or remote trainer nodes.
//!
//! `Local { as_node: true }` makes this host the validator's one trainer node, `local`. Its GPUs are the
//! ones NVML discovers, else the configured `trainer_node.gpus`; holders recorded before a restart are
//! kept, so restored trainings still own their GPUs. Containers of this validator that no open attempt
//! claims are reaped before anything starts, so nothing keeps running unseen.
//!
//! `Remote` drives the configured nodes and those an operator added through the control API (the
//! configuration wins where both name one), reads their GPUs at start, and scores runs of nodes that
//! upload their model instead of scoring it with the evaluator image on this host's engine.

use std::rc::Rc;

use super::{AppError, Trainings};
use crate::actors::health;
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::docker::Engine;
use crate::domain::NodeId;
use crate::exec::Executor;
use crate::exec::gpus;
use crate::exec::local::LocalExecutor;
use crate::exec::remote::RemoteExecutor;
use crate::exec::remote::evaluation::RemoteEvaluation;
use crate::exec::remote::settings::RemoteNodeSettings;
use crate::http::Secret;
use crate::store::{Db, Gpu, StoreError, TrainerNode};

/// What [`build`] made.
pub(super) struct Built {
    pub executor: Rc<dyn Executor>,
    /// Its name, as the fleet view shows it.
    pub name: &'static str,
    /// The remote executor, when trainings run on remote nodes.
    pub remote: Option<Rc<RemoteExecutor>>,
    /// Whether this host is the one node [`LOCAL_NODE`].
    pub local_node: bool,
}

pub(super) async fn build(
    settings: &Settings,
    trainings: Trainings,
    db: &Db,
    clock: &SharedClock,
) -> Result<Built, AppError> {
    let failed = |what: &str, e: &dyn std::fmt::Display| AppError::Backend(format!("{what}: {e}"));
    Ok(match trainings {
        Trainings::Given(executor) => Built { name: executor.name(), executor, remote: None, local_node: false },
        Trainings::Local { as_node } => {
            let engine = Engine::connect().await.map_err(|e| failed("the local executor", &e))?;
            let executor = if as_node {
                local_node(settings, engine, db).await.map_err(|e| failed("the local executor", &e))?
            } else {
                with_content(
                    LocalExecutor::new(engine, settings.local_executor.clone(), settings.gates.clone()),
                    settings,
                )
            };
            Built { executor: Rc::new(executor), name: "local", remote: None, local_node: as_node }
        }
        Trainings::Remote => {
            let remote = remote(settings, db).await?;
            let answered = health::register_nodes(&remote, db, clock).await?;
            tracing::info!(nodes = ?answered, "remote trainer nodes (id, answered)");
            Built { executor: remote.clone(), name: "remote", remote: Some(remote), local_node: false }
        }
    })
}

fn with_content(executor: LocalExecutor, settings: &Settings) -> LocalExecutor {
    match settings.content.dir.trim() {
        "" => executor,
        dir => executor.with_content(dir.into()),
    }
}

/// The configured nodes and those an operator added, with the evaluation of uploaded models when this
/// host can run it.
async fn remote(settings: &Settings, db: &Db) -> Result<Rc<RemoteExecutor>, AppError> {
    let validator = &settings.validator;
    let remote = RemoteExecutor::new(&validator.nodes, &validator.polling)
        .map_err(|e| AppError::Backend(format!("validator.nodes: {e}")))?;
    let remote = Rc::new(match remote_evaluation(settings).await {
        Ok(evaluation) => remote.with_evaluation(evaluation),
        Err(e) => {
            tracing::warn!(error = %e, "no evaluation of uploaded models: runs of nodes that upload instead of scoring cannot be scored");
            remote
        }
    });
    for added in db.run(|s| s.added_nodes()).await? {
        let node = RemoteNodeSettings { id: added.id, url: added.url, token: Secret::new(added.token) };
        if remote.add_node(&node) && added.draining {
            remote.set_draining(node.id.as_str());
        } else if remote.url_of(node.id.as_str()).as_deref() != Some(node.url.as_str()) {
            tracing::warn!(node = %node.id, url = %node.url, "an added trainer node is also configured: the configuration wins");
        }
    }
    Ok(remote)
}

/// How the validator scores runs of trainer nodes that upload their model instead of scoring it: the
/// model fetched from `[hub]`, evaluated with `local_executor.evaluator_image` on this host's engine,
/// without GPUs.
pub async fn remote_evaluation(settings: &Settings) -> anyhow::Result<RemoteEvaluation> {
    let engine = Engine::connect().await?;
    let image = &settings.local_executor.evaluator();
    if !engine.has_image(image).await {
        anyhow::bail!(
            "the evaluator image {image} (local_executor.evaluator_image) is not on this host's Docker engine"
        );
    }
    let local_settings = crate::exec::local::LocalSettings {
        gpus: crate::exec::local::GpuAccess::None,
        ..settings.local_executor.clone()
    };
    let local = with_content(LocalExecutor::new(engine, local_settings, settings.gates.clone()), settings);
    let hub = crate::exec::hub::Hub::new(settings.hub.clone())?;
    Ok(RemoteEvaluation { local, hub })
}

/// The id of this host as a trainer node.
pub const LOCAL_NODE: &str = "local";

/// Records the `local` node and reaps the containers no open attempt claims.
async fn local_node(settings: &Settings, engine: Engine, db: &Db) -> anyhow::Result<LocalExecutor> {
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
                id: NodeId::local(),
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
    let executor = with_content(
        LocalExecutor::new(engine, settings.local_executor.clone(), settings.gates.clone()).with_instance(&instance),
        settings,
    );
    let open = db.run(|s| s.open_attempts()).await?;
    let keep: Vec<_> = open.into_iter().map(|a| (a.task_id, a.hotkey, a.attempt)).collect();
    executor.reap_at_start(&keep).await;
    Ok(executor)
}
