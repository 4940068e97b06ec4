//! The state machines of tournaments, rounds and trainings (tournament-rules.md §2, §6).
//!
//! A transition is a pure function of the current state and an event; an illegal transition is a typed
//! error, never a panic. Callers persist the returned state (with its time and cause) before acting on it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::kinds::UnknownVariant;

/// An attempt to move a state machine along an edge it does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("tournament cannot go from {from} to {to}")]
    Tournament { from: TournamentStatus, to: TournamentStatus },
    #[error("round cannot go from {from} to {to}")]
    Round { from: RoundStatus, to: RoundStatus },
    #[error("training cannot take {event} while {from}")]
    Training { from: TrainingStatus, event: &'static str },
}

macro_rules! status {
    ($(#[$doc:meta])* $name:ident, $kind:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownVariant;
            fn from_str(value: &str) -> Result<Self, UnknownVariant> {
                match value {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownVariant { kind: $kind, value: value.to_owned(), expected: concat!($($text, ", "),+) }),
                }
            }
        }
    };
}

status!(
    /// `pending → active → completed`, and `pending|active → cancelled`.
    TournamentStatus, "tournament status",
    { Pending => "pending", Active => "active", Completed => "completed", Cancelled => "cancelled" }
);

status!(
    /// `pending → active → completed`.
    RoundStatus, "round status", { Pending => "pending", Active => "active", Completed => "completed" }
);

status!(
    /// `active` from its creation; `accepted` when an operator accepts it as it ends (round sanity
    /// never replaces it); `replaced` once a replacement supersedes it, which nothing undoes.
    TaskStatus, "task status", { Active => "active", Accepted => "accepted", Replaced => "replaced" }
);

status!(
    /// `pending → training → success|failure`; a failed run returns to `pending` while attempts remain.
    TrainingStatus, "training status",
    { Pending => "pending", Training => "training", Success => "success", Failure => "failure" }
);

impl TournamentStatus {
    pub fn is_finished(self) -> bool {
        matches!(self, TournamentStatus::Completed | TournamentStatus::Cancelled)
    }

    /// Checks the edge `self → to` and returns `to`.
    pub fn transition(self, to: TournamentStatus) -> Result<TournamentStatus, TransitionError> {
        use TournamentStatus::*;
        match (self, to) {
            (Pending, Active) | (Active, Completed) | (Pending | Active, Cancelled) => Ok(to),
            _ => Err(TransitionError::Tournament { from: self, to }),
        }
    }
}

impl RoundStatus {
    /// Checks the edge `self → to` and returns `to`.
    pub fn transition(self, to: RoundStatus) -> Result<RoundStatus, TransitionError> {
        use RoundStatus::*;
        match (self, to) {
            (Pending, Active) | (Active, Completed) => Ok(to),
            _ => Err(TransitionError::Round { from: self, to }),
        }
    }
}

impl TrainingStatus {
    pub fn is_finished(self) -> bool {
        matches!(self, TrainingStatus::Success | TrainingStatus::Failure)
    }

    /// How an ended training went; `None` while it is pending or running.
    pub fn outcome(self) -> Option<super::kinds::RunStatus> {
        match self {
            TrainingStatus::Success => Some(super::kinds::RunStatus::Success),
            TrainingStatus::Failure => Some(super::kinds::RunStatus::Failure),
            TrainingStatus::Pending | TrainingStatus::Training => None,
        }
    }
}

/// What happened to a training, as far as its state machine cares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TrainingEvent {
    /// A run started on reserved GPUs: consumes one attempt.
    Started,
    /// The run ended with a valid output.
    Succeeded,
    /// The run ended without a valid output (crash, OOM, timeout without output, lost node, ...).
    RunFailed { reason: String },
    /// The run could not be started (no GPU, node refused): no attempt is consumed.
    StartFailed { reason: String },
    /// The repository cannot be fetched at the submitted commit: fails at once, no retry.
    Unfetchable { reason: String },
    /// An operator asked a failed training to run again: it gets a fresh set of attempts.
    Retried,
    /// Its tournament ended (was cancelled) before it could run: it fails, saying why.
    Abandoned { reason: String },
}

impl TrainingEvent {
    fn name(&self) -> &'static str {
        match self {
            TrainingEvent::Started => "started",
            TrainingEvent::Succeeded => "succeeded",
            TrainingEvent::RunFailed { .. } => "run_failed",
            TrainingEvent::StartFailed { .. } => "start_failed",
            TrainingEvent::Unfetchable { .. } => "unfetchable",
            TrainingEvent::Retried => "retried",
            TrainingEvent::Abandoned { .. } => "abandoned",
        }
    }
}

/// The durable state of one (task, hotkey) training.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingState {
    pub status: TrainingStatus,
    /// Real starts so far.
    pub attempts: u32,
    /// The reason of the last failure, if any: what a miner reads.
    pub failure_reason: Option<String>,
}

impl Default for TrainingState {
    fn default() -> Self {
        Self { status: TrainingStatus::Pending, attempts: 0, failure_reason: None }
    }
}

impl TrainingState {
    /// Applies `event` under a policy of at most `max_attempts` real starts.
    pub fn step(&self, event: &TrainingEvent, max_attempts: u32) -> Result<TrainingState, TransitionError> {
        use TrainingStatus::*;
        let illegal = || TransitionError::Training { from: self.status, event: event.name() };
        let mut next = self.clone();
        match (self.status, event) {
            (Pending, TrainingEvent::Started) if self.attempts < max_attempts => {
                next.status = Training;
                next.attempts += 1;
            }
            (Pending, TrainingEvent::StartFailed { reason }) => next.failure_reason = Some(reason.clone()),
            (Pending | Training, TrainingEvent::Unfetchable { reason }) => {
                next.status = Failure;
                next.failure_reason = Some(reason.clone());
            }
            (Training, TrainingEvent::Succeeded) => {
                next.status = Success;
                next.failure_reason = None;
            }
            (Training, TrainingEvent::RunFailed { reason }) => {
                next.status = if self.attempts < max_attempts { Pending } else { Failure };
                next.failure_reason = Some(reason.clone());
            }
            // A start that failed after the state was already written as started: hand the attempt back.
            (Training, TrainingEvent::StartFailed { reason }) => {
                next.status = Pending;
                next.attempts = self.attempts.saturating_sub(1);
                next.failure_reason = Some(reason.clone());
            }
            (Pending, TrainingEvent::Abandoned { reason }) => {
                next.status = Failure;
                next.failure_reason = Some(reason.clone());
            }
            (Failure, TrainingEvent::Retried) => {
                next.status = Pending;
                next.attempts = 0;
                next.failure_reason = None;
            }
            _ => return Err(illegal()),
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tournament_edges() {
        use TournamentStatus::*;
        let table = [
            (Pending, Active, true),
            (Active, Completed, true),
            (Pending, Cancelled, true),
            (Active, Cancelled, true),
            (Pending, Completed, false),
            (Completed, Active, false),
            (Cancelled, Active, false),
            (Completed, Cancelled, false),
            (Active, Pending, false),
        ];
        for (from, to, ok) in table {
            assert_eq!(from.transition(to).is_ok(), ok, "{from} -> {to}");
        }
        assert_eq!(
            Completed.transition(Active).unwrap_err().to_string(),
            "tournament cannot go from completed to active"
        );
    }

    #[test]
    fn only_a_waiting_training_is_abandoned() {
        let abandoned = TrainingEvent::Abandoned { reason: "cancelled".into() };
        let waiting = TrainingState { status: TrainingStatus::Pending, attempts: 1, failure_reason: None };
        let next = waiting.step(&abandoned, 2).unwrap();
        assert_eq!(
            (next.status, next.attempts, next.failure_reason.as_deref()),
            (TrainingStatus::Failure, 1, Some("cancelled"))
        );
        let running = TrainingState { status: TrainingStatus::Training, attempts: 1, failure_reason: None };
        assert!(running.step(&abandoned, 2).is_err(), "a running training ends with its run");
    }

    #[test]
    fn only_a_failed_training_is_retried_and_it_starts_afresh() {
        let failed = TrainingState { status: TrainingStatus::Failure, attempts: 2, failure_reason: Some("oom".into()) };
        assert_eq!(failed.step(&TrainingEvent::Retried, 2).unwrap(), TrainingState::default());
        for status in [TrainingStatus::Pending, TrainingStatus::Training, TrainingStatus::Success] {
            let state = TrainingState { status, attempts: 1, failure_reason: None };
            assert!(state.step(&TrainingEvent::Retried, 2).is_err(), "{status}");
        }
    }

    #[test]
    fn round_edges() {
        use RoundStatus::*;
        assert!(Pending.transition(Active).is_ok());
        assert!(Active.transition(Completed).is_ok());
        assert!(Pending.transition(Completed).is_err());
        assert!(Completed.transition(Active).is_err());
    }

    fn failed(reason: &str) -> TrainingEvent {
        TrainingEvent::RunFailed { reason: reason.into() }
    }

    #[test]
    fn failed_run_retries_once_then_fails() {
        let s = TrainingState::default();
        let s = s.step(&TrainingEvent::Started, 2).unwrap();
        let s = s.step(&failed("oom"), 2).unwrap();
        assert_eq!((s.status, s.attempts), (TrainingStatus::Pending, 1));
        let s = s.step(&TrainingEvent::Started, 2).unwrap();
        let s = s.step(&failed("timeout without output"), 2).unwrap();
        assert_eq!(s.status, TrainingStatus::Failure);
        assert_eq!(s.failure_reason.as_deref(), Some("timeout without output"));
        assert!(s.step(&TrainingEvent::Started, 2).is_err());
    }

    #[test]
    fn failing_to_start_costs_no_attempt() {
        let s = TrainingState::default().step(&TrainingEvent::StartFailed { reason: "no GPU".into() }, 2).unwrap();
        assert_eq!((s.status, s.attempts), (TrainingStatus::Pending, 0));
        let s = s.step(&TrainingEvent::Started, 2).unwrap();
        let s = s.step(&TrainingEvent::StartFailed { reason: "GPU unavailable".into() }, 2).unwrap();
        assert_eq!((s.status, s.attempts), (TrainingStatus::Pending, 0));
    }

    #[test]
    fn unfetchable_repository_fails_without_retry() {
        let s =
            TrainingState::default().step(&TrainingEvent::Unfetchable { reason: "no such commit".into() }, 2).unwrap();
        assert_eq!((s.status, s.attempts), (TrainingStatus::Failure, 0));
    }

    #[test]
    fn success_is_final() {
        let s = TrainingState::default()
            .step(&TrainingEvent::Started, 2)
            .unwrap()
            .step(&TrainingEvent::Succeeded, 2)
            .unwrap();
        assert_eq!(s.status, TrainingStatus::Success);
        assert!(s.step(&failed("late"), 2).is_err());
        assert!(s.step(&TrainingEvent::Started, 2).is_err());
    }

    fn any_event() -> impl Strategy<Value = TrainingEvent> {
        prop_oneof![
            Just(TrainingEvent::Started),
            Just(TrainingEvent::Succeeded),
            Just(failed("crash")),
            Just(TrainingEvent::StartFailed { reason: "busy".into() }),
            Just(TrainingEvent::Unfetchable { reason: "gone".into() }),
        ]
    }

    proptest! {
        #[test]
        fn attempts_never_exceed_the_policy(events in proptest::collection::vec(any_event(), 0..40), max in 1u32..4) {
            let mut s = TrainingState::default();
            for e in &events {
                if let Ok(next) = s.step(e, max) {
                    if s.status.is_finished() {
                        prop_assert_eq!(&next, &s, "a finished training never moves");
                    }
                    s = next;
                }
                prop_assert!(s.attempts <= max);
            }
        }
    }
}
