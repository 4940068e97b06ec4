//! Assembles one validator runtime on the current actix system: the GPU broker over the stored trainer
//! nodes, the shared runtime context, and the supervisor that restores and schedules tournaments.

use std::rc::Rc;
use std::sync::Arc;

use actix::{Actor, Addr};
use tokio::sync::broadcast;

use crate::actors::gpu_broker::GpuBroker;
use crate::actors::supervisor::Supervisor;
use crate::actors::{Event, Runtime};
use crate::clock::SharedClock;
use crate::domain::TournamentType;
use crate::domain::catalog::Catalog;
use crate::domain::gpu::{GpuSlot, NodeView};
use crate::domain::rules::Rules;
use crate::exec::Executor;
use crate::miners::RegistrationSource;
use crate::store::{Db, Store, StoreError};

/// What a runtime is made of.
pub struct Parts {
    pub store: Arc<Store>,
    pub clock: SharedClock,
    pub rules: Rules,
    pub catalog: Catalog,
    pub executor: Rc<dyn Executor>,
    pub registration: Rc<dyn RegistrationSource>,
    /// At most this many tournaments per type, then the system stops.
    pub limit: Option<usize>,
    /// The tournament types scheduled (a validator runs every type).
    pub types: Vec<TournamentType>,
    pub seed: u64,
}

/// A started runtime.
pub struct Running {
    pub supervisor: Addr<Supervisor>,
    /// The GPU broker (the remote nodes' health loop fences and un-fences nodes through it).
    pub broker: Addr<GpuBroker>,
    pub events: broadcast::Sender<Event>,
}

/// The stored trainer nodes as the broker sees them (holders included, so reservations survive).
pub fn node_views(store: &Store) -> Result<Vec<NodeView>, StoreError> {
    Ok(store
        .list_nodes()?
        .into_iter()
        .map(|n| NodeView {
            id: n.id,
            fenced: n.fenced,
            gpus: n.gpus.into_iter().map(|g| GpuSlot { index: g.index, class: g.class, holder: g.holder }).collect(),
        })
        .collect())
}

/// Starts the runtime's actors; call inside a running actix system.
pub fn start(parts: Parts, nodes: Vec<NodeView>, events: broadcast::Sender<Event>) -> Running {
    let db = Db::new(parts.store);
    let broker =
        GpuBroker::new(db.clone(), parts.clock.clone(), parts.rules.training.max_training_attempts, nodes).start();
    let rt = Rc::new(Runtime {
        db,
        clock: parts.clock,
        rules: parts.rules,
        catalog: parts.catalog,
        executor: parts.executor,
        registration: parts.registration,
        broker: broker.clone(),
        events: events.clone(),
    });
    let supervisor = Supervisor::new(rt, parts.limit, parts.seed, parts.types).start();
    Running { supervisor, broker, events }
}
