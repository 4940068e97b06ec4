//! The reference's trainer, training-count and transfer models (G.O.D 86623e97
//! `core/models/utility_models.py`, `validator/db/sql/tournaments.py`, `validator/core/transfer_models.py`,
//! `validator/endpoints/transfer_balances.py`).

use serde::Deserialize;

use super::Time;

/// `core/models/utility_models.py` `GPUType` (86623e97).
#[derive(Debug, Deserialize)]
pub(super) enum GpuType {
    H100,
    A100,
    A6000,
}

/// `core/models/utility_models.py` `TrainerInfo` (86623e97).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct TrainerInfo {
    pub(super) trainer_ip: String,
    pub(super) gpus: Vec<GpuInfo>,
}

/// `core/models/utility_models.py` `GPUInfo` (86623e97).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct GpuInfo {
    pub(super) gpu_id: i64,
    pub(super) gpu_type: GpuType,
    pub(super) vram_gb: i64,
    pub(super) available: bool,
    #[serde(default)]
    pub(super) used_until: Option<Time>,
    /// Newer only (gradients-ai `core/models/trainer_contract_models.py`).
    #[serde(default)]
    pub(super) updated_at: Option<Time>,
    /// Newer only.
    #[serde(default)]
    pub(super) product_name: Option<String>,
    /// Newer only: "SXM" | "PCIe" | "NVL" | "unknown".
    #[serde(default)]
    pub(super) interconnect: Option<String>,
    /// Newer only.
    #[serde(default)]
    pub(super) nvlink: Option<bool>,
}

/// The dict `validator/db/sql/tournaments.py` `get_tournament_training_stats` returns (86623e97).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct TrainingStats {
    pub(super) total_pairs: i64,
    pub(super) pending: i64,
    pub(super) success: i64,
    pub(super) failure: i64,
    #[serde(default)]
    pub(super) training: Option<i64>,
    pub(super) avg_attempts: serde_json::Number,
    pub(super) max_attempts: i64,
}

/// `validator/core/transfer_models.py` `ColdkeyBalanceResponse` (86623e97).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct ColdkeyBalanceResponse {
    pub(super) coldkey: String,
    pub(super) balance_rao: i64,
    pub(super) total_sent_rao: i64,
    pub(super) transfer_count: i64,
    #[serde(default)]
    pub(super) last_transfer_at: Option<Time>,
    #[serde(default)]
    pub(super) created_at: Option<Time>,
    #[serde(default)]
    pub(super) updated_at: Option<Time>,
}

/// `validator/core/transfer_models.py` `TournamentFeesResponse` (86623e97).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct TournamentFeesResponse {
    pub(super) text_tournament_fee_rao: i64,
    pub(super) image_tournament_fee_rao: i64,
    /// Newer only.
    #[serde(default)]
    pub(super) environment_tournament_fee_rao: Option<i64>,
}

/// `validator/core/transfer_models.py` `BalanceEventResponse` (86623e97).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct BalanceEventResponse {
    pub(super) id: i64,
    pub(super) tournament_id: String,
    pub(super) coldkey: String,
    pub(super) event_type: String,
    pub(super) amount_rao: i64,
    #[serde(default)]
    pub(super) description: Option<String>,
    pub(super) created_at: Time,
    pub(super) updated_at: Time,
}

/// The dict `validator/endpoints/transfer_balances.py` `refund_tournament_endpoint` returns (86623e97).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct RefundResponse {
    pub(super) tournament_id: String,
    pub(super) refunds_processed: i64,
    pub(super) message: String,
}
