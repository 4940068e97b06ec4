//! The trainer API's wire format (trainer-node-api.md), both ways: the node parses start requests and
//! writes task records and GPU lists; the remote executor writes start requests and reads the answers.
//! Field names, status strings and messages are the reference's, so either side can be the reference's
//! Python implementation.
//!
//! Extra fields, which the reference ignores: in a start request `tournament_id`, `attempt`,
//! `task_type` and `model_params` (so our node runs exactly the validator's job); in a task record
//! `attempt`, `test_loss`, `synth_loss` and `failure_kind` (so our validator can score a remote run and
//! tell a failed run from one that never started).

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::domain::gpu::Placement;
use crate::domain::{Hotkey, ModelType, NodeFailure, NodeTaskStatus, TaskId, TaskType, TournamentId};
use crate::exec::TrainingJob;
use crate::store::NodeTask;

/// The answer to an accepted start.
pub const STARTED: &str = "Started Training!";
/// The answer (or failure log line) when the repository cannot be fetched at the requested commit.
pub const CLONE_ERROR: &str = "Error cloning github repository";
/// The node id of placements on a node: a node knows only itself.
pub const LOCAL_NODE: &str = "local";

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

/// A parsed `POST /v1/trainer/start_training` body.
#[derive(Debug, Clone, PartialEq)]
pub struct StartRequest {
    /// The body as received, kept for the task record.
    pub raw: Map<String, Value>,
    /// The job it describes, placed on [`LOCAL_NODE`] with the requested `gpu_ids`.
    pub job: TrainingJob,
    /// The validator's attempt number, when it sent one.
    pub attempt: Option<u32>,
}

/// Reads fields of one JSON object; every error names the field with its path.
struct Fields<'a> {
    object: &'a Map<String, Value>,
    path: &'static str,
}

impl Fields<'_> {
    fn optional<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, String> {
        match self.object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => T::deserialize(value).map(Some).map_err(|e| format!("field `{}{name}`: {e}", self.path)),
        }
    }

    fn required<T: DeserializeOwned>(&self, name: &str) -> Result<T, String> {
        self.optional(name)?.ok_or_else(|| format!("missing field `{}{name}`", self.path))
    }

    fn text(&self, name: &str) -> Result<String, String> {
        let value: String = self.required(name)?;
        if value.trim().is_empty() {
            return Err(format!("field `{}{name}`: must not be empty", self.path));
        }
        Ok(value)
    }
}

/// Parses a start request body; the error names the offending field.
pub fn parse_start(body: &[u8]) -> Result<StartRequest, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    match value {
        Value::Object(raw) => parse_start_object(raw),
        _ => Err("the body is not a JSON object".into()),
    }
}

/// Parses a start request already read as a JSON object (a stored record's request, after a restart).
pub fn parse_start_object(raw: Map<String, Value>) -> Result<StartRequest, String> {
    let top = Fields { object: &raw, path: "" };
    let data: Map<String, Value> = top.required("training_data")?;
    let td = Fields { object: &data, path: "training_data." };
    let task_id: TaskId = td.required("task_id")?;
    let hotkey: Hotkey = top.required("hotkey")?;
    let hours: f64 = td.required("hours_to_complete")?;
    if !(hours.is_finite() && hours > 0.0) {
        return Err("field `training_data.hours_to_complete`: must be a positive number of hours".into());
    }
    let gpu_ids: Vec<u32> = top.required("gpu_ids")?;
    if gpu_ids.is_empty() {
        return Err("field `gpu_ids`: must name at least one GPU".into());
    }
    let image = data.contains_key("dataset_zip");
    let (task_type, dataset, dataset_type_json, model_type) = if image {
        let model_type: ModelType = td.required("model_type")?;
        (TaskType::Image, td.text("dataset_zip")?, String::new(), Some(model_type))
    } else {
        let dataset_type: Value = td.required("dataset_type")?;
        let inferred = match &dataset_type {
            Value::Object(keys) => TaskType::infer_text(keys.keys().map(String::as_str)),
            _ => return Err("field `training_data.dataset_type`: must be a JSON object".into()),
        };
        let task_type = top.optional::<TaskType>("task_type")?.unwrap_or(inferred);
        if task_type == TaskType::Image {
            return Err("field `task_type`: ImageTask needs training_data.dataset_zip".into());
        }
        (task_type, td.text("dataset")?, dataset_type.to_string(), None)
    };
    let repo_url = top.text("github_repo")?;
    let commit = top.optional::<String>("github_commit_hash")?.filter(|c| !c.trim().is_empty());
    let branch = top.optional::<String>("github_branch")?.filter(|b| !b.trim().is_empty());
    let attempt: Option<u32> = top.optional("attempt")?;
    if attempt == Some(0) {
        return Err("field `attempt`: attempts count from 1".into());
    }
    let tournament_id = match top.optional::<TournamentId>("tournament_id")? {
        Some(id) => id,
        // The reference sends none; a stable stand-in keeps the job well-formed and its labels unique.
        None => TournamentId::new(stable_hash(task_id.as_str()), 1970, 1, 1),
    };
    let job = TrainingJob {
        tournament_id,
        task_id,
        hotkey,
        attempt: attempt.unwrap_or(1),
        task_type,
        model: td.text("model")?,
        model_params: top.optional("model_params")?,
        model_type,
        dataset,
        dataset_type_json,
        hours_to_complete: hours,
        expected_repo_name: td.text("expected_repo_name")?,
        repo_url,
        // A commit, else a branch to fetch; empty means the repository's default branch.
        commit_hash: commit.or(branch).unwrap_or_default(),
        placement: Placement { node_id: LOCAL_NODE.into(), gpu_indices: gpu_ids },
    };
    Ok(StartRequest { raw, job, attempt })
}

fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
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
            "file_format": "s3",
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

/// A task record as `GET /v1/trainer/{task_id}` answers it: the request fields plus the status.
pub fn task_json(task: &NodeTask) -> Value {
    let mut record = task.request.clone();
    let time = |at: DateTime<Utc>| Value::String(at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    record.insert("status".into(), Value::String(task.status.to_string()));
    record.insert("started_at".into(), time(task.started_at));
    record.insert("finished_at".into(), task.finished_at.map_or(Value::Null, time));
    record.insert("wandb_url".into(), Value::Null);
    record.insert("logs".into(), json!(task.logs));
    record.insert("attempt".into(), json!(task.attempt));
    record.insert("test_loss".into(), json!(task.test_loss));
    record.insert("synth_loss".into(), json!(task.synth_loss));
    record.insert("failure_kind".into(), json!(task.failure));
    Value::Object(record)
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
    pub failure: Option<NodeFailure>,
}

/// Parses a task record; only `status` is required, so a reference node's records read too.
pub fn parse_task_report(body: &[u8]) -> Result<TaskReport, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let object = value.as_object().ok_or("not a JSON object")?;
    let fields = Fields { object, path: "" };
    let logs = match object.get("logs") {
        Some(Value::Array(lines)) => {
            lines.iter().map(|l| l.as_str().map_or_else(|| l.to_string(), str::to_owned)).collect()
        }
        Some(Value::String(text)) => text.lines().map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    Ok(TaskReport {
        status: fields.required("status")?,
        logs,
        attempt: fields.optional("attempt").unwrap_or(None),
        test_loss: fields.optional("test_loss").unwrap_or(None),
        synth_loss: fields.optional("synth_loss").unwrap_or(None),
        failure: fields.optional("failure_kind").unwrap_or(None),
    })
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

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
