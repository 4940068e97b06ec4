//! Registration sources: who answers the registration ping and with what. The simulated source lives
//! in `sim`; the HTTP source (signed pings to real miners) implements the same trait.
//!
//! A source only reports what each miner answered; the TournamentActor applies the rest of admission
//! (one entry per coldkey, the fee through the ledger) against the store.

pub mod access;
pub mod credits;
pub mod directory;
pub mod http;
pub mod signing;
pub mod verify;

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{AdmissionOutcome, Coldkey, Hotkey, TournamentId, TournamentType};

/// What a miner submitted: the repository and the exact commit to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    pub repo_url: String,
    pub commit_hash: String,
}

/// One miner's answer to a registration ping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub hotkey: Hotkey,
    pub coldkey: Coldkey,
    /// Stake in TAO: orders hotkeys of one coldkey when only one may enter.
    pub stake: f64,
    /// The submission, or why the miner is out (timeout, invalid JSON, gate failed, ...).
    pub answer: Result<Submission, (AdmissionOutcome, String)>,
}

pub type CandidatesFuture = Pin<Box<dyn Future<Output = Vec<Candidate>>>>;

pub trait RegistrationSource: 'static {
    /// Pings every miner of the directory for a tournament of `tournament_type`. `due` is when the
    /// rules scheduled this attempt (the caller waited for it); a simulated source answers relative to
    /// it, so a replayed attempt ends at the same virtual time.
    fn ping_all(
        &self,
        tournament: &TournamentId,
        tournament_type: TournamentType,
        due: DateTime<Utc>,
    ) -> CandidatesFuture;
}
