//! The miner contract (miner-contract.md §2) as data: the standard arguments a training image's
//! ENTRYPOINT receives, the pre-downloaded input paths, the output path, the environment and the labels
//! of a training container. Every executor (local Docker, remote node, trial) uses these, so a
//! repository sees the same thing wherever it runs.

use std::collections::BTreeMap;

use super::TrainingJob;
use crate::domain::TaskType;

/// Where the validator places inputs (read-only) inside the container.
pub const CACHE_DIR: &str = "/cache";

/// `/cache/models/<model with / replaced by -->`.
pub fn model_path(model: &str) -> String {
    format!("{CACHE_DIR}/models/{}", model.replace('/', "--"))
}

/// The dataset file of a task: `<task_id>_train_data.json` (text) or `<task_id>_tourn.zip` (image).
pub fn dataset_path(job: &TrainingJob) -> String {
    match job.task_type {
        TaskType::Image => format!("{CACHE_DIR}/datasets/{}_tourn.zip", job.task_id),
        _ => format!("{CACHE_DIR}/datasets/{}_train_data.json", job.task_id),
    }
}

/// Where the trained model must be written: `/app/checkpoints/<task_id>/<expected_repo_name>`.
pub fn output_path(job: &TrainingJob) -> String {
    format!("/app/checkpoints/{}/{}", job.task_id, job.expected_repo_name)
}

/// The standard arguments, as `--flag value` pairs in the reference's order.
pub fn standard_args(job: &TrainingJob) -> Vec<String> {
    let hours = (job.hours_to_complete.max(0.0).trunc() as u64).to_string();
    let pairs: Vec<(&str, String)> = match job.task_type {
        TaskType::Image => vec![
            ("--task-id", job.task_id.to_string()),
            ("--model", job.model.clone()),
            ("--dataset-zip", dataset_path(job)),
            ("--model-type", job.model_type.map_or_else(|| "sdxl".to_owned(), |t| t.to_string())),
            ("--expected-repo-name", job.expected_repo_name.clone()),
            ("--hours-to-complete", hours),
        ],
        text => vec![
            ("--task-id", job.task_id.to_string()),
            ("--model", job.model.clone()),
            ("--dataset", dataset_path(job)),
            ("--dataset-type", job.dataset_type_json.clone()),
            ("--task-type", text.to_string()),
            ("--file-format", job.file_format.to_string()),
            ("--expected-repo-name", job.expected_repo_name.clone()),
            ("--hours-to-complete", hours),
        ],
    };
    pairs.into_iter().flat_map(|(flag, value)| [flag.to_owned(), value]).collect()
}

/// The environment of a training container: WandB offline, its files inside the private output.
pub fn environment(job: &TrainingJob) -> Vec<String> {
    let out = output_path(job);
    vec![
        "WANDB_MODE=offline".to_owned(),
        format!("WANDB_DIR={out}/.wandb"),
        format!("WANDB_CACHE_DIR={out}/.wandb/cache"),
        format!("WANDB_CONFIG_DIR={out}/.wandb/config"),
        "HF_HUB_OFFLINE=1".to_owned(),
        "TRANSFORMERS_OFFLINE=1".to_owned(),
    ]
}

/// Label keys under which a validator finds its containers again after a restart.
pub mod labels {
    pub const TOURNAMENT: &str = "crucible.tournament";
    pub const TASK: &str = "crucible.task";
    pub const HOTKEY: &str = "crucible.hotkey";
    pub const ATTEMPT: &str = "crucible.attempt";
    /// `train`, `download` or `evaluate`.
    pub const ROLE: &str = "crucible.role";
    /// Which executor instance made it (its work directory), so instances sharing an engine never
    /// adopt or reap each other's containers.
    pub const OWNER: &str = "crucible.owner";
    /// A miner's image carries this one label in place of the others, because the engine's classic
    /// builder makes every label a step of its own and a step costs seconds on some storage drivers
    /// (six labels cost half a minute per build on fuse-overlayfs): `<owner hash> <task> <hotkey>
    /// <attempt>`, none of which holds a space.
    pub const BUILD: &str = "crucible.build";
}

pub fn container_labels(job: &TrainingJob, role: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::ROLE.to_owned(), role.to_owned()),
        (labels::TOURNAMENT.to_owned(), job.tournament_id.to_string()),
        (labels::TASK.to_owned(), job.task_id.to_string()),
        (labels::HOTKEY.to_owned(), job.hotkey.to_string()),
        (labels::ATTEMPT.to_owned(), job.attempt.to_string()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::gpu::Placement;
    use crate::domain::{Hotkey, ModelType, TaskId, TournamentId};

    fn job(task_type: TaskType) -> TrainingJob {
        TrainingJob {
            tournament_id: TournamentId::new(1, 2026, 11, 25),
            task_id: TaskId::parse("task-1").unwrap(),
            hotkey: Hotkey::synthetic(1),
            attempt: 2,
            task_type,
            model: "org/Model-7B".into(),
            model_params: Some(7_000_000_000),
            model_type: (task_type == TaskType::Image).then_some(ModelType::Flux),
            dataset: "org/data".into(),
            dataset_type_json: r#"{"field_prompt":"p"}"#.into(),
            file_format: crate::domain::FileFormat::default(),
            hours_to_complete: 3.9,
            expected_repo_name: "tournament-x-task-1-5abc".into(),
            repo_url: "https://example.invalid/r".into(),
            commit_hash: "0".repeat(40),
            placement: Placement { node_id: crate::domain::NodeId::parse("n").unwrap(), gpu_indices: vec![0] },
        }
    }

    #[test]
    fn text_tasks_get_the_reference_arguments() {
        let args = standard_args(&job(TaskType::Dpo));
        assert_eq!(
            args,
            [
                "--task-id",
                "task-1",
                "--model",
                "org/Model-7B",
                "--dataset",
                "/cache/datasets/task-1_train_data.json",
                "--dataset-type",
                r#"{"field_prompt":"p"}"#,
                "--task-type",
                "DpoTask",
                "--file-format",
                "s3",
                "--expected-repo-name",
                "tournament-x-task-1-5abc",
                "--hours-to-complete",
                "3",
            ]
        );
    }

    #[test]
    fn image_tasks_get_the_zip_and_model_type() {
        let args = standard_args(&job(TaskType::Image));
        assert_eq!(args[4..8], ["--dataset-zip", "/cache/datasets/task-1_tourn.zip", "--model-type", "flux"]);
        assert_eq!(args.len(), 12);
    }

    #[test]
    fn paths_environment_and_labels() {
        let j = job(TaskType::InstructText);
        assert_eq!(model_path(&j.model), "/cache/models/org--Model-7B");
        assert_eq!(output_path(&j), "/app/checkpoints/task-1/tournament-x-task-1-5abc");
        assert!(environment(&j).contains(&"WANDB_MODE=offline".to_owned()));
        assert!(
            environment(&j)
                .iter()
                .all(|e| !e.starts_with("WANDB_DIR=") || e.starts_with("WANDB_DIR=/app/checkpoints/task-1/"))
        );
        assert_eq!(container_labels(&j, "train")[labels::ATTEMPT], "2");
    }
}
