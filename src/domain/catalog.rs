//! The task catalog: models, datasets and proven historical tasks to draw tasks from.

use rand::Rng;
use rand::RngExt;
use rand::seq::{IndexedRandom, SliceRandom};
use serde::{Deserialize, Serialize};

use super::kinds::{ModelType, TaskType};
use super::tasks::{BossTaskSource, ParamsRange, TaskRules, TaskSpec, text_hours};

/// A base model the catalog offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogModel {
    pub id: String,
    /// Parameter count; `None` when unknown.
    #[serde(default)]
    pub params: Option<u64>,
    /// Set for image models only.
    #[serde(default)]
    pub model_type: Option<ModelType>,
}

/// A dataset the catalog offers, with the task types it serves and its column mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogDataset {
    pub id: String,
    pub rows: u64,
    pub task_types: Vec<TaskType>,
    /// The `--dataset-type` JSON (miner-contract.md §3); `null` for image datasets.
    #[serde(default)]
    pub dataset_type: serde_json::Value,
}

/// A task that ran before, with how many trainings produced a score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoricalTask {
    pub draft: TaskDraft,
    pub successful_scores: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub models: Vec<CatalogModel>,
    pub datasets: Vec<CatalogDataset>,
    #[serde(default)]
    pub historical: Vec<HistoricalTask>,
    /// The reward functions a GRPO task draws from (the reference's generic, manual ones).
    #[serde(default)]
    pub reward_functions: Vec<RewardFunction>,
}

/// A reward function as Python source, as the reference stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RewardFunction {
    pub reward_id: String,
    pub reward_func: String,
    /// The sha-256 of `reward_func`, hex.
    pub func_hash: String,
}

/// How many reward functions a GRPO task gets at most, and the range of their raw weights before
/// they are normalised to sum 1 (evaluation.md §1.1: randint(1, 5), uniform(0.1, 10)).
pub const MAX_REWARD_FUNCTIONS: usize = 5;
pub const REWARD_WEIGHT_RANGE: (f64, f64) = (0.1, 10.0);

/// A fully chosen task, ready to be given an id and stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskDraft {
    pub task_type: TaskType,
    pub model: String,
    pub model_params: Option<u64>,
    pub model_type: Option<ModelType>,
    pub dataset: String,
    pub dataset_rows: Option<u64>,
    pub dataset_type: serde_json::Value,
    pub hours_to_complete: u32,
}

/// Why the catalog cannot serve a task spec.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CatalogError {
    #[error("the catalog has no {task_type} model between {}B and {}B parameters", .range[0], .range[1])]
    NoModel { task_type: TaskType, range: ParamsRange },
    #[error("the catalog has no image model")]
    NoImageModel,
    #[error("the catalog has no dataset for {0}")]
    NoDataset(TaskType),
}

impl Catalog {
    /// What the rules can ask for and this catalog cannot serve, each named with where it is drawn;
    /// empty when every task the rules can plan has a model and a dataset.
    pub fn gaps(&self, rules: &TaskRules) -> Vec<String> {
        let mut gaps = Vec::new();
        for (place, task_type, params_b) in super::tasks::possible_specs(rules) {
            let has_model = self.models.iter().any(|m| match params_b {
                None => m.model_type.is_some(),
                Some([lo, hi]) => {
                    m.model_type.is_none() && m.params.is_some_and(|p| (lo..=hi).contains(&(p as f64 / 1e9)))
                }
            });
            let mut missing = Vec::new();
            if !has_model {
                missing.push(match params_b {
                    None => CatalogError::NoImageModel,
                    Some(range) => CatalogError::NoModel { task_type, range },
                });
            }
            if !self.datasets.iter().any(|d| d.task_types.contains(&task_type)) {
                missing.push(CatalogError::NoDataset(task_type));
            }
            for error in missing {
                let gap = format!("{place}: {error}");
                if !gaps.contains(&gap) {
                    gaps.push(gap);
                }
            }
        }
        gaps
    }

    /// randint(1, 5) distinct reward functions with uniform(0.1, 10) weights normalised to sum 1, in
    /// the reference's `reward_functions` shape.
    pub fn draw_reward_functions<R: Rng + ?Sized>(&self, rng: &mut R) -> serde_json::Value {
        let most = MAX_REWARD_FUNCTIONS.min(self.reward_functions.len());
        let count = rng.random_range(1..=most);
        let chosen: Vec<&RewardFunction> = self.reward_functions.sample(rng, count).collect();
        let (lo, hi) = REWARD_WEIGHT_RANGE;
        let raw: Vec<f64> = chosen.iter().map(|_| rng.random_range(lo..hi)).collect();
        let total: f64 = raw.iter().sum();
        let functions = chosen
            .iter()
            .zip(&raw)
            .map(|(f, w)| {
                serde_json::json!({
                    "reward_id": f.reward_id, "reward_func": f.reward_func, "reward_weight": w / total,
                    "func_hash": f.func_hash, "is_generic": true, "is_manual": true,
                })
            })
            .collect();
        serde_json::Value::Array(functions)
    }

    /// Chooses a model, a dataset and the hours for `spec`.
    pub fn draft<R: Rng + ?Sized>(
        &self,
        spec: &TaskSpec,
        rules: &TaskRules,
        rng: &mut R,
    ) -> Result<TaskDraft, CatalogError> {
        let task_type = spec.task_type;
        let model = match spec.params_b {
            None => self.models.iter().filter(|m| m.model_type.is_some()).collect::<Vec<_>>().choose(rng).copied(),
            Some([lo, hi]) => self
                .models
                .iter()
                .filter(|m| m.model_type.is_none())
                .filter(|m| m.params.is_some_and(|p| (lo..=hi).contains(&(p as f64 / 1e9))))
                .collect::<Vec<_>>()
                .choose(rng)
                .copied(),
        };
        let model = model.ok_or(match spec.params_b {
            None => CatalogError::NoImageModel,
            Some(range) => CatalogError::NoModel { task_type, range },
        })?;
        let datasets: Vec<&CatalogDataset> =
            self.datasets.iter().filter(|d| d.task_types.contains(&task_type)).collect();
        let dataset = datasets.choose(rng).copied().ok_or(CatalogError::NoDataset(task_type))?;
        let hours = match (spec.hours, task_type) {
            (Some(hours), _) => hours,
            (None, TaskType::Image) => {
                let [lo, hi] = rules.image_hours;
                rng.random_range(lo..=hi.max(lo))
            }
            (None, _) => text_hours(dataset.rows, rules, rng),
        };
        let mut dataset_type = dataset.dataset_type.clone();
        if task_type == TaskType::Grpo && !self.reward_functions.is_empty() {
            dataset_type["reward_functions"] = self.draw_reward_functions(rng);
        }
        Ok(TaskDraft {
            task_type,
            model: model.id.clone(),
            model_params: model.params,
            model_type: model.model_type,
            dataset: dataset.id.clone(),
            dataset_rows: Some(dataset.rows),
            dataset_type,
            hours_to_complete: hours,
        })
    }

    /// [`Self::draft`]; when the catalog has no model of the type in the spec's size range, one of the
    /// type at any size. A task the catalog cannot draw as planned is replaced by one of the same type
    /// rather than failing its round (which would be retried for ever).
    pub fn draft_same_type<R: Rng + ?Sized>(
        &self,
        spec: &TaskSpec,
        rules: &TaskRules,
        rng: &mut R,
    ) -> Result<TaskDraft, CatalogError> {
        match self.draft(spec, rules, rng) {
            Err(CatalogError::NoModel { .. }) => {
                let any_size = TaskSpec { params_b: Some([0.0, f64::MAX]), ..spec.clone() };
                self.draft(&any_size, rules, rng)
            }
            other => other,
        }
    }

    /// The boss round's tasks: proven historical copies where configured and available, fresh drafts
    /// otherwise. Copies keep model, data and hours; the caller gives them new ids.
    pub fn draft_boss<R: Rng + ?Sized>(
        &self,
        specs: &[TaskSpec],
        rules: &TaskRules,
        rng: &mut R,
    ) -> Result<Vec<TaskDraft>, CatalogError> {
        let mut proven: Vec<&HistoricalTask> = match rules.boss_tasks {
            BossTaskSource::Historical => {
                self.historical.iter().filter(|h| h.successful_scores >= rules.historical_min_successes).collect()
            }
            BossTaskSource::Fresh => Vec::new(),
        };
        proven.shuffle(rng);
        specs
            .iter()
            .map(|spec| match proven.iter().position(|h| h.draft.task_type == spec.task_type) {
                Some(at) => Ok(proven.remove(at).draft.clone()),
                None => self.draft_same_type(spec, rules, rng),
            })
            .collect()
    }
}
