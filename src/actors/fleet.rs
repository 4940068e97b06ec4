//! FleetActor: the trainer nodes an operator adds and removes at run time (the control API's
//! `add_trainer` and `remove_trainer`), for the remote executor. It owns the executor's node list
//! beside the configured `validator.nodes`, stores what was added (restored at the next start), and
//! tells the GPU broker.
//!
//! Messages: `AddRemoteNode`, `RemoveRemoteNode`. With another executor (simulated, local) both are
//! refused: those nodes come from the configuration.

use std::rc::Rc;

use actix::prelude::*;

use super::control::{AddRemoteNode, ControlError, RemoveRemoteNode};
use super::gpu_broker::{AddNode, FenceNode, GpuBroker, ListNodes, RemoveNode};
use super::health::register_node;
use crate::clock::SharedClock;
use crate::domain::NodeId;
use crate::domain::gpu::{GpuSlot, NodeView};
use crate::exec::remote::RemoteExecutor;
use crate::exec::remote::settings::RemoteNodeSettings;
use crate::http::Secret;
use crate::store::{AddedNode, Db, TrainerNode};

pub struct FleetActor {
    /// `None` unless trainings run on remote nodes.
    remote: Option<Rc<RemoteExecutor>>,
    executor: &'static str,
    broker: Addr<GpuBroker>,
    db: Db,
    clock: SharedClock,
}

impl FleetActor {
    pub fn new(
        remote: Option<Rc<RemoteExecutor>>,
        executor: &'static str,
        broker: Addr<GpuBroker>,
        db: Db,
        clock: SharedClock,
    ) -> Self {
        Self { remote, executor, broker, db, clock }
    }

    fn remote(&self) -> Result<Rc<RemoteExecutor>, ControlError> {
        self.remote.clone().ok_or_else(|| {
            ControlError::Conflict(format!(
                "trainer nodes are added to the remote executor; this validator runs trainings with the {} executor",
                self.executor
            ))
        })
    }
}

impl Actor for FleetActor {
    type Context = Context<Self>;
}

/// `http://10.0.0.5:8001/` → `10.0.0.5-8001`.
fn id_from_url(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("node").replace([':', '[', ']'], "");
    match url.port_or_known_default() {
        Some(port) => format!("{host}-{port}"),
        None => host,
    }
}

fn view(node: &TrainerNode) -> NodeView {
    NodeView {
        id: node.id.clone(),
        fenced: node.fenced,
        gpus: node.gpus.iter().map(|g| GpuSlot { index: g.index, class: g.class, holder: g.holder.clone() }).collect(),
    }
}

impl Handler<AddRemoteNode> for FleetActor {
    type Result = AtomicResponse<Self, Result<TrainerNode, ControlError>>;

    /// Checks the node answers with its GPUs before anything is stored; a node that does not is refused.
    fn handle(&mut self, msg: AddRemoteNode, _ctx: &mut Context<Self>) -> Self::Result {
        let (broker, db, clock) = (self.broker.clone(), self.db.clone(), self.clock.clone());
        let remote = self.remote();
        let added = async move {
            let remote = remote?;
            let url = url::Url::parse(msg.url.trim())
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                .ok_or_else(|| ControlError::Invalid(format!("trainer_ip: {:?} is not an http(s) URL", msg.url)))?;
            let base = url.as_str().trim_end_matches('/').to_owned();
            let id = msg.id.clone().unwrap_or_else(|| id_from_url(&url));
            let invalid = || ControlError::Invalid(format!("node_id: {id:?} must be 1 to 64 of A-Z a-z 0-9 - _ ."));
            if id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                return Err(invalid());
            }
            let id = NodeId::parse(&id).map_err(|_| invalid())?;
            let settings =
                RemoteNodeSettings { id: id.clone(), url: base.clone(), token: Secret::new(msg.token.clone()) };
            if !remote.add_node(&settings) {
                return Err(ControlError::Conflict(format!("a trainer node {id} or at {base} is known already")));
            }
            let answer = remote.availability(id.as_str()).await;
            if let Err(e) = &answer {
                remote.remove_node(id.as_str());
                return Err(ControlError::Invalid(format!("trainer_ip: the node at {base} does not answer: {e}")));
            }
            let record = AddedNode {
                id: id.clone(),
                url: base.clone(),
                token: msg.token.clone(),
                draining: false,
                created_at: clock.now(),
            };
            if let Err(e) = db.run(move |s| s.record_added_node(&record)).await {
                remote.remove_node(id.as_str());
                return Err(e.into());
            }
            match register_node(&remote, &db, &clock, &id, answer).await {
                Ok(node) => {
                    broker.do_send(AddNode(view(&node)));
                    tracing::info!(node = %id, url = %base, gpus = node.gpus.len(), "trainer node added");
                    Ok(node)
                }
                Err(e) => {
                    // Nothing half-added: the record goes too, so a restart does not bring it back.
                    remote.remove_node(id.as_str());
                    let key = id.clone();
                    if let Err(undo) = db.run(move |s| s.remove_added_node(key.as_str())).await {
                        tracing::error!(node = %id, error = %undo, "an added node's record could not be undone");
                    }
                    Err(e.into())
                }
            }
        };
        AtomicResponse::new(Box::pin(added.into_actor(self)))
    }
}

impl Handler<RemoveRemoteNode> for FleetActor {
    type Result = AtomicResponse<Self, Result<String, ControlError>>;

    /// A node whose GPUs are held is drained instead: fenced (in the broker and the store, and kept so
    /// by the health loop and across restarts) until the operator removes it again once they are free.
    fn handle(&mut self, msg: RemoveRemoteNode, _ctx: &mut Context<Self>) -> Self::Result {
        let (broker, db, clock) = (self.broker.clone(), self.db.clone(), self.clock.clone());
        let remote = self.remote();
        let removed = async move {
            let remote = remote?;
            let id = remote
                .find(&msg.key)
                .ok_or_else(|| ControlError::NotFound(format!("no trainer node {:?} is known", msg.key)))?;
            let url = remote.url_of(id.as_str());
            let added = db.run(|s| s.added_nodes()).await?;
            if !added.iter().any(|a| a.id == id && Some(&a.url) == url.as_ref()) {
                return Err(ControlError::Conflict(format!(
                    "trainer node {id} is configured in validator.nodes: remove it there"
                )));
            }
            let before = broker
                .send(ListNodes)
                .timeout(super::ASK_TIMEOUT)
                .await
                .unwrap_or_default()
                .into_iter()
                .find(|v| v.id == id);
            match broker.send(RemoveNode { node_id: id.clone() }).timeout(super::ASK_TIMEOUT).await {
                Ok(Ok(())) => {}
                Ok(Err(held)) => {
                    remote.set_draining(id.as_str());
                    broker.do_send(FenceNode { node_id: id.clone(), fenced: true });
                    let (key, at) = (id.clone(), clock.now());
                    db.run(move |s| {
                        s.transaction(|tx| {
                            tx.set_added_node_draining(key.as_str())?;
                            tx.set_node_fenced(key.as_str(), true, "being removed by an operator", at)
                        })
                    })
                    .await?;
                    return Err(ControlError::Conflict(format!(
                        "{held} GPU(s) of trainer node {id} are held by running trainings: it is fenced now, so \
                         nothing new starts there; remove it again once they end"
                    )));
                }
                Err(e) => return Err(ControlError::Unavailable(format!("the GPU broker did not answer: {e}"))),
            }
            let key = id.clone();
            if let Err(e) = db.run(move |s| s.remove_added_node(key.as_str())).await {
                // Still stored: the broker gets it back, so the running validator agrees with the store.
                if let Some(view) = before {
                    broker.do_send(AddNode(view));
                }
                return Err(e.into());
            }
            remote.remove_node(id.as_str());
            tracing::info!(node = %id, "trainer node removed");
            Ok(id.to_string())
        };
        AtomicResponse::new(Box::pin(removed.into_actor(self)))
    }
}
