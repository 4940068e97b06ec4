//! What the runtime tells observers (the `simulate` progress lines, `/v1/events`, the live pages): past-tense
//! facts, each sent only after it was persisted.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Hotkey, NodeId, RoundKind, TaskId, TournamentId, TournamentType, TrainingStatus};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    TournamentCreated {
        id: TournamentId,
        tournament_type: TournamentType,
        at: DateTime<Utc>,
    },
    RegistrationEnded {
        id: TournamentId,
        admitted: usize,
        rejected: usize,
        at: DateTime<Utc>,
    },
    RoundStarted {
        id: TournamentId,
        round: u32,
        kind: RoundKind,
        is_final: bool,
        players: usize,
        tasks: usize,
        at: DateTime<Utc>,
    },
    TrainingStarted {
        id: TournamentId,
        task: TaskId,
        hotkey: Hotkey,
        attempt: u32,
        node: NodeId,
        at: DateTime<Utc>,
    },
    TrainingEnded {
        id: TournamentId,
        task: TaskId,
        hotkey: Hotkey,
        status: TrainingStatus,
        reason: Option<String>,
        test_loss: Option<f64>,
        at: DateTime<Utc>,
    },
    TaskReplaced {
        id: TournamentId,
        task: TaskId,
        replacement: TaskId,
        at: DateTime<Utc>,
    },
    RoundDecided {
        id: TournamentId,
        round: u32,
        winners: Vec<Hotkey>,
        at: DateTime<Utc>,
    },
    /// The boss round is decided and `require_operator_confirmation` holds the completion until an
    /// operator confirms it (`POST /v1/tournaments/{id}/confirm`).
    AwaitingConfirmation {
        id: TournamentId,
        winner: Hotkey,
        at: DateTime<Utc>,
    },
    TournamentCompleted {
        id: TournamentId,
        tournament_type: TournamentType,
        winner: Hotkey,
        at: DateTime<Utc>,
    },
    TournamentCancelled {
        id: TournamentId,
        reason: String,
        at: DateTime<Utc>,
    },
    /// Work of the tournament stopped retrying and waits for an operator (`kind` `tournament` or
    /// `training`, `subject` the tournament's id or the training's `<task>/<hotkey>`).
    Stalled {
        id: TournamentId,
        kind: String,
        subject: String,
        reason: String,
        at: DateTime<Utc>,
    },
}

impl Event {
    /// The tournament the event belongs to.
    pub fn tournament(&self) -> &TournamentId {
        self.common().0
    }

    pub fn at(&self) -> DateTime<Utc> {
        self.common().1
    }

    /// What every event carries: its tournament and when it happened.
    fn common(&self) -> (&TournamentId, DateTime<Utc>) {
        match self {
            Event::TournamentCreated { id, at, .. }
            | Event::RegistrationEnded { id, at, .. }
            | Event::RoundStarted { id, at, .. }
            | Event::TrainingStarted { id, at, .. }
            | Event::TrainingEnded { id, at, .. }
            | Event::TaskReplaced { id, at, .. }
            | Event::RoundDecided { id, at, .. }
            | Event::AwaitingConfirmation { id, at, .. }
            | Event::TournamentCompleted { id, at, .. }
            | Event::TournamentCancelled { id, at, .. }
            | Event::Stalled { id, at, .. } => (id, *at),
        }
    }
}

/// The next event for an observer; an observer that fell behind skips what it missed (with a warning)
/// rather than stopping. `None` once the runtime is gone.
pub async fn next(receiver: &mut tokio::sync::broadcast::Receiver<Event>) -> Option<Event> {
    loop {
        match receiver.recv().await {
            Ok(event) => return Some(event),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "an event observer fell behind");
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
        }
    }
}
