//! Tasks per round (tournament-rules.md §5): how many tasks a round gets and of which type, the model
//! size range each may use, and the training hours, drawn from a task catalog with a seeded generator.

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use super::bracket::Bracket;
use super::kinds::{TaskType, TournamentType};

/// A range of model sizes in billions of parameters, both ends included.
pub type ParamsRange = [f64; 2];

/// One band of the hours-from-dataset-size table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoursBand {
    /// Datasets with fewer rows than this use a lower band.
    pub min_rows: u64,
    pub min_hours: u32,
    pub max_hours: u32,
}

/// The weight of a task type in the knockout draw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeWeight {
    pub task_type: TaskType,
    pub weight: f64,
}

/// Where boss-round tasks come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BossTaskSource {
    /// Copies of proven historical tasks where the catalog holds them, fresh tasks otherwise.
    Historical,
    Fresh,
}

/// The numbers of task planning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskRules {
    pub group_params_b: ParamsRange,
    pub group_hours: u32,
    pub knockout_types: Vec<TypeWeight>,
    pub knockout_params_b: ParamsRange,
    /// Text boss round: this many tasks of each of `boss_text_types`.
    pub boss_tasks_per_type: u32,
    pub boss_text_types: Vec<TaskType>,
    pub boss_big_probability: f64,
    pub boss_big_params_b: ParamsRange,
    pub boss_params_b: ParamsRange,
    pub image_boss_tasks: u32,
    pub image_hours: [u32; 2],
    /// Bands by ascending `min_rows`; the first band also covers smaller datasets.
    pub text_hours: Vec<HoursBand>,
    pub boss_tasks: BossTaskSource,
    /// A historical task is proven when it has at least this many successful scores.
    pub historical_min_successes: u32,
}

impl Default for TaskRules {
    fn default() -> Self {
        let band = |min_rows, min_hours, max_hours| HoursBand { min_rows, min_hours, max_hours };
        let weight = |task_type, weight| TypeWeight { task_type, weight };
        Self {
            group_params_b: [0.1, 4.0],
            group_hours: 2,
            knockout_types: vec![
                weight(TaskType::InstructText, 0.5),
                weight(TaskType::Dpo, 0.1875),
                weight(TaskType::Grpo, 0.3125),
            ],
            knockout_params_b: [0.1, 12.0],
            boss_tasks_per_type: 2,
            boss_text_types: vec![TaskType::InstructText, TaskType::Dpo, TaskType::Grpo],
            boss_big_probability: 0.2,
            boss_big_params_b: [12.0, 71.0],
            boss_params_b: [0.1, 12.0],
            image_boss_tasks: 6,
            image_hours: [1, 2],
            text_hours: vec![
                band(1_000, 1, 3),
                band(10_000, 2, 4),
                band(25_000, 3, 5),
                band(50_000, 3, 6),
                band(100_000, 4, 6),
            ],
            boss_tasks: BossTaskSource::Historical,
            historical_min_successes: 2,
        }
    }
}

/// Which part of the bracket a task belongs to: group or pair by index (the boss round is pair 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    Group(usize),
    Pair(usize),
}

impl TaskSpec {
    /// The spec of a replacement for a task whose model has `params`: a model within ±20 % of that size
    /// (an image task, or one of unknown size, keeps its spec).
    pub fn near(&self, params: Option<u64>) -> TaskSpec {
        match (params, self.params_b) {
            (Some(p), Some(_)) => {
                let b = p as f64 / 1e9;
                TaskSpec { params_b: Some([0.8 * b, 1.2 * b]), ..self.clone() }
            }
            _ => self.clone(),
        }
    }
}

/// What a task must be, before a model and dataset are chosen for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub slot: Slot,
    pub task_type: TaskType,
    /// Model size range; `None` for image tasks.
    pub params_b: Option<ParamsRange>,
    /// Fixed hours (group tasks); otherwise derived from the dataset.
    pub hours: Option<u32>,
}

/// The task specs of one round, in slot order.
pub fn plan_round<R: Rng + ?Sized>(
    tournament_type: TournamentType,
    bracket: &Bracket,
    rules: &TaskRules,
    rng: &mut R,
) -> Vec<TaskSpec> {
    let image = |slot| TaskSpec { slot, task_type: TaskType::Image, params_b: None, hours: None };
    match (bracket, tournament_type) {
        (Bracket::Groups { groups }, TournamentType::Text) => (0..groups.len())
            .map(|i| TaskSpec {
                slot: Slot::Group(i),
                task_type: TaskType::InstructText,
                params_b: Some(rules.group_params_b),
                hours: Some(rules.group_hours),
            })
            .collect(),
        (Bracket::Groups { groups }, TournamentType::Image) => {
            (0..groups.len()).map(|i| image(Slot::Group(i))).collect()
        }
        (Bracket::Knockout { is_final: true, .. }, TournamentType::Text) => {
            let mut specs = Vec::new();
            for task_type in &rules.boss_text_types {
                for _ in 0..rules.boss_tasks_per_type {
                    let big = rng.random_bool(rules.boss_big_probability.clamp(0.0, 1.0));
                    let range = if big { rules.boss_big_params_b } else { rules.boss_params_b };
                    specs.push(TaskSpec {
                        slot: Slot::Pair(0),
                        task_type: *task_type,
                        params_b: Some(range),
                        hours: None,
                    });
                }
            }
            specs
        }
        (Bracket::Knockout { is_final: true, .. }, TournamentType::Image) => {
            (0..rules.image_boss_tasks).map(|_| image(Slot::Pair(0))).collect()
        }
        (Bracket::Knockout { pairs, .. }, TournamentType::Text) => (0..pairs.len())
            .map(|i| TaskSpec {
                slot: Slot::Pair(i),
                task_type: draw_type(&rules.knockout_types, rng),
                params_b: Some(rules.knockout_params_b),
                hours: None,
            })
            .collect(),
        (Bracket::Knockout { pairs, .. }, TournamentType::Image) => {
            (0..pairs.len()).map(|i| image(Slot::Pair(i))).collect()
        }
    }
}

/// Every kind of task the rules can ask for: where it is drawn, its type and its size range (`None`:
/// an image task). A catalog must be able to serve each of them.
pub fn possible_specs(rules: &TaskRules) -> Vec<(&'static str, TaskType, Option<ParamsRange>)> {
    let mut specs = vec![("group rounds", TaskType::InstructText, Some(rules.group_params_b))];
    specs.extend(
        rules
            .knockout_types
            .iter()
            .filter(|w| w.weight > 0.0)
            .map(|w| ("knockout rounds", w.task_type, Some(rules.knockout_params_b))),
    );
    if rules.boss_tasks_per_type > 0 {
        for task_type in &rules.boss_text_types {
            if rules.boss_big_probability > 0.0 {
                specs.push(("boss round (big models)", *task_type, Some(rules.boss_big_params_b)));
            }
            if rules.boss_big_probability < 1.0 {
                specs.push(("boss round", *task_type, Some(rules.boss_params_b)));
            }
        }
    }
    specs.push(("image rounds", TaskType::Image, None));
    specs
}

/// Draws a task type with the configured probabilities.
pub fn draw_type<R: Rng + ?Sized>(weights: &[TypeWeight], rng: &mut R) -> TaskType {
    let total: f64 = weights.iter().map(|w| w.weight.max(0.0)).sum();
    let mut pick = rng.random_range(0.0..1.0) * total;
    for w in weights {
        pick -= w.weight.max(0.0);
        if pick < 0.0 {
            return w.task_type;
        }
    }
    weights.last().map_or(TaskType::InstructText, |w| w.task_type)
}

/// Training hours of a text task from its dataset size.
pub fn text_hours<R: Rng + ?Sized>(rows: u64, rules: &TaskRules, rng: &mut R) -> u32 {
    let band = rules.text_hours.iter().rev().find(|b| rows >= b.min_rows).or(rules.text_hours.first());
    band.map_or(rules.group_hours, |b| rng.random_range(b.min_hours..=b.max_hours.max(b.min_hours)))
}

#[cfg(test)]
#[path = "tasks_tests.rs"]
mod tests;
