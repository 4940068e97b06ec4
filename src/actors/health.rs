//! The validator's view of its remote trainer nodes: their GPUs, read from `get_gpu_availability` when
//! the validator starts, and the [`NodeHealth`] actor, which un-fences a fenced node as soon as it
//! answers again (and fences one that stopped answering while idle, so no start is wasted on it).
//!
//! A node that does not answer at start keeps the GPUs stored from an earlier start, fenced; a node
//! never seen has no GPUs until a validator restart finds it answering. An operator adds and removes
//! nodes at run time through the control API (`actors::fleet`).

use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;

use super::gpu_broker::{FenceNode, GpuBroker, ListNodes};
use crate::clock::SharedClock;
use crate::domain::{GpuClass, NodeId, TrainingKey};
use crate::exec::remote::RemoteExecutor;
use crate::exec::remote::wire::GpuInfo;
use crate::store::{Db, Gpu, StoreError, TrainerNode};

/// Reads every node's GPUs and stores the nodes (GPU holders of running trainings kept); returns
/// their ids with whether each answered.
pub async fn register_nodes(
    remote: &RemoteExecutor,
    db: &Db,
    clock: &SharedClock,
) -> Result<Vec<(String, bool)>, StoreError> {
    let mut seen = Vec::new();
    for id in remote.node_ids() {
        let answer = remote.availability(id.as_str()).await;
        let answered = answer.is_ok();
        register_node(remote, db, clock, &id, answer).await?;
        seen.push((id.to_string(), answered));
    }
    Ok(seen)
}

/// Stores one node as its `get_gpu_availability` answer shows it: its GPUs (holders kept) when it
/// answered; fenced, with the GPUs stored earlier, when it did not. Returns the node as stored.
pub async fn register_node(
    remote: &RemoteExecutor,
    db: &Db,
    clock: &SharedClock,
    id: &NodeId,
    answer: Result<Vec<GpuInfo>, String>,
) -> Result<TrainerNode, StoreError> {
    let url = remote.url_of(id.as_str()).unwrap_or_default();
    let draining = remote.is_draining(id.as_str());
    let now = clock.now();
    match &answer {
        Ok(gpus) => tracing::info!(node = %id, gpus = gpus.len(), "trainer node answered"),
        Err(e) => tracing::warn!(node = %id, error = %e, "trainer node does not answer: fenced"),
    }
    let node_id = id.clone();
    db.run(move |s| {
        s.transaction(|tx| {
            let stored = match tx.get_node(node_id.as_str()) {
                Ok(node) => Some(node),
                Err(StoreError::NotFound { .. }) => None,
                Err(e) => return Err(e),
            };
            let held = |index: u32| {
                stored.as_ref().and_then(|n| n.gpus.iter().find(|g| g.index == index)).and_then(|g| g.holder.clone())
            };
            let gpus = match &answer {
                Ok(listed) => listed.iter().filter_map(|g| slot(&node_id, g, held(g.gpu_id))).collect(),
                Err(_) => stored.as_ref().map(|n| n.gpus.clone()).unwrap_or_default(),
            };
            let node = TrainerNode {
                id: node_id.clone(),
                address: url.clone(),
                fenced: answer.is_err() || draining,
                last_seen: if answer.is_ok() { Some(now) } else { stored.as_ref().and_then(|n| n.last_seen) },
                created_at: now,
                gpus,
            };
            tx.upsert_node(&node)?;
            Ok(node)
        })
    })
    .await
}

/// A listed GPU as a stored slot; a GPU of a type that is no class is left out.
fn slot(node: &NodeId, gpu: &GpuInfo, holder: Option<TrainingKey>) -> Option<Gpu> {
    match gpu.gpu_type.parse::<GpuClass>() {
        Ok(class) => {
            Some(Gpu { index: gpu.gpu_id, class, model_name: gpu.gpu_type.clone(), vram_gb: gpu.vram_gb, holder })
        }
        Err(e) => {
            tracing::warn!(node = %node, gpu = gpu.gpu_id, error = %e, "GPU of no known class: not used");
            None
        }
    }
}

/// The health loop: every `interval` after the last round ended, asks each node for its GPUs and
/// sets its fence to whether it answered, in the broker and (logged) in the store. Runs until the
/// actor system stops.
pub struct NodeHealth {
    pub remote: Rc<RemoteExecutor>,
    pub broker: Addr<GpuBroker>,
    pub db: Db,
    pub clock: SharedClock,
    pub interval: Duration,
}

impl Actor for NodeHealth {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.next_round(ctx);
    }
}

impl NodeHealth {
    fn next_round(&self, ctx: &mut Context<Self>) {
        ctx.run_later(self.interval, |act, ctx| {
            let (remote, broker, db, clock) =
                (act.remote.clone(), act.broker.clone(), act.db.clone(), act.clock.clone());
            let round = async move { check_once(&remote, &broker, &db, &clock).await };
            ctx.spawn(round.into_actor(act).map(|(), act, ctx| act.next_round(ctx)));
        });
    }
}

/// One round of the health loop.
pub async fn check_once(remote: &RemoteExecutor, broker: &Addr<GpuBroker>, db: &Db, clock: &SharedClock) {
    let Ok(views) = broker.send(ListNodes).timeout(super::ASK_TIMEOUT).await else { return };
    for id in remote.node_ids() {
        let Some(view) = views.iter().find(|v| v.id == id) else { continue };
        if remote.is_draining(id.as_str()) {
            continue;
        }
        let answer = remote.availability(id.as_str()).await;
        let fence = answer.is_err();
        if fence == view.fenced {
            continue;
        }
        let cause = match &answer {
            Ok(_) => "get_gpu_availability answers again".to_owned(),
            Err(e) => format!("get_gpu_availability does not answer: {e}"),
        };
        tracing::info!(node = %id, fenced = fence, cause = %cause, "node fence changed");
        broker.do_send(FenceNode { node_id: id.clone(), fenced: fence });
        let at = clock.now();
        if let Err(e) = db.run(move |s| s.set_node_fenced(id.as_str(), fence, &cause, at)).await {
            tracing::error!(error = %e, "a node's fence could not be stored");
        }
    }
}
