//! The simulated registration source: every miner of the simulated world answers (or fails to) as its
//! behaviour says, after a seeded delay within the ping timeout.

use std::sync::Arc;

use super::{Behaviour, SimWorld};
use crate::domain::{AdmissionOutcome, TournamentId, TournamentType};
use crate::miners::{Candidate, CandidatesFuture, RegistrationSource, Submission};

pub struct SimulatedRegistration {
    world: Arc<SimWorld>,
}

impl SimulatedRegistration {
    pub fn new(world: Arc<SimWorld>) -> Self {
        Self { world }
    }
}

impl RegistrationSource for SimulatedRegistration {
    fn ping_all(&self, tournament: &TournamentId, tournament_type: TournamentType) -> CandidatesFuture {
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
                    Behaviour::Good | Behaviour::NoFee => Ok(Submission {
                        repo_url: format!("https://github.com/sim-miner/{}", &m.hotkey.as_str()[..12]),
                        commit_hash: format!(
                            "{:040x}",
                            crate::domain::ids::stable_hash(format!("{tournament}/{}", m.hotkey).as_bytes())
                        ),
                    }),
                };
                Candidate { hotkey: m.hotkey.clone(), coldkey: m.coldkey.clone(), stake: m.stake, answer }
            })
            .collect();
        Box::pin(async move {
            // A ping round takes about as long as the slowest answer may: the timeout.
            tokio::time::sleep(std::time::Duration::from_secs(10)).await;
            candidates
        })
    }
}
