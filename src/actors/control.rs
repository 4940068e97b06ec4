//! What operators ask of the running validator through the control API: create a tournament now,
//! cancel one, retry / replace / accept a task (messages to the supervisor), add and remove trainer
//! nodes (messages to the fleet). Each is answered once the change is persisted.

use actix::Message;

use crate::domain::TournamentId;

/// Why an operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("{0}")]
    NotFound(String),
    /// The current state does not allow it.
    #[error("{0}")]
    Conflict(String),
    /// What was asked cannot work (a node that does not answer): names the field.
    #[error("{0}")]
    Invalid(String),
    /// The store failed; the operation may be repeated.
    #[error("{0}")]
    Unavailable(String),
}

impl From<crate::store::StoreError> for ControlError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::NotFound { .. } => ControlError::NotFound(e.to_string()),
            crate::store::StoreError::Conflict(_) => ControlError::Conflict(e.to_string()),
            other => ControlError::Unavailable(format!("the store failed: {other}")),
        }
    }
}

/// Create a tournament of this track now, without waiting for its interval; refused while one of the
/// track is live.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<TournamentId, ControlError>")]
pub struct CreateTournament {
    /// The track's name; a type's default track is named after the type.
    pub track: String,
}

/// Cancel a pending or active tournament and refund its fees. Attempts already running finish (their
/// GPUs are freed as they end); nothing new starts.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), ControlError>")]
pub struct CancelTournament {
    pub id: TournamentId,
    pub reason: String,
}

/// Complete a tournament whose boss round is decided and that waits for an operator's confirmation
/// (`require_operator_confirmation`); answers its winner.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<crate::domain::Hotkey, ControlError>")]
pub struct ConfirmTournament {
    pub id: TournamentId,
}

/// The round-sanity overrides an operator may apply to one task of a live round (tournament-rules §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskAction {
    /// Run the task's failed trainings again, each with a fresh set of attempts; the task must have ended.
    Retry,
    /// Replace the task with a fresh one of the same type for the same players; the task must have ended.
    Replace,
    /// Take the task's results as they come: round sanity will not replace it.
    Accept,
}

impl TaskAction {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "retry" => Some(Self::Retry),
            "replace" => Some(Self::Replace),
            "accept" => Some(Self::Accept),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retry => "retry",
            Self::Replace => "replace",
            Self::Accept => "accept",
        }
    }
}

/// Apply `action` to a task of the tournament's current round; answers what was done.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<String, ControlError>")]
pub struct OverrideTask {
    pub tournament: TournamentId,
    pub task: crate::domain::TaskId,
    pub action: TaskAction,
}

/// Retry stalled work of a live tournament: the tournament itself (`training: None`), or one of its
/// trainings. Answers what resumed; work that has not stalled is refused.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<String, ControlError>")]
pub struct RetryStalled {
    pub tournament: TournamentId,
    pub training: Option<crate::domain::TrainingKey>,
}

/// Stalled work: try again from the stored state.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct Resume;

/// Reach one more trainer node (remote executor only): its GPUs are read at once and used from now on;
/// it is kept across restarts.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<crate::store::TrainerNode, ControlError>")]
pub struct AddRemoteNode {
    /// Base URL of its trainer API.
    pub url: String,
    /// Its id in the store and the broker; derived from the URL when absent.
    pub id: Option<String>,
    /// The token it asks for (empty for a node without one).
    pub token: String,
}

/// Stop using a node added through the control API (by id or URL). Refused while trainings hold its
/// GPUs; it is drained then (fenced, across health checks and restarts), so nothing new starts there,
/// and may be removed once they end.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<String, ControlError>")]
pub struct RemoveRemoteNode {
    pub key: String,
}
