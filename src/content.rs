//! The task content a validator draws from (`[content] dir`): a directory of base models in Hugging
//! Face layout and datasets per task type, described by `content.json` (the download step, in
//! `evaluator/crucible_eval/content.py`, reads the same file). It becomes the rules' [`Catalog`]: each
//! dataset once per task type it serves, with the standardised dataset type a trainer receives
//! (evaluation.md §1.3), and the reward functions GRPO tasks draw from.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::domain::catalog::{Catalog, CatalogDataset, CatalogModel, RewardFunction};
use crate::domain::{ModelType, TaskType};

/// The file that describes a content directory.
pub const CONTENT_FILE: &str = "content.json";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContentFile {
    models: Vec<ModelEntry>,
    datasets: Vec<DatasetEntry>,
    #[serde(default)]
    reward_functions: Vec<RewardEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelEntry {
    id: String,
    path: String,
    params: u64,
    #[serde(default)]
    model_type: Option<ModelType>,
    /// Image models: the long side the evaluator scores at, when not the reference's 1024 (read by
    /// the download step, which hands it to the evaluator).
    #[serde(default)]
    resolution: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatasetEntry {
    id: String,
    path: String,
    rows: u64,
    task_types: Vec<TaskType>,
    #[serde(default)]
    columns: serde_json::Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RewardEntry {
    reward_id: String,
    reward_func: String,
}

/// A checked content directory.
#[derive(Debug, Clone)]
pub struct Content {
    pub dir: PathBuf,
    pub catalog: Catalog,
}

/// The chat fields a trainer gets when the dataset leaves them out (evaluation.md §1.3).
const CHAT_DEFAULTS: [(&str, &str); 6] = [
    ("chat_template", "chatml"),
    ("chat_column", "conversations"),
    ("chat_role_field", "from"),
    ("chat_content_field", "value"),
    ("chat_user_reference", "user"),
    ("chat_assistant_reference", "assistant"),
];

impl Content {
    /// Reads and checks `dir/content.json`; every problem is named, with the entry it is about.
    pub fn load(dir: &Path) -> Result<Content, Vec<String>> {
        let file = dir.join(CONTENT_FILE);
        let text = std::fs::read_to_string(&file).map_err(|e| vec![format!("{}: {e}", file.display())])?;
        let parsed: ContentFile = serde_json::from_str(&text).map_err(|e| vec![format!("{}: {e}", file.display())])?;
        let mut problems = Vec::new();
        let mut catalog = Catalog::default();
        for model in &parsed.models {
            let marker = if model.model_type.is_some() { "model_index.json" } else { "config.json" };
            if !dir.join(&model.path).join(marker).is_file() {
                problems.push(format!("model {}: {} has no {marker}", model.id, model.path));
            }
            if model.params == 0 {
                problems.push(format!("model {}: params must be its parameter count, not 0", model.id));
            }
            match (model.resolution, model.model_type) {
                (Some(0), _) => {
                    problems.push(format!("model {}: resolution must be a side in pixels, not 0", model.id))
                }
                (Some(_), None) => problems.push(format!("model {}: resolution is for image models only", model.id)),
                _ => {}
            }
            catalog.models.push(CatalogModel {
                id: model.id.clone(),
                params: Some(model.params),
                model_type: model.model_type,
            });
        }
        for dataset in &parsed.datasets {
            let path = dir.join(&dataset.path);
            if !path.exists() {
                problems.push(format!("dataset {}: {} does not exist", dataset.id, dataset.path));
            }
            if dataset.task_types.is_empty() {
                problems.push(format!("dataset {}: task_types is empty", dataset.id));
            }
            for &task_type in &dataset.task_types {
                match dataset_type(task_type, &dataset.columns) {
                    Ok(dataset_type) => catalog.datasets.push(CatalogDataset {
                        id: dataset.id.clone(),
                        rows: dataset.rows,
                        task_types: vec![task_type],
                        dataset_type,
                    }),
                    Err(missing) => problems.push(format!("dataset {} ({task_type}): {missing}", dataset.id)),
                }
            }
        }
        for reward in &parsed.reward_functions {
            if !reward.reward_func.contains("def ") {
                problems.push(format!("reward function {}: reward_func holds no Python function", reward.reward_id));
            }
            catalog.reward_functions.push(RewardFunction {
                reward_id: reward.reward_id.clone(),
                reward_func: reward.reward_func.clone(),
                func_hash: Sha256::digest(reward.reward_func.as_bytes()).iter().map(|b| format!("{b:02x}")).collect(),
            });
        }
        let serves_grpo = catalog.datasets.iter().any(|d| d.task_types.contains(&TaskType::Grpo));
        if serves_grpo && catalog.reward_functions.is_empty() {
            problems.push("a dataset serves GrpoTask but reward_functions is empty".into());
        }
        if problems.is_empty() { Ok(Content { dir: dir.to_path_buf(), catalog }) } else { Err(problems) }
    }
}

/// The dataset type a trainer receives for `task_type`: the standard column names the download step
/// rewrites the rows to. GRPO's reward functions are added when a task is drawn.
fn dataset_type(task_type: TaskType, columns: &serde_json::Map<String, Value>) -> Result<Value, String> {
    let has = |key: &str| columns.get(key).and_then(Value::as_str).is_some_and(|v| !v.is_empty());
    let require = |keys: &[&str]| {
        let missing: Vec<&str> = keys.iter().copied().filter(|k| !has(k)).collect();
        if missing.is_empty() { Ok(()) } else { Err(format!("columns lacks {}", missing.join(", "))) }
    };
    Ok(match task_type {
        TaskType::InstructText => {
            require(&["field_instruction", "field_output"])?;
            json!({
                "system_prompt": "", "system_format": "{system}", "field_system": null,
                "field_instruction": "instruct", "field_input": if has("field_input") { json!("input") } else { Value::Null },
                "field_output": "output", "format": null, "no_input_format": null, "field": null,
            })
        }
        TaskType::Dpo => {
            require(&["field_prompt", "field_chosen", "field_rejected"])?;
            json!({
                "field_prompt": "prompt", "field_system": null, "field_chosen": "chosen", "field_rejected": "rejected",
                "prompt_format": null, "chosen_format": null, "rejected_format": null,
            })
        }
        TaskType::Grpo => {
            if !has("field_prompt") && !has("field_instruction") {
                return Err("columns lacks field_prompt (or field_instruction)".into());
            }
            json!({"field_prompt": "prompt", "reward_functions": [], "extra_column": null})
        }
        TaskType::Chat => {
            let mut fields = serde_json::Map::new();
            for (key, default) in CHAT_DEFAULTS {
                let value = columns.get(key).and_then(Value::as_str).filter(|v| !v.is_empty()).unwrap_or(default);
                fields.insert(key.into(), json!(value));
            }
            Value::Object(fields)
        }
        TaskType::Image => Value::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, content: Value) {
        std::fs::write(dir.join(CONTENT_FILE), content.to_string()).unwrap();
    }

    #[test]
    fn a_content_directory_becomes_a_catalog_with_standard_dataset_types() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("models/m")).unwrap();
        std::fs::write(dir.path().join("models/m/config.json"), "{}").unwrap();
        std::fs::write(dir.path().join("rows.json"), "[]").unwrap();
        write(
            dir.path(),
            json!({
                "models": [{"id": "tiny/m", "path": "models/m", "params": 1000}],
                "datasets": [{"id": "tiny/d", "path": "rows.json", "rows": 2400,
                    "task_types": ["InstructTextTask", "GrpoTask"],
                    "columns": {"field_instruction": "q", "field_output": "a"}}],
                "reward_functions": [{"reward_id": "len", "reward_func": "def f(completions, **kw):\n    return [1.0]"}],
            }),
        );
        let content = Content::load(dir.path()).unwrap();
        let catalog = &content.catalog;
        assert_eq!(catalog.models[0].params, Some(1000));
        assert_eq!(catalog.datasets.len(), 2, "one entry per task type");
        let instruct = &catalog.datasets[0];
        assert_eq!(instruct.task_types, [TaskType::InstructText]);
        assert_eq!(instruct.dataset_type["field_instruction"], "instruct");
        assert_eq!(instruct.dataset_type["field_input"], Value::Null);
        assert_eq!(catalog.datasets[1].dataset_type["field_prompt"], "prompt");
        assert_eq!(catalog.reward_functions[0].func_hash.len(), 64);
    }

    #[test]
    fn every_problem_is_named_with_its_entry() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            json!({
                "models": [{"id": "tiny/m", "path": "models/m", "params": 0, "resolution": 32}],
                "datasets": [
                    {"id": "tiny/dpo", "path": "dpo.json", "rows": 10, "task_types": ["DpoTask"], "columns": {"field_prompt": "p"}},
                    {"id": "tiny/grpo", "path": "g.json", "rows": 10, "task_types": ["GrpoTask"], "columns": {"field_prompt": "p"}},
                ],
            }),
        );
        let problems = Content::load(dir.path()).unwrap_err();
        let all = problems.join("\n");
        assert!(all.contains("model tiny/m: models/m has no config.json"), "{all}");
        assert!(all.contains("model tiny/m: params must be"), "{all}");
        assert!(all.contains("model tiny/m: resolution is for image models only"), "{all}");
        assert!(all.contains("dataset tiny/dpo: dpo.json does not exist"), "{all}");
        assert!(all.contains("dataset tiny/dpo (DpoTask): columns lacks field_chosen, field_rejected"), "{all}");
        assert!(all.contains("reward_functions is empty"), "{all}");
        let missing = tempfile::tempdir().unwrap();
        assert!(Content::load(missing.path()).unwrap_err()[0].contains("content.json"));
    }
}
