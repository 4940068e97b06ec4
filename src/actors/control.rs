//! What operators ask of the running validator through the control API: create a tournament now,
//! cancel one. Each is a message to the supervisor, answered once the change is persisted.

use actix::Message;

use crate::domain::{TournamentId, TournamentType};

/// Why an operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("{0}")]
    NotFound(String),
    /// The current state does not allow it.
    #[error("{0}")]
    Conflict(String),
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

/// Create a tournament of this type now, without waiting for the interval; refused while one of the
/// type is live.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<TournamentId, ControlError>")]
pub struct CreateTournament {
    pub tournament_type: TournamentType,
}

/// Cancel a pending or active tournament and refund its fees. Attempts already running finish (their
/// GPUs are freed as they end); nothing new starts.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), ControlError>")]
pub struct CancelTournament {
    pub id: TournamentId,
    pub reason: String,
}
