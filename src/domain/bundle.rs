//! The results bundle: everything the weight computation reads, as a validator exports it for
//! auditors and as `crucible rules weights --input FILE` reads it back. The format is documented in
//! `docs/results-bundle.md`; its version string is [`BUNDLE_FORMAT`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{Hotkey, TaskId, TournamentId};
use super::kinds::{RoundKind, TaskType, TournamentType};
use super::scoring::{BossTask, TrainingResult, boss_task, performance_difference};
use super::state::TournamentStatus;

/// The version tag every bundle carries in its `format` field.
pub const BUNDLE_FORMAT: &str = "crucible-results/1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultsBundle {
    pub format: String,
    pub house_hotkey: Hotkey,
    #[serde(default)]
    pub exported_at: Option<DateTime<Utc>>,
    pub tournaments: Vec<TournamentRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TournamentRecord {
    pub id: TournamentId,
    #[serde(rename = "type")]
    pub tournament_type: TournamentType,
    /// Its track (`domain::tracks`); absent for its type's default track.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track: Option<String>,
    pub status: TournamentStatus,
    /// The champion when the tournament was created (the house trained with its repository).
    #[serde(default)]
    pub base_winner_hotkey: Option<Hotkey>,
    /// Who won: a challenger, or the house when the champion kept the title.
    #[serde(default)]
    pub winner_hotkey: Option<Hotkey>,
    #[serde(default)]
    pub winning_performance_difference: Option<f64>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub participants: Vec<ParticipantRecord>,
    #[serde(default)]
    pub rounds: Vec<RoundRecord>,
}

impl TournamentRecord {
    /// The track it belongs to: its own, or its type's default track.
    pub fn track(&self) -> &str {
        self.track.as_deref().unwrap_or(self.tournament_type.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParticipantRecord {
    pub hotkey: Hotkey,
    #[serde(default)]
    pub eliminated_in_round: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundRecord {
    /// 1-based.
    pub number: u32,
    pub kind: RoundKind,
    #[serde(default)]
    pub is_final: bool,
    pub tasks: Vec<TaskRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskRecord {
    pub id: TaskId,
    pub task_type: TaskType,
    /// GRPO: the weights of the task's reward functions, in order (normalises the rewards across the
    /// task's repositories when every result carries its `rewards`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reward_weights: Vec<f64>,
    pub results: Vec<TrainingResult>,
}

/// A bundle that parses but cannot be a validator's export.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("unsupported bundle format {0:?} (expected {BUNDLE_FORMAT:?})")]
    Format(String),
    #[error("tournament {0} appears twice")]
    DuplicateTournament(TournamentId),
    #[error("tournament {tournament}: round number {number} is not 1 or more, or appears twice")]
    BadRound { tournament: TournamentId, number: u32 },
    #[error("tournament {0} is completed but has no completed_at")]
    MissingCompletion(TournamentId),
    #[error(
        "tournament {tournament}: the stored winning_performance_difference {stored} is not the {recomputed} \
         its boss round gives"
    )]
    PerformanceDifference { tournament: TournamentId, stored: String, recomputed: String },
}

impl ResultsBundle {
    /// Checks what serde cannot: the version tag, unique ids and round numbers, completion times.
    pub fn validate(&self) -> Result<(), BundleError> {
        if self.format != BUNDLE_FORMAT {
            return Err(BundleError::Format(self.format.clone()));
        }
        let mut seen = std::collections::HashSet::new();
        for t in &self.tournaments {
            if !seen.insert(&t.id) {
                return Err(BundleError::DuplicateTournament(t.id.clone()));
            }
            let mut numbers = std::collections::HashSet::new();
            for r in &t.rounds {
                if r.number == 0 || !numbers.insert(r.number) {
                    return Err(BundleError::BadRound { tournament: t.id.clone(), number: r.number });
                }
            }
            if t.status == TournamentStatus::Completed && t.completed_at.is_none() {
                return Err(BundleError::MissingCompletion(t.id.clone()));
            }
            self.check_performance_difference(t)?;
        }
        Ok(())
    }

    /// A completed tournament's stored performance difference is the one its boss round gives.
    fn check_performance_difference(&self, t: &TournamentRecord) -> Result<(), BundleError> {
        let (TournamentStatus::Completed, Some(stored), Some(boss)) =
            (t.status, t.winning_performance_difference, t.rounds.iter().find(|r| r.is_final))
        else {
            return Ok(());
        };
        let tasks: Vec<BossTask> = boss
            .tasks
            .iter()
            .map(|task| boss_task(task.task_type, &task.reward_weights, &task.results, &self.house_hotkey))
            .collect();
        let recomputed = performance_difference(&tasks);
        if (recomputed - stored).abs() > 1e-9 * recomputed.abs().max(1.0) {
            return Err(BundleError::PerformanceDifference {
                tournament: t.id.clone(),
                stored: stored.to_string(),
                recomputed: recomputed.to_string(),
            });
        }
        Ok(())
    }

    /// Completed tournaments of one track, oldest first.
    pub fn completed(&self, track: &str) -> Vec<&TournamentRecord> {
        let mut done: Vec<&TournamentRecord> =
            self.tournaments.iter().filter(|t| t.track() == track && t.status == TournamentStatus::Completed).collect();
        done.sort_by(|a, b| (a.completed_at, a.created_at, &a.id).cmp(&(b.completed_at, b.created_at, &b.id)));
        done
    }
}
