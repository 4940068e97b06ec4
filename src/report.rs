//! The report of a run, read back from the store: every tournament with its bracket round by round,
//! every task with its trainings, the winners, and the weights computed from the exported results
//! bundle. `simulate --report FILE` writes it as JSON; the terminal summary prints from it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::standings::quality_scores;
use crate::domain::weights::{TrackShare, WeightReport, compute_tracks};
use crate::domain::{Hotkey, RoundKind, TaskStatus, TournamentStatus, TournamentType, TrainingStatus};
use crate::store::{Store, StoreError, TournamentSnapshot};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub tournaments: Vec<TournamentReport>,
    /// Hotkey → weight; the house's entry is the burn.
    pub weights: std::collections::BTreeMap<Hotkey, f64>,
    pub weight_details: WeightReport,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TournamentReport {
    pub id: String,
    #[serde(rename = "type")]
    pub tournament_type: TournamentType,
    pub status: TournamentStatus,
    /// The boss round's winner (the house when the champion kept the title).
    pub winner: Option<Hotkey>,
    /// The champion going in.
    pub champion: Option<Hotkey>,
    pub winning_performance_difference: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub admitted: usize,
    pub not_admitted: Vec<(Hotkey, String)>,
    pub rounds: Vec<RoundReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundReport {
    pub number: u32,
    pub kind: RoundKind,
    pub is_final: bool,
    /// Groups (members) or pairs (two members each).
    pub brackets: Vec<Vec<Hotkey>>,
    /// Who went on from this round.
    pub advanced: Vec<Hotkey>,
    pub tasks: Vec<TaskReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskReport {
    pub id: String,
    pub task_type: String,
    pub model: String,
    pub hours: f64,
    pub replaced: bool,
    pub trainings: Vec<TrainingReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingReport {
    pub hotkey: Hotkey,
    pub status: TrainingStatus,
    pub attempts: u32,
    pub test_loss: Option<f64>,
    pub failure_reason: Option<String>,
    /// Once every training of the task has ended: the reference's task score (3, 0 or −1) and why.
    #[serde(default)]
    pub task_score: Option<f64>,
    #[serde(default)]
    pub score_reason: Option<String>,
}

/// Reads the report of every tournament in the store.
pub fn build(store: &Store, rules: &crate::domain::rules::Rules, at: DateTime<Utc>) -> Result<Report, StoreError> {
    let mut tournaments = Vec::new();
    for t in store.list_tournaments(None)? {
        tournaments.push(tournament_report(&store.tournament_snapshot(&t.id)?));
    }
    tournaments.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let bundle = store.export_bundle(&rules.house_hotkey, at)?;
    let tracks: Vec<TrackShare> = rules.tracks().iter().map(TrackShare::from).collect();
    let weight_details = compute_tracks(&bundle, &rules.weights, &tracks);
    Ok(Report { tournaments, weights: weight_details.weights.clone(), weight_details })
}

fn tournament_report(s: &TournamentSnapshot) -> TournamentReport {
    let t = &s.tournament;
    let real = s.participants.iter().filter(|p| !p.is_house);
    let rounds = s
        .rounds
        .iter()
        .map(|r| {
            let round = &r.round.round;
            let brackets: Vec<Vec<Hotkey>> = if r.round.groups.is_empty() {
                r.round.pairs.iter().map(|p| vec![p.hotkey_a.clone(), p.hotkey_b.clone()]).collect()
            } else {
                r.round.groups.iter().map(|g| g.members.clone()).collect()
            };
            let advanced = if round.status == crate::domain::RoundStatus::Completed {
                brackets
                    .iter()
                    .flatten()
                    .filter(|h| {
                        let p = s.participants.iter().find(|p| &p.hotkey == *h);
                        p.is_none_or(|p| p.eliminated_in_round.is_none_or(|n| n > round.number))
                    })
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            };
            let tasks = r
                .tasks
                .iter()
                .map(|task| {
                    let results: Option<Vec<_>> = task.trainings.iter().map(|t| t.result()).collect();
                    let weights = task.task.reward_weights();
                    let scores = results.map(|r| quality_scores(task.task.task_type, &weights, &r)).unwrap_or_default();
                    TaskReport {
                        id: task.task.id.to_string(),
                        task_type: task.task.task_type.to_string(),
                        model: task.task.model.clone(),
                        hours: task.task.hours_to_complete,
                        replaced: task.task.status == TaskStatus::Replaced,
                        trainings: task
                            .trainings
                            .iter()
                            .enumerate()
                            .map(|(i, tr)| TrainingReport {
                                hotkey: tr.hotkey.clone(),
                                status: tr.status,
                                attempts: tr.attempts,
                                test_loss: tr.test_loss,
                                failure_reason: tr.failure_reason.clone(),
                                task_score: scores.get(i).map(|s| s.score),
                                score_reason: scores.get(i).and_then(|s| s.reason.clone()),
                            })
                            .collect(),
                    }
                })
                .collect();
            RoundReport { number: round.number, kind: round.kind, is_final: round.is_final, brackets, advanced, tasks }
        })
        .collect();
    TournamentReport {
        id: t.id.to_string(),
        tournament_type: t.tournament_type,
        status: t.status,
        winner: t.winner_hotkey.clone(),
        champion: t.base_winner_hotkey.clone(),
        winning_performance_difference: t.winning_performance_difference,
        created_at: t.created_at,
        completed_at: t.completed_at,
        admitted: real.clone().filter(|p| p.admission == crate::domain::AdmissionOutcome::Admitted).count(),
        not_admitted: real
            .filter(|p| p.admission != crate::domain::AdmissionOutcome::Admitted)
            .map(|p| (p.hotkey.clone(), format!("{}: {}", p.admission, p.admission_reason)))
            .collect(),
        rounds,
    }
}
