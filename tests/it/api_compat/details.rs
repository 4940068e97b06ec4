//! The reference's tournament details models (G.O.D 86623e97 `core/models/tournament_models.py`).

use serde::Deserialize;
use serde_json::Value;

use super::required;

/// `core/models/tournament_models.py` `TournamentType` (86623e97).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub(super) enum TournamentType {
    Text,
    Image,
}

/// `core/models/tournament_models.py` `TournamentStatus` (86623e97).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub(super) enum TournamentStatus {
    Pending,
    Active,
    Completed,
    Cancelled,
}

/// `core/models/utility_models.py` `TaskType` (86623e97), its values as the reference spells them.
#[derive(Debug, Deserialize)]
#[allow(clippy::enum_variant_names)]
pub(super) enum TaskType {
    InstructTextTask,
    ImageTask,
    DpoTask,
    GrpoTask,
    ChatTask,
}

/// `core/models/tournament_models.py` `TournamentDetailsResponse` (86623e97).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct TournamentDetailsResponse {
    pub(super) tournament_id: String,
    pub(super) tournament_type: TournamentType,
    pub(super) status: TournamentStatus,
    #[serde(deserialize_with = "required")]
    pub(super) base_winner_hotkey: Option<String>,
    #[serde(deserialize_with = "required")]
    pub(super) winner_hotkey: Option<String>,
    pub(super) participants: Vec<TournamentParticipant>,
    pub(super) rounds: Vec<DetailedTournamentRoundResult>,
    pub(super) final_scores: Vec<TournamentScore>,
    pub(super) text_tournament_weight: f64,
    pub(super) image_tournament_weight: f64,
    #[serde(default)]
    pub(super) boss_round_performance: Option<Vec<TaskPerformanceDifference>>,
    #[serde(default)]
    pub(super) sync_performance: Option<Vec<TournamentPerformanceData>>,
    /// Newer only.
    #[serde(default)]
    pub(super) diff_report: Option<String>,
    /// Newer only.
    #[serde(default)]
    pub(super) environment_tournament_weight: Option<f64>,
}

/// `core/models/tournament_models.py` `TournamentParticipant` (86623e97).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct TournamentParticipant {
    pub(super) tournament_id: String,
    pub(super) hotkey: String,
    #[serde(default)]
    pub(super) eliminated_in_round_id: Option<String>,
    #[serde(default)]
    pub(super) final_position: Option<i64>,
    #[serde(default)]
    pub(super) training_repo: Option<String>,
    #[serde(default)]
    pub(super) training_commit_hash: Option<String>,
    #[serde(default)]
    pub(super) backup_repo: Option<String>,
    /// Newer only.
    #[serde(default)]
    pub(super) github_token: Option<String>,
    /// Newer only.
    #[serde(default)]
    pub(super) requested_datasets: Option<Vec<String>>,
}

/// `core/models/tournament_models.py` `DetailedTournamentRoundResult` (86623e97).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct DetailedTournamentRoundResult {
    pub(super) round_id: String,
    pub(super) round_number: i64,
    pub(super) round_type: String,
    pub(super) is_final_round: bool,
    pub(super) status: String,
    pub(super) participants: Vec<String>,
    pub(super) tasks: Vec<DetailedTournamentTaskScore>,
}

/// `core/models/tournament_models.py` `DetailedTournamentTaskScore` (86623e97).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct DetailedTournamentTaskScore {
    pub(super) task_id: String,
    #[serde(deserialize_with = "required")]
    pub(super) group_id: Option<String>,
    #[serde(deserialize_with = "required")]
    pub(super) pair_id: Option<String>,
    #[serde(deserialize_with = "required")]
    pub(super) winner: Option<String>,
    pub(super) participant_scores: Vec<ParticipantScore>,
    #[serde(default)]
    pub(super) task_type: Option<TaskType>,
    /// Newer only.
    #[serde(default)]
    pub(super) environment_names: Option<Vec<String>>,
    /// Newer only.
    #[serde(default)]
    pub(super) pvp_pair_results: Option<Vec<Value>>,
    /// Newer only.
    #[serde(default)]
    pub(super) pvp_individual_scores: Option<Vec<Value>>,
}

/// A `participant_scores` entry: the dict `validator/db/sql/submissions_and_scoring.py`
/// `get_all_scores_and_losses_for_task` builds (86623e97).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct ParticipantScore {
    pub(super) hotkey: String,
    #[serde(deserialize_with = "required")]
    pub(super) quality_score: Option<f64>,
    #[serde(deserialize_with = "required")]
    pub(super) test_loss: Option<f64>,
    #[serde(deserialize_with = "required")]
    pub(super) synth_loss: Option<f64>,
    #[serde(deserialize_with = "required")]
    pub(super) score_reason: Option<String>,
}

/// `core/models/tournament_models.py` `TournamentScore` (86623e97).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct TournamentScore {
    pub(super) hotkey: String,
    pub(super) score: f64,
}

/// `core/models/tournament_models.py` `TaskPerformanceDifference` (86623e97).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct TaskPerformanceDifference {
    pub(super) task_id: String,
    pub(super) task_type: String,
    #[serde(deserialize_with = "required")]
    pub(super) boss_score: Option<f64>,
    #[serde(deserialize_with = "required")]
    pub(super) challenger_score: Option<f64>,
    pub(super) threshold_used: f64,
    #[serde(deserialize_with = "required")]
    pub(super) performance_difference: Option<f64>,
    pub(super) challenger_won: bool,
}

/// `core/models/tournament_models.py` `TournamentPerformanceData` (86623e97).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct TournamentPerformanceData {
    pub(super) tournament_task_id: String,
    pub(super) synthetic_task_id: String,
    pub(super) task_type: String,
    pub(super) tournament_winner_score: f64,
    pub(super) best_synthetic_score: f64,
    pub(super) performance_difference: f64,
}

/// `core/models/tournament_models.py` `LatestTournamentsDetailsResponse` (86623e97).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct LatestTournamentsDetailsResponse {
    #[serde(deserialize_with = "required")]
    pub(super) text: Option<TournamentDetailsResponse>,
    #[serde(deserialize_with = "required")]
    pub(super) image: Option<TournamentDetailsResponse>,
    pub(super) burn_data: TournamentBurnData,
    /// Newer only.
    #[serde(default)]
    pub(super) environment: Option<TournamentDetailsResponse>,
}

/// `core/models/tournament_models.py` `TournamentBurnData` (86623e97).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct TournamentBurnData {
    #[serde(deserialize_with = "required")]
    pub(super) text_performance_diff: Option<f64>,
    #[serde(deserialize_with = "required")]
    pub(super) image_performance_diff: Option<f64>,
    pub(super) text_burn_proportion: f64,
    pub(super) image_burn_proportion: f64,
    pub(super) text_tournament_weight: f64,
    pub(super) image_tournament_weight: f64,
    pub(super) burn_weight: f64,
    /// Newer only.
    #[serde(default)]
    pub(super) environment_performance_diff: Option<f64>,
    /// Newer only.
    #[serde(default)]
    pub(super) environment_burn_proportion: Option<f64>,
    /// Newer only.
    #[serde(default)]
    pub(super) environment_tournament_weight: Option<f64>,
}
