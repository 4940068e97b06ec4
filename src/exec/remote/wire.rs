//! The trainer API's wire format (trainer-node-api.md) as a validator speaks it: the start request it
//! sends, and the answers, task records and GPU lists it reads. Field names, status strings and
//! messages are the reference's, so the node may be the reference's Python implementation; the
//! node's own side (`node::wire`) writes what this reads.
//!
//! Extra fields, which the reference ignores: in a start request `tournament_id`, `attempt`,
//! `task_type` and `model_params` (so our node runs exactly the validator's job); in a task record
//! `attempt`, `test_loss`, `synth_loss`, `evaluation` (is_finetune, the output's time, GRPO rewards and
//! KL, the image that ran) and `failure_kind` (so our validator can score a remote run and tell a
//! failed run from one that never started).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::domain::task_scores::EvalFacts;
use crate::domain::{ModelType, NodeFailure, NodeTaskStatus, TaskType};
use crate::exec::TrainingJob;

/// The answer to an accepted start.
pub const STARTED: &str = "Started Training!";
/// The answer (or failure log line) when the repository cannot be fetched at the requested commit.
pub const CLONE_ERROR: &str = "Error cloning github repository";
/// The answer to a stopped run (`POST /v1/trainer/cancel_training`, crucible's extension of the
/// protocol), and the last log line of its task record.
pub const CANCELLED: &str = "Training cancelled by the validator";
/// One entry of `GET /v1/trainer/get_gpu_availability`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuInfo {
    /// The NVML index (or the configured index).
    pub gpu_id: u32,
    /// The GPU class, e.g. `H100`.
    pub gpu_type: String,
    pub vram_gb: u32,
    pub available: bool,
    /// When the training holding it is due to end (RFC 3339), if held.
    pub used_until: Option<String>,
}

/// The request that stops `job`'s attempt on a node (crucible's extension of the protocol).
pub fn cancel_body(job: &TrainingJob) -> Value {
    json!({ "task_id": job.task_id, "hotkey": job.hotkey, "attempt": job.attempt })
}

/// The start request a validator sends for `job` (text or image shape, `gpu_ids` from its placement).
pub fn start_body(job: &TrainingJob) -> Value {
    let training_data = match job.task_type {
        TaskType::Image => json!({
            "model": job.model,
            "task_id": job.task_id,
            "hours_to_complete": job.hours_to_complete,
            "expected_repo_name": job.expected_repo_name,
            "dataset_zip": job.dataset,
            "model_type": job.model_type.unwrap_or(ModelType::Sdxl),
        }),
        _ => json!({
            "model": job.model,
            "task_id": job.task_id,
            "hours_to_complete": job.hours_to_complete,
            "expected_repo_name": job.expected_repo_name,
            "dataset": job.dataset,
            "dataset_type": serde_json::from_str::<Value>(&job.dataset_type_json)
                .unwrap_or_else(|_| Value::String(job.dataset_type_json.clone())),
            "file_format": job.file_format,
        }),
    };
    json!({
        "training_data": training_data,
        "github_repo": job.repo_url,
        "github_commit_hash": job.commit_hash,
        "github_branch": null,
        "gpu_ids": job.placement.gpu_indices,
        "hotkey": job.hotkey,
        "tournament_id": job.tournament_id,
        "attempt": job.attempt,
        "task_type": job.task_type,
        "model_params": job.model_params,
    })
}

/// What a validator reads from a task record.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskReport {
    pub status: NodeTaskStatus,
    pub logs: Vec<String>,
    /// The attempt the record is about (our node only).
    pub attempt: Option<u32>,
    /// Present when the node scored the run (our node only).
    pub test_loss: Option<f64>,
    pub synth_loss: Option<f64>,
    /// What the node's evaluation said beside the value (our node only).
    pub eval: EvalFacts,
    pub failure: Option<NodeFailure>,
}

/// Parses a task record; only `status` is required, so a reference node's records read too.
pub fn parse_task_report(body: &[u8]) -> Result<TaskReport, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let object = value.as_object().ok_or("not a JSON object")?;
    let logs = match object.get("logs") {
        Some(Value::Array(lines)) => {
            lines.iter().map(|l| l.as_str().map_or_else(|| l.to_string(), str::to_owned)).collect()
        }
        Some(Value::String(text)) => text.lines().map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    let status = object.get("status").filter(|v| !v.is_null()).ok_or("missing field `status`")?;
    Ok(TaskReport {
        status: NodeTaskStatus::deserialize(status).map_err(|e| format!("field `status`: {e}"))?,
        logs,
        attempt: optional(object, "attempt"),
        test_loss: optional(object, "test_loss"),
        synth_loss: optional(object, "synth_loss"),
        eval: optional(object, "evaluation").unwrap_or_default(),
        failure: optional(object, "failure_kind"),
    })
}

/// A field that reads as `T`, else `None`.
fn optional<T: serde::de::DeserializeOwned>(object: &Map<String, Value>, name: &str) -> Option<T> {
    object.get(name).filter(|v| !v.is_null()).and_then(|v| T::deserialize(v).ok())
}

/// The answer to a start request.
#[derive(Debug, Clone, PartialEq)]
pub enum StartAnswer {
    Started,
    /// The repository cannot be fetched: the node's `error`.
    CloneError(String),
}

pub fn parse_start_answer(body: &[u8]) -> Result<StartAnswer, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let message = value.get("message").and_then(Value::as_str).ok_or("no `message` string")?;
    match message {
        STARTED => Ok(StartAnswer::Started),
        CLONE_ERROR => {
            let error = value.get("error").and_then(Value::as_str).unwrap_or("no detail given");
            Ok(StartAnswer::CloneError(error.to_owned()))
        }
        other => Err(format!("unexpected message {other:?}")),
    }
}
