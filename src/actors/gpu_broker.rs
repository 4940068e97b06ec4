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

use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::attempts::{persist_start, start_records};
use crate::clock::SharedClock;
use crate::domain::gpu::{GpuRequirement, NodeView, Placement, QueuedJob, schedule};
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

struct Waiting {
    job: QueuedJob,
    tournament: crate::domain::TournamentId,
    training: Training,
    reply: oneshot::Sender<Started>,
}

pub struct GpuBroker {
    db: Db,
    clock: SharedClock,
    max_attempts: u32,
    nodes: Vec<NodeView>,
    queue: Vec<Waiting>,
    settle_scheduled: bool,
}

/// Requests within this window are placed together.
const SETTLE: Duration = Duration::from_millis(1);

impl GpuBroker {
    pub fn new(db: Db, clock: SharedClock, max_attempts: u32, nodes: Vec<NodeView>) -> Self {
        Self { db, clock, max_attempts, nodes, queue: Vec::new(), settle_scheduled: false }
    }

    fn held_by(&self, key: &TrainingKey) -> Option<Placement> {
        self.nodes.iter().find_map(|node| {
            let indices: Vec<u32> =
                node.gpus.iter().filter(|g| g.holder.as_ref() == Some(key)).map(|g| g.index).collect();
            (!indices.is_empty()).then(|| Placement { node_id: node.id.clone(), gpu_indices: indices })
        })
    }

    fn set_holders(&mut self, placement: &Placement, holder: Option<&TrainingKey>) {
        if let Some(node) = self.nodes.iter_mut().find(|n| n.id == placement.node_id) {
            for gpu in node.gpus.iter_mut().filter(|g| placement.gpu_indices.contains(&g.index)) {
                gpu.holder = holder.cloned();
            }
        }
    }

    /// Whether any node could ever host `req`, fenced nodes included (they may come back).
    fn could_ever_fit(&self, req: GpuRequirement) -> bool {
        self.nodes.iter().any(|n| n.gpus.iter().filter(|g| g.class == req.class).count() >= req.count as usize)
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
        let (hopeless, waiting): (Vec<Waiting>, Vec<Waiting>) =
            std::mem::take(&mut self.queue).into_iter().partition(|w| !self.could_ever_fit(w.job.requirement));
        for w in hopeless {
            let _ = w.reply.send(Err(GpuError::NoNodeFits(w.job.requirement)));
        }
        let jobs: Vec<QueuedJob> = waiting.iter().map(|w| w.job.clone()).collect();
        let placed = schedule(&jobs, &self.nodes);
        let at = self.clock.now();
        let mut batch = Vec::new();
        for w in waiting {
            let Some((key, placement)) = placed.iter().find(|(key, _)| *key == w.job.key) else {
                self.queue.push(w);
                continue;
            };
            match start_records(&w.training, placement, self.max_attempts, at) {
                Ok(records) => {
                    self.set_holders(placement, Some(key));
                    batch.push((placement.clone(), records, w.reply));
                }
                Err(e) => {
                    let _ = w.reply.send(Err(GpuError::Store(e.to_string())));
                }
            }
        }
        if batch.is_empty() {
            return;
        }
        let writes: Vec<_> = batch.iter().map(|(_, (new, update, _), _)| (new.clone(), update.clone())).collect();
        let db = self.db.clone();
        let persist = async move {
            db.run(move |s| {
                s.transaction(|tx| {
                    writes.iter().map(|(new, update)| persist_start(tx, new, update)).collect::<Result<Vec<u32>, _>>()
                })
            })
            .await
        };
        ctx.wait(persist.into_actor(self).map(move |result, act, _| match result {
            Ok(numbers) => {
                for ((placement, (_, _, started), reply), number) in batch.into_iter().zip(numbers) {
                    let _ = reply.send(Ok((placement, number, started)));
                }
            }
            Err(e) => {
                for (placement, _, reply) in batch {
                    act.set_holders(&placement, None);
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
        if self.held_by(&msg.key).is_some() {
            // Holders are stored only for running attempts, which do not ask again.
            tracing::error!(training = %msg.key, "a training asked for GPUs while holding some");
        }
        let job =
            QueuedJob { key: msg.key, priority: msg.priority, enqueued: msg.enqueued, requirement: msg.requirement };
        self.queue.push(Waiting { job, tournament: msg.tournament, training: msg.training, reply: msg.reply });
        self.schedule_settle(ctx);
    }
}

impl Handler<ReleaseGpus> for GpuBroker {
    type Result = ();

    fn handle(&mut self, msg: ReleaseGpus, ctx: &mut Context<Self>) {
        let Some(held) = self.held_by(&msg.key) else { return };
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
        let (withdrawn, kept): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.queue).into_iter().partition(|w| w.tournament == msg.tournament);
        self.queue = kept;
        for w in withdrawn {
            let _ = w.reply.send(Err(GpuError::Withdrawn));
        }
    }
}

impl Handler<AddNode> for GpuBroker {
    type Result = ();

    fn handle(&mut self, msg: AddNode, ctx: &mut Context<Self>) {
        let view = msg.0;
        match self.nodes.iter_mut().find(|n| n.id == view.id) {
            Some(node) => *node = view,
            None => self.nodes.push(view),
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
        Ok(())
    }
}

impl Handler<ListNodes> for GpuBroker {
    type Result = MessageResult<ListNodes>;

    fn handle(&mut self, _: ListNodes, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.nodes.clone())
    }
}
