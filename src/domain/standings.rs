//! The reference validator's analytics scores (G.O.D 86623e97), from crucible's results: a task's
//! rank scores (`quality_score`, `validator/evaluation/scoring.py::calculate_miner_ranking_and_scores`)
//! and a tournament's `final_scores` (`validator/evaluation/tournament_scoring.py`). They describe
//! results for readers of the reference's API; crucible decides nothing with them.

use super::ids::Hotkey;
use super::kinds::TaskType;
use super::scoring::{TrainingResult, score_task};

/// One result's rank score.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityScore {
    pub hotkey: Hotkey,
    pub score: f64,
    /// The reference's reason for a ranked (valid) result, or for a successful run whose evaluation is
    /// not a number; `None` for a failed run (its own failure reason says why).
    pub reason: Option<String>,
}

/// The reference's name for how a task type is ranked.
pub fn ranking_type(task_type: TaskType) -> &'static str {
    if task_type.higher_is_better() { "GRPO score (bigger is better)" } else { "test_loss" }
}

/// The rank score of every result of one task, in the order given: the task scores of
/// [`score_task`] (3 for the best valid result, 0 for the other valid ones, −1 for the bottom quarter
/// above 8 valid and for every invalid result when any is valid), with the reference's reason: where
/// a valid result ranked, or why a result is invalid (non-finetuned, duplicated, invalid test loss).
/// A failed run has no reason here: its own failure reason says why.
pub fn quality_scores(task_type: TaskType, reward_weights: &[f64], results: &[TrainingResult]) -> Vec<QualityScore> {
    let scores = score_task(task_type, reward_weights, results);
    let by = ranking_type(task_type);
    results
        .iter()
        .zip(scores)
        .map(|(r, s)| {
            let reason = match (&s.reason, s.score) {
                (Some(_), _) if r.status != super::kinds::RunStatus::Success => None,
                (Some(why), _) => Some(why.clone()),
                (None, score) if score > 0.0 => Some(format!("Ranked 1st by {by}")),
                (None, score) if score < 0.0 => Some(format!("Bottom 25% ranked by {by}")),
                (None, _) => Some(format!("Ranked below top 1 by {by}")),
            };
            QualityScore { hotkey: s.hotkey, score: s.score, reason }
        })
        .collect()
}

/// The champion a tournament's results name: the defending champion when the house (the reference's
/// burn hotkey) holds the title for it, otherwise the winner (`get_real_winner_hotkey`).
pub fn real_winner<'a>(
    winner: Option<&'a Hotkey>,
    base_winner: Option<&'a Hotkey>,
    house: &Hotkey,
) -> Option<&'a Hotkey> {
    match (winner, base_winner) {
        (Some(w), Some(base)) if w == house => Some(base),
        (w, _) => w,
    }
}

/// The consecutive titles of `champion`: how many completed tournaments in a row, newest first (each
/// given as its `(winner, base_winner)`), have `champion` as their [`real_winner`]. A title defended by
/// the house, and one won again as a challenger, both count. The boss threshold and the weights read
/// the streak from here.
pub fn title_streak<'a>(
    newest_first: impl IntoIterator<Item = (Option<&'a Hotkey>, Option<&'a Hotkey>)>,
    champion: &Hotkey,
    house: &Hotkey,
) -> u32 {
    let held = newest_first.into_iter().take_while(|(w, b)| real_winner(*w, *b, house) == Some(champion)).count();
    u32::try_from(held).unwrap_or(u32::MAX)
}

/// The champion a new tournament defends, and its consecutive titles (which set the boss threshold),
/// from the completed tournaments of its type, newest first as `(winner, base_winner)`: the real winner
/// of the latest, which is the house itself when it won with no champion; none before any tournament.
pub fn next_champion<'a>(
    newest_first: impl IntoIterator<Item = (Option<&'a Hotkey>, Option<&'a Hotkey>)> + Clone,
    house: &Hotkey,
) -> (Option<Hotkey>, u32) {
    let Some((winner, base)) = newest_first.clone().into_iter().next() else { return (None, 0) };
    match real_winner(winner, base, house) {
        Some(champion) => (Some(champion.clone()), title_streak(newest_first, champion, house)),
        None => (None, 0),
    }
}

/// `final_scores`: for every task won (`(round number, task winner)` in round order), the winner earns
/// `round number × type_weight`, except the tournament's real winner and, when there is a defending
/// champion, the house standing in for it. Hotkeys in the order of their first scoring win.
pub fn final_scores<'a>(
    task_wins: impl IntoIterator<Item = (u32, &'a Hotkey)>,
    winner: Option<&Hotkey>,
    base_winner: Option<&Hotkey>,
    house: &Hotkey,
    type_weight: f64,
) -> Vec<(Hotkey, f64)> {
    let real = real_winner(winner, base_winner, house);
    let mut scores: Vec<(Hotkey, f64)> = Vec::new();
    for (round, h) in task_wins {
        if Some(h) == real || (h == house && base_winner.is_some()) {
            continue;
        }
        let points = f64::from(round) * type_weight;
        match scores.iter_mut().find(|(s, _)| s == h) {
            Some((_, total)) => *total += points,
            None => scores.push((h.clone(), points)),
        }
    }
    scores
}

#[cfg(test)]
#[path = "standings_tests.rs"]
mod tests;
