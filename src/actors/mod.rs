//! The actor system (architecture.md): actix actors own the live state; each decides with the pure
//! core, persists the transition through the store, then performs the effects.
//!
//! * `supervisor`: schedules tournaments per type and spawns or restores one TournamentActor each.
//! * `tournament`: one live tournament: registration, rounds, tasks, results, advancing, completion.
//! * `trainer`: one (task, hotkey) training: GPUs, attempts through the executor, retry policy.
//! * `gpu_broker`: the GPU slots of every trainer node and the queue of trainings waiting for them.
//! * `attempts`: the records of an attempt's start, which the broker writes when it places one.
//! * `control`: what operators ask through the control API (create, cancel), answered when persisted.
//! * `events`: what observers are told, after it was persisted.
//! * `fleet`: the trainer nodes an operator adds and removes at run time (remote executor).
//! * `health`: the remote nodes' GPUs read at start, and the loop that fences and un-fences them.
//! * `stalls`: work that failed beyond its retry budget, waiting with its reason for an operator.
//!
//! Everything runs on one actix system (one thread, one tokio runtime); blocking store calls go to
//! tokio's blocking pool. Nothing polls: every step follows from a message or a timer derived from
//! stored times.

pub mod attempts;
pub mod control;
pub mod events;
pub mod fleet;
pub mod gpu_broker;
pub mod health;
pub mod stalls;
pub mod supervisor;
pub mod tournament;
pub mod trainer;

use std::rc::Rc;
use std::time::Duration;

use actix::Addr;
use tokio::sync::broadcast;

use crate::clock::SharedClock;
use crate::domain::catalog::Catalog;
use crate::domain::rules::Rules;
use crate::exec::Executor;
use crate::miners::RegistrationSource;
use crate::store::Db;

pub use events::Event;

/// How long a request waits for an actor's answer (an operator's call, one actor asking another): an
/// actor that is stuck becomes an error naming what did not answer, never a wait without end. Longer
/// than any one store transaction or trainer-node request it may wait behind.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(120);

/// What every actor of one validator shares.
pub struct Runtime {
    pub db: Db,
    pub clock: SharedClock,
    /// Shared: steps take it along, and it holds every track.
    pub rules: std::sync::Arc<Rules>,
    pub catalog: Catalog,
    pub executor: Rc<dyn Executor>,
    pub registration: Rc<dyn RegistrationSource>,
    pub broker: Addr<gpu_broker::GpuBroker>,
    pub events: broadcast::Sender<Event>,
    /// What has stalled, shared with the control API.
    pub stalls: stalls::Stalls,
}
