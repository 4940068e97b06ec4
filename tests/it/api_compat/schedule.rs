//! The reference's schedule, active, history and GPU requirement models (G.O.D 86623e97
//! `core/models/tournament_models.py`, `core/models/payload_models.py`).

use serde::Deserialize;
use serde_json::Value;

use super::details::{TournamentStatus, TournamentType};
use super::{Time, required};

/// `core/models/tournament_models.py` `NextTournamentDates` (86623e97).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct NextTournamentDates {
    pub(super) text: NextTournamentInfo,
    pub(super) image: NextTournamentInfo,
    /// Newer only.
    #[serde(default)]
    pub(super) environment: Option<Value>,
}

/// `core/models/tournament_models.py` `NextTournamentInfo` (86623e97).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct NextTournamentInfo {
    pub(super) tournament_type: TournamentType,
    #[serde(default)]
    pub(super) next_start_date: Option<Time>,
    #[serde(default)]
    pub(super) next_end_date: Option<Time>,
    #[serde(default)]
    pub(super) interval_hours: Option<i64>,
    #[serde(default)]
    pub(super) current_round_number: Option<i64>,
    #[serde(default)]
    pub(super) tournament_status: Option<String>,
    /// Newer only.
    #[serde(default)]
    pub(super) scheduled_day_of_week: Option<i64>,
    /// Newer only.
    #[serde(default)]
    pub(super) scheduled_hour: Option<i64>,
    /// Newer only.
    #[serde(default)]
    pub(super) scheduled_minute: Option<i64>,
}

/// `core/models/tournament_models.py` `ActiveTournamentsResponse` (86623e97).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct ActiveTournamentsResponse {
    #[serde(deserialize_with = "required")]
    pub(super) text: Option<ActiveTournamentInfo>,
    #[serde(deserialize_with = "required")]
    pub(super) image: Option<ActiveTournamentInfo>,
    /// Newer only.
    #[serde(default)]
    pub(super) environment: Option<ActiveTournamentInfo>,
}

/// `core/models/tournament_models.py` `ActiveTournamentInfo` and `ActiveTournamentParticipant` (86623e97).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct ActiveTournamentInfo {
    pub(super) tournament_id: String,
    pub(super) tournament_type: TournamentType,
    pub(super) status: TournamentStatus,
    pub(super) participants: Vec<ActiveTournamentParticipant>,
    pub(super) created_at: Time,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct ActiveTournamentParticipant {
    pub(super) hotkey: String,
}

/// `core/models/tournament_models.py` `TournamentHistoryResponse` and `TournamentHistoryEntry` (86623e97).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct TournamentHistoryResponse {
    pub(super) tournaments: Vec<TournamentHistoryEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct TournamentHistoryEntry {
    pub(super) tournament_id: String,
    pub(super) tournament_type: TournamentType,
    pub(super) status: TournamentStatus,
    #[serde(default)]
    pub(super) winner_hotkey: Option<String>,
    #[serde(default)]
    pub(super) base_winner_hotkey: Option<String>,
    #[serde(default)]
    pub(super) created_at: Option<Time>,
}

/// `core/models/payload_models.py` `TournamentGpuRequirementsResponse` and `GpuRequirementSummary` (86623e97).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct TournamentGpuRequirementsResponse {
    pub(super) gpu_requirements: Vec<GpuRequirementSummary>,
    pub(super) total_tasks: i64,
    pub(super) total_hours: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct GpuRequirementSummary {
    pub(super) gpu_type: String,
    pub(super) count: i64,
    pub(super) total_hours: f64,
}
