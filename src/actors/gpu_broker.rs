//! GpuBroker: owns the slot state of every trainer node's GPUs (free, reserved by a training, fenced with
//! its node) and hands GPUs to waiting trainings.
//!
//! Messages: `RequestGpus` (answered through its oneshot once GPUs are reserved and persisted),
//! `ReleaseGpus`, `FenceNode`, `ListNodes`, `AddNode`, `RemoveNode`, `Withdraw`. Placement is the domain's tightest fit in priority order
//! (organic, tournament, benchmark; oldest first). Requests arriving within one instant are placed
//! together a millisecond later, so the outcome depends on the set of requests, never on the order in
//! which concurrent messages happened to arrive: the simulation replays identically.
//!
//! One broker for all nodes rather than one actor per node: tightest fit compares nodes, which needs a
//! consistent view of all of them without a two-phase reservation.
//!
//! Placing a batch starts its attempts: one transaction writes every attempt of the batch with its GPU
//! holders, so a process that dies at any moment has stored all of a batch or none of it, and a restart
//! replays the batch at the same instant. The TrainerActor frees the holders with the end of its attempt.
//! The stored holders are exactly the trainings that are running.
//!
//! Restart policy: rebuilt from the store (`gpus.holder`), so a restarted validator knows which
//! trainings hold which GPUs; a restored training asking again gets its GPUs back at once.

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::attempts::{persist_start, start_records};
use crate::clock::SharedClock;
use crate::domain::gpu::{GpuRequirement, NodeView, Placement, QueuedJob, could_ever_fit};
use crate::domain::gpu_queue::GpuQueue;
use crate::domain::{JobPriority, NodeId, TrainingKey};
use crate::store::{Db, Training};

/// Why GPUs cannot be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GpuError {
    #[error("no trainer node can host {0}")]
    NoNodeFits(GpuRequirement),
    #[error("the GPU broker stopped")]
    Stopped,
    #[error("the start could not be stored: {0}")]
    Store(String),
    /// The training's tournament was cancelled while it waited: it will not start.
    #[error("its tournament was cancelled")]
    Withdrawn,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct RequestGpus {
    /// The training asking.
    pub key: TrainingKey,
    /// Its tournament (a cancel withdraws the tournament's waiting requests).
    pub tournament: crate::domain::TournamentId,
    /// The training as stored; placing it starts its next attempt.
    pub training: Training,
    pub priority: JobPriority,
    /// Orders requests of one priority, oldest first (a training's creation time in ms).
    pub enqueued: i64,
    pub requirement: GpuRequirement,
    pub reply: oneshot::Sender<Started>,
}

/// Where an attempt runs, its number, and the training as stored after the start.
pub type Started = Result<(Placement, u32, Training), GpuError>;

#[derive(Message)]
#[rtype(result = "()")]
pub struct ReleaseGpus {
    pub key: TrainingKey,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct FenceNode {
    pub node_id: NodeId,
    pub fenced: bool,
}

#[derive(Message)]
#[rtype(result = "Vec<NodeView>")]
pub struct ListNodes;

/// Answers every waiting request of a cancelled tournament with [`GpuError::Withdrawn`], so its
/// trainings stop waiting at once and no GPU is ever placed for them.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Withdraw {
    pub tournament: crate::domain::TournamentId,
}

/// A node to place trainings on from now on (or again, with its GPUs as now listed).
#[derive(Message)]
#[rtype(result = "()")]
pub struct AddNode(pub NodeView);

/// Stop placing on a node; refused (with how many GPUs) while trainings hold some of its GPUs.
#[derive(Message)]
#[rtype(result = "Result<(), usize>")]
pub struct RemoveNode {
    pub node_id: NodeId,
}

/// What the broker keeps with a waiting job.
struct Waiting {
    tournament: crate::domain::TournamentId,
    training: Training,
    reply: oneshot::Sender<Started>,
}

pub struct GpuBroker {
    db: Db,
    clock: SharedClock,
    max_attempts: u32,
    nodes: Vec<NodeView>,
    /// Where each running training holds its GPUs (what `nodes` say, indexed by training).
    holders: HashMap<TrainingKey, Placement>,
    /// Requests since the last settle: they join the queue together, at the settle.
    arrived: Vec<(QueuedJob, Waiting)>,
    queue: GpuQueue<Waiting>,
    settle_scheduled: bool,
}

/// Requests within this window are placed together.
const SETTLE: Duration = Duration::from_millis(1);

/// Where each training named as a GPU's holder on `nodes` holds its GPUs.
fn holders_on(nodes: &[NodeView]) -> HashMap<TrainingKey, Placement> {
    let mut holders: HashMap<TrainingKey, Placement> = HashMap::new();
    for node in nodes {
        for gpu in &node.gpus {
            let Some(key) = &gpu.holder else { continue };
            holders
                .entry(key.clone())
                .or_insert_with(|| Placement { node_id: node.id.clone(), gpu_indices: Vec::new() })
                .gpu_indices
                .push(gpu.index);
        }
    }
    holders
}

impl GpuBroker {
    pub fn new(db: Db, clock: SharedClock, max_attempts: u32, nodes: Vec<NodeView>) -> Self {
        let holders = holders_on(&nodes);
        let queue = GpuQueue::new();
        Self { db, clock, max_attempts, nodes, holders, arrived: Vec::new(), queue, settle_scheduled: false }
    }

    fn set_holders(&mut self, placement: &Placement, holder: Option<&TrainingKey>) {
        if let Some(node) = self.nodes.iter_mut().find(|n| n.id == placement.node_id) {
            for gpu in node.gpus.iter_mut().filter(|g| placement.gpu_indices.contains(&g.index)) {
                gpu.holder = holder.cloned();
            }
        }
    }

    /// Answers the waiting requests no node can ever host (after the fleet shrank).
    fn refuse_hopeless(&mut self) {
        let nodes = &self.nodes;
        for (job, w) in self.queue.take_where(|job, _| !could_ever_fit(nodes, job.requirement)) {
            let _ = w.reply.send(Err(GpuError::NoNodeFits(job.requirement)));
        }
    }

    fn schedule_settle(&mut self, ctx: &mut Context<Self>) {
        if !self.settle_scheduled {
            self.settle_scheduled = true;
            ctx.run_later(SETTLE, |act, ctx| act.settle(ctx));
        }
    }

    /// Places every waiting job that fits now, starts the placed attempts in one transaction, then
    /// answers their requests. The mailbox waits for the write, so no other placement interleaves.
    fn settle(&mut self, ctx: &mut Context<Self>) {
        self.settle_scheduled = false;
        for (job, w) in std::mem::take(&mut self.arrived) {
            if could_ever_fit(&self.nodes, job.requirement) {
                if let Some((earlier, _)) = self.queue.push(job, w) {
                    // One trainer per training asks once at a time; the later request is the one kept.
                    tracing::error!(training = %earlier.key, "a training asked for GPUs again while waiting");
                }
            } else {
                let _ = w.reply.send(Err(GpuError::NoNodeFits(job.requirement)));
            }
        }
        let placed = self.queue.place(&mut self.nodes);
        let at = self.clock.now();
        let mut batch = Vec::new();
        for (job, placement, w) in placed {
            match start_records(&w.training, &placement, self.max_attempts, at) {
                Ok(records) => {
                    self.holders.insert(job.key.clone(), placement.clone());
                    batch.push((job.key, placement, records, w.reply));
                }
                Err(e) => {
                    self.set_holders(&placement, None);
                    let _ = w.reply.send(Err(GpuError::Store(e.to_string())));
                }
            }
        }
        if batch.is_empty() {
            return;
        }
        let writes: Vec<_> = batch.iter().map(|(_, _, (new, update, _), _)| (new.clone(), update.clone())).collect();
        let db = self.db.clone();
        let persist = async move {
            db.write(move |tx| {
                writes.iter().map(|(new, update)| persist_start(tx, new, update)).collect::<Result<Vec<u32>, _>>()
            })
            .await
        };
        ctx.wait(persist.into_actor(self).map(move |result, act, _| match result {
            Ok(numbers) => {
                for ((_, placement, (_, _, started), reply), number) in batch.into_iter().zip(numbers) {
                    let _ = reply.send(Ok((placement, number, started)));
                }
            }
            Err(e) => {
                for (key, placement, _, reply) in batch {
                    act.set_holders(&placement, None);
                    act.holders.remove(&key);
                    let _ = reply.send(Err(GpuError::Store(e.to_string())));
                }
            }
        }));
    }
}

impl Actor for GpuBroker {
    type Context = Context<Self>;
}

impl Handler<RequestGpus> for GpuBroker {
    type Result = ();

    fn handle(&mut self, msg: RequestGpus, ctx: &mut Context<Self>) {
        if self.holders.contains_key(&msg.key) {
            // Holders are stored only for running attempts, which do not ask again.
            tracing::error!(training = %msg.key, "a training asked for GPUs while holding some");
        }
        let job =
            QueuedJob { key: msg.key, priority: msg.priority, enqueued: msg.enqueued, requirement: msg.requirement };
        self.arrived.push((job, Waiting { tournament: msg.tournament, training: msg.training, reply: msg.reply }));
        self.schedule_settle(ctx);
    }
}

impl Handler<ReleaseGpus> for GpuBroker {
    type Result = ();

    fn handle(&mut self, msg: ReleaseGpus, ctx: &mut Context<Self>) {
        let Some(held) = self.holders.remove(&msg.key) else { return };
        self.set_holders(&held, None);
        self.schedule_settle(ctx);
    }
}

impl Handler<FenceNode> for GpuBroker {
    type Result = ();

    fn handle(&mut self, msg: FenceNode, ctx: &mut Context<Self>) {
        if let Some(node) = self.nodes.iter_mut().find(|n| n.id == msg.node_id) {
            node.fenced = msg.fenced;
        }
        if !msg.fenced {
            self.schedule_settle(ctx);
        }
    }
}

impl Handler<Withdraw> for GpuBroker {
    type Result = ();

    fn handle(&mut self, msg: Withdraw, _: &mut Context<Self>) {
        let (withdrawn, arrived): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.arrived).into_iter().partition(|(_, w)| w.tournament == msg.tournament);
        self.arrived = arrived;
        let waiting = self.queue.take_where(|_, w| w.tournament == msg.tournament);
        for (_, w) in withdrawn.into_iter().chain(waiting) {
            let _ = w.reply.send(Err(GpuError::Withdrawn));
        }
    }
}

impl Handler<AddNode> for GpuBroker {
    type Result = ();

    fn handle(&mut self, msg: AddNode, ctx: &mut Context<Self>) {
        let view = msg.0;
        self.holders.retain(|_, p| p.node_id != view.id);
        self.holders.extend(holders_on(std::slice::from_ref(&view)));
        let replaced = match self.nodes.iter_mut().find(|n| n.id == view.id) {
            Some(node) => {
                *node = view;
                true
            }
            None => {
                self.nodes.push(view);
                false
            }
        };
        if replaced {
            // The node may have fewer GPUs than before.
            self.refuse_hopeless();
        }
        self.schedule_settle(ctx);
    }
}

impl Handler<RemoveNode> for GpuBroker {
    type Result = Result<(), usize>;

    fn handle(&mut self, msg: RemoveNode, _: &mut Context<Self>) -> Self::Result {
        let Some(node) = self.nodes.iter().find(|n| n.id == msg.node_id) else { return Ok(()) };
        let held = node.gpus.iter().filter(|g| g.holder.is_some()).count();
        if held > 0 {
            return Err(held);
        }
        self.nodes.retain(|n| n.id != msg.node_id);
        self.refuse_hopeless();
        Ok(())
    }
}

impl Handler<ListNodes> for GpuBroker {
    type Result = MessageResult<ListNodes>;

    fn handle(&mut self, _: ListNodes, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.nodes.clone())
    }
}
