//! Scoring (tournament-rules.md §7): who advances from a group, who wins a knockout pair, the boss
//! round with the champion-streak threshold, the winning performance difference, and round sanity.

use serde::{Deserialize, Serialize};

use super::ids::Hotkey;
use super::kinds::{RunStatus, TaskType};
use super::task_scores::{EvalFacts, Evaluation, GrpoRaw, TaskScore, grpo_values, task_scores};

/// The numbers of scoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoringRules {
    /// Best valid results per group task that advance.
    pub group_advance: usize,
    /// Boss threshold for a champion with one win.
    pub boss_threshold_initial: f64,
    /// Factor applied per further consecutive win.
    pub boss_threshold_decay: f64,
    /// The threshold never goes below this.
    pub boss_threshold_floor: f64,
}

impl Default for ScoringRules {
    fn default() -> Self {
        Self { group_advance: 8, boss_threshold_initial: 0.10, boss_threshold_decay: 0.8, boss_threshold_floor: 0.03 }
    }
}

/// One training's outcome on one task, as scoring sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingResult {
    pub hotkey: Hotkey,
    pub status: RunStatus,
    /// `test_loss` (a reward for GRPO); `None` when the evaluation gave nothing.
    pub test_loss: Option<f64>,
    #[serde(default)]
    pub synth_loss: Option<f64>,
    /// What the evaluation said beside the value.
    #[serde(default, flatten)]
    pub eval: EvalFacts,
    /// Why the training or its evaluation failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl TrainingResult {
    /// A result with nothing known beyond its status and value.
    pub fn new(hotkey: Hotkey, status: RunStatus, test_loss: Option<f64>) -> Self {
        Self { hotkey, status, test_loss, synth_loss: None, eval: EvalFacts::default(), reason: None }
    }

    /// The ranking value when the run succeeded and its evaluation is a finite number.
    pub fn valid_value(&self) -> Option<f64> {
        valid(self.status, self.test_loss)
    }
}

fn valid(status: RunStatus, value: Option<f64>) -> Option<f64> {
    value.filter(|v| status == RunStatus::Success && v.is_finite())
}

/// The reference's task scores of a finished task (evaluation.md §2.8): every result's value (GRPO's
/// rewards first normalised across the repositories, when each successful one reported them for all
/// `reward_weights`), exact duplicates decided by the earliest output, the validity rules, 3 / 0 / −1.
/// One score per result, in the order given.
pub fn score_task(task_type: TaskType, reward_weights: &[f64], results: &[TrainingResult]) -> Vec<TaskScore> {
    let succeeded: Vec<&TrainingResult> = results.iter().filter(|r| r.valid_value().is_some()).collect();
    let normalised = if task_type == TaskType::Grpo
        && succeeded.len() >= 2
        && !reward_weights.is_empty()
        && succeeded.iter().all(|r| r.eval.rewards.len() == reward_weights.len())
    {
        let raws: Vec<GrpoRaw> = succeeded
            .iter()
            .map(|r| GrpoRaw {
                hotkey: r.hotkey.clone(),
                rewards: r.eval.rewards.clone(),
                kl_divergence: r.eval.kl_divergence.unwrap_or(0.0),
            })
            .collect();
        grpo_values(&raws, reward_weights)
    } else {
        Vec::new()
    };
    let evaluations: Vec<Evaluation> = results
        .iter()
        .map(|r| {
            let value = match (r.status, r.test_loss) {
                (RunStatus::Success, Some(v)) => {
                    Ok(normalised.iter().find(|(h, _)| h == &r.hotkey).map_or(v, |(_, n)| *n))
                }
                (RunStatus::Success, None) => Err(r.reason.clone().unwrap_or_else(|| "no value".into())),
                (RunStatus::Failure, _) => Err(r.reason.clone().unwrap_or_else(|| "the training failed".into())),
            };
            Evaluation {
                hotkey: r.hotkey.clone(),
                value,
                is_finetune: r.eval.is_finetune.unwrap_or(true),
                collected_at: r.eval.collected_at,
            }
        })
        .collect();
    task_scores(task_type, &evaluations)
}

/// The results a group ranks, best first (evaluation.md §2.9): every score with a finite value, the
/// non-finetuned included (the tournament assumes `is_finetune` there); failed evaluations and
/// duplicates have none. Ties are broken by hotkey so the order is reproducible.
pub fn ranking(task_type: TaskType, reward_weights: &[f64], results: &[TrainingResult]) -> Vec<(Hotkey, f64)> {
    let mut valid: Vec<(Hotkey, f64)> = score_task(task_type, reward_weights, results)
        .into_iter()
        .filter_map(|s| s.value.filter(|v| v.is_finite()).map(|v| (s.hotkey, v)))
        .collect();
    valid.sort_by(|(ha, a), (hb, b)| {
        let order = a.total_cmp(b);
        let order = if task_type.higher_is_better() { order.reverse() } else { order };
        order.then_with(|| ha.cmp(hb))
    });
    valid
}

/// The task's winner: the holder of the positive task score (the best valid result), if any.
pub fn task_winner(task_type: TaskType, reward_weights: &[f64], results: &[TrainingResult]) -> Option<Hotkey> {
    score_task(task_type, reward_weights, results).into_iter().find(|s| s.score > 0.0).map(|s| s.hotkey)
}

/// The hotkeys that advance from a group: the best `group_advance` ranked results; none when no
/// result has a value.
pub fn group_winners(
    task_type: TaskType,
    reward_weights: &[f64],
    results: &[TrainingResult],
    rules: &ScoringRules,
) -> Vec<Hotkey> {
    ranking(task_type, reward_weights, results).into_iter().take(rules.group_advance).map(|(h, _)| h).collect()
}

/// A knockout pair's winner: the holder of the positive task score, or nobody (evaluation.md §2.9).
pub fn pair_winner(task_type: TaskType, reward_weights: &[f64], results: &[TrainingResult]) -> Option<Hotkey> {
    task_winner(task_type, reward_weights, results)
}

/// A boss task's two sides as the reference compares them (evaluation.md §2.9): the task's values
/// from [`score_task`] (GRPO normalised between the two), a failed evaluation or a duplicate having
/// none, and whether each side's training succeeded. `house` is the house's hotkey; every other
/// result is the challenger's.
pub fn boss_task(task_type: TaskType, reward_weights: &[f64], results: &[TrainingResult], house: &Hotkey) -> BossTask {
    let scores = score_task(task_type, reward_weights, results);
    let value = |house_side: bool| scores.iter().find(|s| (&s.hotkey == house) == house_side).and_then(|s| s.value);
    let trained = |house_side: bool| {
        let succeeded = results.iter().any(|r| (&r.hotkey == house) == house_side && r.status == RunStatus::Success);
        if succeeded { RunStatus::Success } else { RunStatus::Failure }
    };
    BossTask {
        task_type,
        house: value(true),
        challenger: value(false),
        house_status: trained(true),
        challenger_status: trained(false),
    }
}

/// The boss threshold for a champion with `wins` consecutive wins: `max(floor, initial × decay^(k−1))`.
/// A champion always has at least one win, so `wins = 0` counts as 1.
pub fn boss_threshold(wins: u32, rules: &ScoringRules) -> f64 {
    let k = wins.max(1);
    let exponent = i32::try_from(k - 1).unwrap_or(i32::MAX);
    (rules.boss_threshold_initial * rules.boss_threshold_decay.powi(exponent)).max(rules.boss_threshold_floor)
}

/// The two sides of the boss round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    House,
    Challenger,
}

/// One boss-round task with both sides' outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BossTask {
    pub task_type: TaskType,
    pub house: Option<f64>,
    pub challenger: Option<f64>,
    pub house_status: RunStatus,
    pub challenger_status: RunStatus,
}

impl BossTask {
    fn values(&self) -> (Option<f64>, Option<f64>) {
        (valid(self.house_status, self.house), valid(self.challenger_status, self.challenger))
    }

    /// Who wins this task under threshold `t`: the challenger must beat the house by more than `t`
    /// (ties go to the challenger); a lone valid value wins; with neither, the house wins, unless both
    /// sides trained, which decides nothing (`None`: the task is dropped from the majority).
    pub fn winner(&self, t: f64) -> Option<Side> {
        match self.values() {
            (Some(house), Some(challenger)) => {
                let house_holds = if self.task_type.higher_is_better() {
                    house * (1.0 + t) > challenger
                } else {
                    house * (1.0 - t) < challenger
                };
                Some(if house_holds { Side::House } else { Side::Challenger })
            }
            (None, Some(_)) => Some(Side::Challenger),
            (Some(_), None) => Some(Side::House),
            (None, None) if self.house_status == RunStatus::Success && self.challenger_status == RunStatus::Success => {
                None
            }
            (None, None) => Some(Side::House),
        }
    }

    /// The challenger's relative improvement on this task, when both sides have a value: `(house −
    /// challenger) / challenger`, for GRPO `(challenger − house) / house`; 0 when the divisor is not
    /// positive (a challenger's loss of 0, a house's reward of 0 or below), as the reference counts it.
    pub fn improvement(&self) -> Option<f64> {
        let (Some(house), Some(challenger)) = self.values() else { return None };
        let (gain, divisor) = if self.task_type.higher_is_better() {
            (challenger - house, house)
        } else {
            (house - challenger, challenger)
        };
        let d = if divisor > 0.0 { gain / divisor } else { 0.0 };
        d.is_finite().then_some(d)
    }
}

/// The decision of a boss round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BossDecision {
    pub winner: Side,
    pub challenger_wins: usize,
    pub decided: usize,
    pub threshold: f64,
    pub performance_difference: f64,
}

/// Decides the boss round: the challenger takes the title iff it wins a strict majority of the decided
/// tasks (a task both sides trained without a valid value decides nothing); none decided → the house.
pub fn decide_boss(champion_wins: u32, tasks: &[BossTask], rules: &ScoringRules) -> BossDecision {
    let threshold = boss_threshold(champion_wins, rules);
    let winners: Vec<Side> = tasks.iter().filter_map(|t| t.winner(threshold)).collect();
    let challenger_wins = winners.iter().filter(|w| **w == Side::Challenger).count();
    let decided = winners.len();
    let winner = if challenger_wins * 2 > decided { Side::Challenger } else { Side::House };
    BossDecision { winner, challenger_wins, decided, threshold, performance_difference: performance_difference(tasks) }
}

/// `winning_performance_difference`: the median over boss tasks with both values of the challenger's
/// relative improvement; 0 when no task has both.
pub fn performance_difference(tasks: &[BossTask]) -> f64 {
    median(tasks.iter().filter_map(BossTask::improvement).collect()).unwrap_or(0.0)
}

/// The median (mean of the two middle values for an even count).
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) { (values[mid - 1] + values[mid]) / 2.0 } else { values[mid] })
}

/// What round sanity asks for a task whose trainings have all ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sanity {
    /// Score the task with what it has.
    Proceed,
    /// More than half of the trainings failed: re-run once as a replacement task.
    Replace,
}

/// Round sanity: a task with more than half of its trainings failed is replaced once; a replacement
/// that fails as badly lets the round proceed with what it has.
pub fn task_sanity(statuses: &[RunStatus], is_replacement: bool) -> Sanity {
    let failed = statuses.iter().filter(|s| **s == RunStatus::Failure).count();
    if failed * 2 > statuses.len() && !is_replacement { Sanity::Replace } else { Sanity::Proceed }
}

#[cfg(test)]
#[path = "scoring_tests.rs"]
mod tests;
