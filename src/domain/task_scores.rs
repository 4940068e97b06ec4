//! From evaluations to the reference's task scores (evaluation.md §2.8, §2.6.5): exact duplicates
//! decided by the earliest output, the validity rules, the 3 / 0 / −1 scores with the bottom-quarter
//! penalty, GRPO ranked by reward (descending), and GRPO's cross-miner reward normalisation.
//!
//! Deliberate differences from the reference: ties in the ranking and between equally early
//! duplicates are broken by hotkey (the reference keeps list order), so the result does not depend on
//! the order results arrive in.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::Hotkey;
use super::kinds::TaskType;

/// FIRST_PLACE_SCORE, SCORE_PENALTY, MIN_IDEAL_NUM_MINERS_IN_POOL and the bottom share of the reference.
pub const FIRST_PLACE_SCORE: f64 = 3.0;
pub const SCORE_PENALTY: f64 = -1.0;
pub const MIN_IDEAL_NUM_MINERS_IN_POOL: usize = 8;
pub const BOTTOM_SHARE: f64 = 0.25;

/// What an evaluation said beside its value, kept with the training it scored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalFacts {
    /// False when the output is the base model unchanged or not a fine-tune of it; unknown counts as
    /// a fine-tune.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_finetune: Option<bool>,
    /// When the output was collected: the offline stand-in for the hub's `lastModified`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collected_at: Option<DateTime<Utc>>,
    /// GRPO: the mean reward of each of the task's reward functions, in the task's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rewards: Vec<f64>,
    /// GRPO: the KL divergence of the output from the base model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kl_divergence: Option<f64>,
    /// The content id (`sha256:...`) of the miner image that trained the output, when the validator
    /// (or its node) built it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// The weights of a GRPO task's reward functions, in order, from its `reward_functions` (found in
/// the dataset type, as the reference stores them); empty for any other task.
pub fn reward_weights(dataset_type: &serde_json::Value) -> Vec<f64> {
    dataset_type
        .get("reward_functions")
        .and_then(|f| f.as_array())
        .map(|functions| {
            functions.iter().map(|f| f.get("reward_weight").and_then(|w| w.as_f64()).unwrap_or(0.0)).collect()
        })
        .unwrap_or_default()
}

/// One hotkey's evaluation of a task.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub hotkey: Hotkey,
    /// The evaluator's value (a reward for GRPO), or why there is none.
    pub value: Result<f64, String>,
    pub is_finetune: bool,
    /// When the output was collected: the offline stand-in for the hub's `lastModified`.
    pub collected_at: Option<DateTime<Utc>>,
}

/// One hotkey's task score, with the value it is ranked by and why it is invalid, if it is.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskScore {
    pub hotkey: Hotkey,
    pub score: f64,
    /// `None` when invalid for a failed evaluation or a duplicate (the reference stores NaN).
    pub value: Option<f64>,
    pub reason: Option<String>,
}

impl TaskScore {
    pub fn is_valid(&self) -> bool {
        self.reason.is_none()
    }
}

/// The task scores of every evaluation, in the order given.
pub fn task_scores(task_type: TaskType, evaluations: &[Evaluation]) -> Vec<TaskScore> {
    let mut scores: Vec<TaskScore> = evaluations
        .iter()
        .map(|e| match &e.value {
            Err(reason) => TaskScore {
                hotkey: e.hotkey.clone(),
                score: 0.0,
                value: None,
                reason: Some(format!("Evaluation failed: {}", reason.chars().take(350).collect::<String>())),
            },
            Ok(v) if !v.is_finite() => TaskScore {
                hotkey: e.hotkey.clone(),
                score: 0.0,
                value: None,
                reason: Some("Invalid test loss".into()),
            },
            Ok(v) => TaskScore {
                hotkey: e.hotkey.clone(),
                score: 0.0,
                value: Some(*v),
                reason: (!e.is_finetune).then(|| "Non-finetuned submission".to_owned()),
            },
        })
        .collect();
    mark_duplicates(evaluations, &mut scores);

    let mut valid: Vec<usize> = (0..scores.len()).filter(|&i| scores[i].is_valid()).collect();
    valid.sort_by(|&a, &b| {
        let (x, y) = (scores[a].value.unwrap_or(f64::NAN), scores[b].value.unwrap_or(f64::NAN));
        let order = if task_type.higher_is_better() { y.total_cmp(&x) } else { x.total_cmp(&y) };
        order.then_with(|| scores[a].hotkey.cmp(&scores[b].hotkey))
    });
    if let Some(&first) = valid.first() {
        scores[first].score = FIRST_PLACE_SCORE;
    }
    if valid.len() > MIN_IDEAL_NUM_MINERS_IN_POOL {
        let penalised = ((BOTTOM_SHARE * valid.len() as f64) as usize).max(1);
        for &i in &valid[valid.len() - penalised..] {
            scores[i].score = SCORE_PENALTY;
        }
    }
    let any_valid = !valid.is_empty();
    for score in scores.iter_mut().filter(|s| !s.is_valid()) {
        score.score = if any_valid { SCORE_PENALTY } else { 0.0 };
    }
    scores
}

/// Results with exactly equal values are one submission: the earliest output keeps it, the others
/// become duplicates; a group where nobody's output time is known is all duplicates.
fn mark_duplicates(evaluations: &[Evaluation], scores: &mut [TaskScore]) {
    let candidates: Vec<usize> = (0..scores.len()).filter(|&i| scores[i].value.is_some()).collect();
    let mut seen = vec![false; scores.len()];
    for &i in &candidates {
        if seen[i] {
            continue;
        }
        let group: Vec<usize> = candidates.iter().copied().filter(|&j| scores[j].value == scores[i].value).collect();
        group.iter().for_each(|&j| seen[j] = true);
        if group.len() < 2 {
            continue;
        }
        let keeper = group
            .iter()
            .copied()
            .filter_map(|j| evaluations[j].collected_at.map(|t| (t, j)))
            .min_by(|(ta, a), (tb, b)| ta.cmp(tb).then_with(|| scores[*a].hotkey.cmp(&scores[*b].hotkey)))
            .map(|(_, j)| j);
        for j in group.into_iter().filter(|&j| Some(j) != keeper) {
            scores[j].value = None;
            scores[j].reason = Some("Duplicated submission".into());
        }
    }
}

/// One GRPO repository's raw evaluation: the mean reward per function and the KL from the base.
#[derive(Debug, Clone, PartialEq)]
pub struct GrpoRaw {
    pub hotkey: Hotkey,
    pub rewards: Vec<f64>,
    pub kl_divergence: f64,
}

/// GRPO's final values across the repositories of one task (§2.6.5): per function, rewards shifted
/// to be non-negative when one is negative, then divided by their maximum (1.0 when that is not
/// positive; exactly two repositories with a negative reward get 0.25 and 0.75); weighted; minus
/// 0.5·KL. A single repository keeps its provisional value, so it is not returned here.
pub fn grpo_values(raws: &[GrpoRaw], weights: &[f64]) -> Vec<(Hotkey, f64)> {
    let mut scores = vec![0.0; raws.len()];
    for (f, weight) in weights.iter().enumerate() {
        let values: Vec<f64> = raws.iter().map(|r| r.rewards.get(f).copied().unwrap_or(0.0)).collect();
        let normalised = normalise(&values, raws);
        for (score, n) in scores.iter_mut().zip(normalised) {
            *score += weight * n;
        }
    }
    raws.iter().zip(scores).map(|(r, s)| (r.hotkey.clone(), s - 0.5 * r.kl_divergence)).collect()
}

fn normalise(values: &[f64], raws: &[GrpoRaw]) -> Vec<f64> {
    if values.len() == 1 {
        return vec![1.0];
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    if values.len() == 2 && min < 0.0 {
        // The lower gets 0.25, the higher 0.75; a tie goes to the hotkey ordered first.
        let first_higher = values[0] > values[1] || (values[0] == values[1] && raws[0].hotkey > raws[1].hotkey);
        return if first_higher { vec![0.75, 0.25] } else { vec![0.25, 0.75] };
    }
    let shifted: Vec<f64> = values.iter().map(|v| if min < 0.0 { v - min } else { *v }).collect();
    let max = shifted.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max > 0.0 { shifted.iter().map(|v| v / max).collect() } else { vec![1.0; values.len()] }
}

#[cfg(test)]
#[path = "task_scores_tests.rs"]
mod tests;
