//! Task content for tests of the validator: the simulator's catalog written as a content directory,
//! with placeholder model folders and dataset files (the simulated executor never reads them).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::json;

/// Writes the simulator's catalog as a content directory under `dir` and returns its path.
pub fn write_sim_content(dir: &Path) -> PathBuf {
    let root = dir.join("content");
    let catalog = crucible::sim::catalog();
    let mut models = Vec::new();
    for model in &catalog.models {
        let path = format!("models/{}", model.id.replace('/', "--"));
        let marker = if model.model_type.is_some() { "model_index.json" } else { "config.json" };
        std::fs::create_dir_all(root.join(&path)).unwrap();
        std::fs::write(root.join(&path).join(marker), "{}").unwrap();
        let params = model.params.unwrap_or(2_600_000_000);
        models.push(json!({"id": model.id, "path": path, "params": params, "model_type": model.model_type}));
    }
    let mut datasets = Vec::new();
    for (n, dataset) in catalog.datasets.iter().enumerate() {
        let path = format!("datasets/{n}.json");
        std::fs::create_dir_all(root.join("datasets")).unwrap();
        std::fs::write(root.join(&path), "[]").unwrap();
        let columns = dataset.dataset_type.as_object().cloned().unwrap_or_default();
        datasets.push(json!({
            "id": dataset.id, "path": path, "rows": dataset.rows, "task_types": dataset.task_types, "columns": columns,
        }));
    }
    let reward = "def reward_length(completions, **kwargs):\n    return [float(len(c)) for c in completions]\n";
    let content = json!({
        "models": models,
        "datasets": datasets,
        "reward_functions": [{"reward_id": "length", "reward_func": reward}],
    });
    std::fs::write(root.join("content.json"), content.to_string()).unwrap();
    root
}

/// One content directory of the simulator's catalog shared by every validator a test starts.
pub fn sim_content() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = write_sim_content(dir.path());
        (dir, path)
    });
    path
}
