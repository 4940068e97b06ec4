//! The trainer API's wire format on the node's side: start requests parsed (every problem said as
//! pydantic would) and task records written. What a validator sends and reads is
//! `exec::remote::wire`, whose types and messages this shares.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::answers::Issue;
use super::checks::Check;
use crate::domain::gpu::Placement;
use crate::domain::task_scores::EvalFacts;
use crate::domain::{FileFormat, Hotkey, ModelType, NodeId, TaskId, TaskType, TournamentId};
use crate::exec::TrainingJob;
pub use crate::exec::remote::wire::{CANCELLED, CLONE_ERROR, GpuInfo, STARTED};
use crate::store::NodeTask;

/// The node id of placements on a node: a node knows only itself.
pub const LOCAL_NODE: &str = "local";

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

/// Parses a start request body, or says every way it does not validate, as pydantic would.
pub fn parse_start(body: &[u8]) -> Result<StartRequest, Vec<Issue>> {
    parse_start_object(json_object(body)?)
}

/// A parsed `POST /v1/trainer/cancel_training` body (crucible's extension of the trainer API).
#[derive(Debug, Clone, PartialEq)]
pub struct CancelRequest {
    pub task_id: TaskId,
    pub hotkey: Hotkey,
    /// Only this attempt is stopped, when given.
    pub attempt: Option<u32>,
}

/// Parses a cancel request body, or says every way it does not validate.
pub fn parse_cancel(body: &[u8]) -> Result<CancelRequest, Vec<Issue>> {
    let raw = json_object(body)?;
    let mut check = Check::default();
    let top = vec![json!("body")];
    let task_id = check.text(&raw, &top, "task_id", true).and_then(|t| check.parsed::<TaskId>(&top, "task_id", t));
    let hotkey = check.text(&raw, &top, "hotkey", true).and_then(|h| check.parsed::<Hotkey>(&top, "hotkey", h));
    let attempt: Option<Option<u32>> = check.extra(&raw, &top, "attempt");
    if attempt == Some(Some(0)) {
        check.value_error(&top, "attempt", "attempts count from 1", json!(0));
    }
    match (task_id, hotkey, attempt) {
        (Some(task_id), Some(hotkey), Some(attempt)) if check.issues.is_empty() => {
            Ok(CancelRequest { task_id, hotkey, attempt })
        }
        _ => Err(check.issues),
    }
}

/// A request body that must be a JSON object; otherwise the issue pydantic would raise.
fn json_object(body: &[u8]) -> Result<Map<String, Value>, Vec<Issue>> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        let position = e.column().saturating_sub(1);
        let ctx = format!("{e}");
        vec![Issue::new(
            "json_invalid",
            vec![json!("body"), json!(position)],
            format!("JSON decode error: {ctx}"),
            json!({}),
        )]
    })?;
    match value {
        Value::Object(raw) => Ok(raw),
        Value::Null => Err(vec![Issue::missing(vec![json!("body")], Value::Null)]),
        other => Err(vec![Issue::new(
            "model_attributes_type",
            vec![json!("body")],
            "Input should be a valid dictionary or object to extract fields from",
            other,
        )]),
    }
}

/// Parses a start request already read as a JSON object (also a stored record's request, after a
/// restart). Defaults the reference fills in are written into the kept request: a missing
/// `expected_repo_name` is derived, a missing image `model_type` is `sdxl`.
pub fn parse_start_object(mut raw: Map<String, Value>) -> Result<StartRequest, Vec<Issue>> {
    let mut check = Check::default();
    let top = vec![json!("body")];
    let hotkey = check.text(&raw, &top, "hotkey", true).and_then(|h| check.parsed::<Hotkey>(&top, "hotkey", h));
    let repo_url = check.text(&raw, &top, "github_repo", true);
    let gpu_ids = check.gpu_ids(&raw, &top);
    let commit = check.optional_text(&raw, &top, "github_commit_hash");
    let branch = check.optional_text(&raw, &top, "github_branch");
    let attempt: Option<Option<u32>> = check.extra(&raw, &top, "attempt");
    let tournament_id: Option<Option<TournamentId>> = check.extra(&raw, &top, "tournament_id");
    let sent_type: Option<Option<TaskType>> = check.extra(&raw, &top, "task_type");
    let model_params: Option<Option<u64>> = check.extra(&raw, &top, "model_params");
    if attempt == Some(Some(0)) {
        check.value_error(&top, "attempt", "attempts count from 1", json!(0));
    }
    let Some(mut data) = check.object(&raw, &top, "training_data") else {
        return Err(check.issues);
    };
    let image = data.contains_key("dataset_zip");
    let td = vec![
        json!("body"),
        json!("training_data"),
        json!(if image { "TrainRequestImage" } else { "TrainRequestText" }),
    ];
    let model = check.text(&data, &td, "model", true);
    let task_id = check.text(&data, &td, "task_id", false).and_then(|t| check.parsed::<TaskId>(&td, "task_id", t));
    let hours = check.hours(&data, &td);
    let repo_name = check.optional_text(&data, &td, "expected_repo_name").and_then(|n| check.repo_name(&td, n));
    let (task_type, dataset, dataset_type_json, model_type, file_format) = if image {
        let model_type = check.choice::<ModelType>(&data, &td, "model_type", Some(ModelType::Sdxl));
        if sent_type.flatten().is_some_and(|t| t != TaskType::Image) {
            check.value_error(&top, "task_type", "an image request (dataset_zip) is an ImageTask", json!(sent_type));
        }
        (
            Some(TaskType::Image),
            check.text(&data, &td, "dataset_zip", true),
            Some(String::new()),
            model_type,
            Some(FileFormat::default()),
        )
    } else {
        let dataset_type = check.object(&data, &td, "dataset_type");
        let inferred = dataset_type.as_ref().map(|keys| TaskType::infer_text(keys.keys().map(String::as_str)));
        let task_type = match (sent_type.flatten(), inferred) {
            (Some(TaskType::Image), _) => {
                check.value_error(&top, "task_type", "ImageTask needs training_data.dataset_zip", json!("ImageTask"));
                None
            }
            (Some(sent), _) => Some(sent),
            (None, inferred) => inferred,
        };
        let file_format = check.choice::<FileFormat>(&data, &td, "file_format", None);
        let json_text = dataset_type.map(|d| Value::Object(d).to_string());
        (task_type, check.text(&data, &td, "dataset", true), json_text, None, file_format)
    };
    let (Some(hotkey), Some(repo_url), Some(gpu_ids), Some(commit), Some(branch), Some(attempt)) =
        (hotkey, repo_url, gpu_ids, commit, branch, attempt)
    else {
        return Err(check.issues);
    };
    let (Some(tournament_id), Some(model_params), Some(model), Some(task_id), Some(hours), Some(repo_name)) =
        (tournament_id, model_params, model, task_id, hours, repo_name)
    else {
        return Err(check.issues);
    };
    let (Some(task_type), Some(dataset), Some(dataset_type_json), Some(file_format)) =
        (task_type, dataset, dataset_type_json, file_format)
    else {
        return Err(check.issues);
    };
    if !check.issues.is_empty() {
        return Err(check.issues);
    }
    let derived_repo_name = || match &tournament_id {
        Some(tournament) => crate::domain::ids::expected_repo_name(tournament, &task_id, &hotkey),
        // The reference's own fallback for a task without a name.
        None => format!("organic_{task_id}"),
    };
    let expected_repo_name = repo_name.filter(|n| !n.trim().is_empty()).unwrap_or_else(derived_repo_name);
    data.insert("expected_repo_name".into(), json!(expected_repo_name));
    if let Some(model_type) = model_type {
        data.insert("model_type".into(), json!(model_type));
    }
    raw.insert("training_data".into(), Value::Object(data));
    let tournament_id = match tournament_id {
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
        model,
        model_params,
        model_type,
        dataset,
        dataset_type_json,
        file_format,
        hours_to_complete: hours,
        expected_repo_name,
        repo_url,
        // A commit, else a branch to fetch; empty means the repository's default branch.
        commit_hash: commit
            .filter(|c| !c.trim().is_empty())
            .or(branch.filter(|b| !b.trim().is_empty()))
            .unwrap_or_default(),
        placement: Placement { node_id: NodeId::local(), gpu_indices: gpu_ids },
    };
    Ok(StartRequest { raw, job, attempt })
}

fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
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
    if task.eval != EvalFacts::default() {
        record.insert("evaluation".into(), json!(task.eval));
    }
    record.insert("failure_kind".into(), json!(task.failure));
    Value::Object(record)
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
