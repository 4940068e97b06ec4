//! What has stalled: a tournament or a training whose work failed beyond its retry budget, or in a
//! way retrying cannot mend (a corrupt row). It waits, with its reason, until an operator retries it
//! (`RetryStalled`, `POST /v1/crucible/stalls/retry`). The schedule of a tournament type whose next
//! tournament cannot be created stalls too, and keeps trying at the longest backoff until it can. Kept in memory and shared with the control API
//! (whose threads read it), so a stall is visible even when the store is what fails; a restart retries
//! everything anyway.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{TournamentId, TrainingKey};

/// One stalled piece of work.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Stall {
    /// `tournament`, `training` or `schedule`.
    pub kind: &'static str,
    /// The tournament's id, the training's `<task>/<hotkey>`, or the schedule's tournament type.
    pub id: String,
    /// The tournament it belongs to (none for a schedule).
    #[schema(value_type = Option<String>)]
    pub tournament_id: Option<TournamentId>,
    /// What failed, last.
    pub reason: String,
    /// Failures in a row before it stalled.
    pub failures: u32,
    pub since: DateTime<Utc>,
}

/// Every current stall; clones share them.
#[derive(Debug, Clone, Default)]
pub struct Stalls(Arc<Mutex<BTreeMap<(&'static str, String), Stall>>>);

impl Stalls {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<(&'static str, String), Stall>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn count(&self, kind: &'static str) {
        let n = self.map().keys().filter(|(k, _)| *k == kind).count();
        metrics::gauge!("crucible_stalled", "kind" => kind).set(n as f64);
    }

    /// None yet, and the `crucible_stalled` gauge of each kind says so.
    pub fn published() -> Self {
        let stalls = Self::default();
        stalls.count("tournament");
        stalls.count("training");
        stalls.count("schedule");
        stalls
    }

    pub fn tournament(&self, id: &TournamentId, reason: String, failures: u32, since: DateTime<Utc>) {
        let stall =
            Stall { kind: "tournament", id: id.to_string(), tournament_id: Some(id.clone()), reason, failures, since };
        self.map().insert(("tournament", id.to_string()), stall);
        self.count("tournament");
    }

    pub fn training(
        &self,
        tournament: &TournamentId,
        key: &TrainingKey,
        reason: String,
        failures: u32,
        since: DateTime<Utc>,
    ) {
        let stall = Stall {
            kind: "training",
            id: key.to_string(),
            tournament_id: Some(tournament.clone()),
            reason,
            failures,
            since,
        };
        self.map().insert(("training", key.to_string()), stall);
        self.count("training");
    }

    /// The schedule of `kind` cannot create its next tournament.
    pub fn schedule(&self, track: &str, reason: String, failures: u32, since: DateTime<Utc>) {
        let stall = Stall { kind: "schedule", id: track.to_owned(), tournament_id: None, reason, failures, since };
        self.map().insert(("schedule", track.to_owned()), stall);
        self.count("schedule");
    }

    /// Forgets a stall (its work resumes); whether there was one.
    pub fn clear(&self, kind: &'static str, id: &str) -> bool {
        let removed = self.map().remove(&(kind, id.to_owned())).is_some();
        self.count(kind);
        removed
    }

    /// Every stall, tournaments first, by id.
    pub fn list(&self) -> Vec<Stall> {
        self.map().values().cloned().collect()
    }
}
