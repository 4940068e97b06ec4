//! The simulated registration source: every miner of the simulated world answers (or fails to) as its
//! behaviour says, after a seeded delay within the ping timeout.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::SharedClock;

use super::{Behaviour, SimWorld};
use crate::domain::{AdmissionOutcome, TournamentId, TournamentType};
use crate::miners::{Candidate, CandidatesFuture, RegistrationSource, Submission};

pub struct SimulatedRegistration {
    world: Arc<SimWorld>,
    clock: SharedClock,
    /// Real repositories the answering miners submit (when trainings really run): miner `i` submits
    /// the one at `i mod n`.
    repositories: Vec<Submission>,
    /// Answer at once instead of after the ping timeout (`crucible bench`).
    at_once: bool,
}

impl SimulatedRegistration {
    pub fn new(world: Arc<SimWorld>, clock: SharedClock) -> Self {
        Self { world, clock, repositories: Vec::new(), at_once: false }
    }

    /// Miners that answer submit these repositories instead of made-up ones: miner `i` the one at
    /// `i mod n`.
    /// Every ping round ends at once, however long its timeout (`crucible bench`).
    pub fn at_once(mut self) -> Self {
        self.at_once = true;
        self
    }

    pub fn submitting(mut self, repositories: Vec<Submission>) -> Self {
        self.repositories = repositories;
        self
    }
}

impl SimulatedRegistration {
    fn submission(&self, miner: usize) -> Option<Submission> {
        (!self.repositories.is_empty()).then(|| self.repositories[miner % self.repositories.len()].clone())
    }
}

impl RegistrationSource for SimulatedRegistration {
    fn ping_all(
        &self,
        tournament: &TournamentId,
        tournament_type: TournamentType,
        due: DateTime<Utc>,
    ) -> CandidatesFuture {
        let dockerfile = format!("dockerfiles/standalone-{tournament_type}-trainer.dockerfile");
        let candidates: Vec<Candidate> = self
            .world
            .miners
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let answer = match m.behaviour {
                    Behaviour::TimesOut => Err((AdmissionOutcome::Timeout, "no answer within 10 s".to_owned())),
                    Behaviour::Garbage => Err((
                        AdmissionOutcome::InvalidJson,
                        "expected value at line 1 column 1 (the body was HTML)".to_owned(),
                    )),
                    Behaviour::BadRepo => Err((AdmissionOutcome::GateFailed, format!("missing {dockerfile}"))),
                    Behaviour::Good | Behaviour::NoFee => Ok(self.submission(i).unwrap_or_else(|| Submission {
                        repo_url: format!("https://github.com/sim-miner/{}", &m.hotkey.as_str()[..12]),
                        commit_hash: format!(
                            "{:040x}",
                            crate::domain::ids::stable_hash(format!("{tournament}/{}", m.hotkey).as_bytes())
                        ),
                    })),
                };
                Candidate { hotkey: m.hotkey.clone(), coldkey: m.coldkey.clone(), stake: m.stake, answer }
            })
            .collect();
        // A ping round takes as long as the slowest answer may: the timeout, counted from when it was due.
        let wait = if self.at_once { Duration::ZERO } else { self.clock.until(due + chrono::Duration::seconds(10)) };
        Box::pin(async move {
            tokio::time::sleep(wait).await;
            candidates
        })
    }
}
