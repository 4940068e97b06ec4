//! The simulated registration source: every miner of the simulated world answers (or fails to) as its
//! behaviour says, after a seeded delay within the ping timeout.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::SharedClock;

use super::{Behaviour, SimWorld};
use crate::domain::{AdmissionOutcome, TournamentId, TournamentType};
use crate::miners::{Candidate, CandidatesFuture, RegistrationSource, Submission};

pub struct SimulatedRegistration {
    world: Arc<SimWorld>,
    clock: SharedClock,
    /// A real repository every answering miner submits (when trainings really run).
    repository: Option<Submission>,
}

impl SimulatedRegistration {
    pub fn new(world: Arc<SimWorld>, clock: SharedClock) -> Self {
        Self { world, clock, repository: None }
    }

    /// Every miner that answers submits `repository` instead of a made-up one.
    pub fn submitting(mut self, repository: Submission) -> Self {
        self.repository = Some(repository);
        self
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
            .map(|m| {
                let answer = match m.behaviour {
                    Behaviour::TimesOut => Err((AdmissionOutcome::Timeout, "no answer within 10 s".to_owned())),
                    Behaviour::Garbage => Err((
                        AdmissionOutcome::InvalidJson,
                        "expected value at line 1 column 1 (the body was HTML)".to_owned(),
                    )),
                    Behaviour::BadRepo => Err((AdmissionOutcome::GateFailed, format!("missing {dockerfile}"))),
                    Behaviour::Good | Behaviour::NoFee => Ok(self.repository.clone().unwrap_or_else(|| Submission {
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
        let wait = self.clock.until(due + chrono::Duration::seconds(10));
        Box::pin(async move {
            tokio::time::sleep(wait).await;
            candidates
        })
    }
}
