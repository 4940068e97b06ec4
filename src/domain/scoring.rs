//! Scoring (tournament-rules.md §7): who advances from a group, who wins a knockout pair, the boss
//! round with the champion-streak threshold, the winning performance difference, and round sanity.

use serde::{Deserialize, Serialize};

use super::ids::Hotkey;
use super::kinds::{RunStatus, TaskType};

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
}

impl TrainingResult {
    /// The ranking value when the run succeeded and its evaluation is a finite number.
    pub fn valid_value(&self) -> Option<f64> {
        valid(self.status, self.test_loss)
    }
}

fn valid(status: RunStatus, value: Option<f64>) -> Option<f64> {
    value.filter(|v| status == RunStatus::Success && v.is_finite())
}

/// The valid results of a task, best first; ties are broken by hotkey so the order is reproducible.
pub fn ranking(task_type: TaskType, results: &[TrainingResult]) -> Vec<(Hotkey, f64)> {
    let mut valid: Vec<(Hotkey, f64)> =
        results.iter().filter_map(|r| r.valid_value().map(|v| (r.hotkey.clone(), v))).collect();
    valid.sort_by(|(ha, a), (hb, b)| {
        let order = a.total_cmp(b);
        let order = if task_type.higher_is_better() { order.reverse() } else { order };
        order.then_with(|| ha.cmp(hb))
    });
    valid
}

/// The task's winner: the best valid result, if any.
pub fn task_winner(task_type: TaskType, results: &[TrainingResult]) -> Option<Hotkey> {
    ranking(task_type, results).into_iter().next().map(|(h, _)| h)
}

/// The hotkeys that advance from a group: the best `group_advance` valid results; none when no result
/// is valid.
pub fn group_winners(task_type: TaskType, results: &[TrainingResult], rules: &ScoringRules) -> Vec<Hotkey> {
    ranking(task_type, results).into_iter().take(rules.group_advance).map(|(h, _)| h).collect()
}

/// A knockout pair's winner: the better valid result, the only valid one, or nobody.
pub fn pair_winner(task_type: TaskType, results: &[TrainingResult]) -> Option<Hotkey> {
    task_winner(task_type, results)
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
    /// (ties go to the challenger); a lone success wins; with neither, the house wins.
    pub fn winner(&self, t: f64) -> Side {
        match self.values() {
            (Some(house), Some(challenger)) => {
                let house_holds = if self.task_type.higher_is_better() {
                    house * (1.0 + t) > challenger
                } else {
                    house * (1.0 - t) < challenger
                };
                if house_holds { Side::House } else { Side::Challenger }
            }
            (None, Some(_)) => Side::Challenger,
            _ => Side::House,
        }
    }

    /// The challenger's relative improvement on this task, when both sides have a value.
    pub fn improvement(&self) -> Option<f64> {
        let (Some(house), Some(challenger)) = self.values() else { return None };
        let d = if self.task_type.higher_is_better() {
            (challenger - house) / house
        } else {
            (house - challenger) / challenger
        };
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

/// Decides the boss round: the challenger takes the title iff it wins a strict majority of the tasks.
pub fn decide_boss(champion_wins: u32, tasks: &[BossTask], rules: &ScoringRules) -> BossDecision {
    let threshold = boss_threshold(champion_wins, rules);
    let challenger_wins = tasks.iter().filter(|t| t.winner(threshold) == Side::Challenger).count();
    let decided = tasks.len();
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
