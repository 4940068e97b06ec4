//! The reference's `TournamentDetailsResponse` (G.O.D 86623e97, `core/models/tournament_models.py`;
//! built as `validator/endpoints/tournament_analytics.py::get_tournament_details` builds it), from a
//! stored tournament: participants, rounds with every task's rank scores and winner, the final scores,
//! the base type weights and the boss round task by task. `/v1/tournaments/{id}/details` and
//! `/v1/tournaments/latest/details` answer with it; crucible's own detail (raw results, why each boss
//! task went the way it did) is in [`super::results`]. No IO here.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::rules::Rules;
use crate::domain::scoring::{TrainingResult, boss_task, boss_threshold, task_winner};
use crate::domain::standings::{final_scores, quality_scores};
use crate::domain::{AdmissionOutcome, Hotkey, RoundKind, TaskStatus, TournamentStatus, TournamentType};
use crate::store::{RoundSnapshot, TaskSnapshot, TournamentSnapshot, Training};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TournamentDetails {
    pub tournament_id: String,
    /// `text` or `image`.
    pub tournament_type: String,
    /// `pending`, `active`, `completed` or `cancelled`.
    pub status: String,
    /// The champion defending the title.
    pub base_winner_hotkey: Option<String>,
    pub winner_hotkey: Option<String>,
    /// How the boss round was decided, in words (a later reference's field).
    pub diff_report: Option<String>,
    pub participants: Vec<ParticipantDetails>,
    pub rounds: Vec<RoundDetails>,
    /// Points for tasks won, in the order of the first win (see [`final_scores`]).
    pub final_scores: Vec<FinalScore>,
    /// The type's base weight (the reference's constant), not the current one.
    pub text_tournament_weight: f64,
    pub image_tournament_weight: f64,
    pub environment_tournament_weight: Option<f64>,
    /// Completed tournaments only.
    pub boss_round_performance: Option<Vec<BossTaskPerformance>>,
    /// Always `null`: crucible runs no synthetic comparison tasks.
    pub sync_performance: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ParticipantDetails {
    pub tournament_id: String,
    pub hotkey: String,
    pub eliminated_in_round_id: Option<String>,
    /// 1 for the winner, 2 for the other side of the boss round.
    pub final_position: Option<u32>,
    pub training_repo: String,
    pub training_commit_hash: String,
    /// Always `null`: crucible never stores repository tokens.
    pub github_token: Option<String>,
    pub backup_repo: Option<String>,
    pub requested_datasets: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoundDetails {
    pub round_id: String,
    pub round_number: u32,
    /// `group` or `knockout`.
    pub round_type: String,
    pub is_final_round: bool,
    pub status: String,
    pub participants: Vec<String>,
    pub tasks: Vec<TaskScore>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskScore {
    pub task_id: String,
    pub group_id: Option<String>,
    pub pair_id: Option<String>,
    /// The best valid result (the 3.0), once the task's trainings have ended.
    pub winner: Option<String>,
    pub task_type: String,
    /// Empty until every training of the task has ended (the reference scores a task at once).
    pub participant_scores: Vec<ParticipantScore>,
    pub environment_names: Option<Vec<String>>,
    pub pvp_pair_results: Option<serde_json::Value>,
    pub pvp_individual_scores: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ParticipantScore {
    pub hotkey: String,
    /// The rank score: 3.0 best valid, 0.0 other valid, −1.0 bottom quarter (more than 8 valid) and
    /// invalid results when any is valid; 0.0 for all when none is.
    pub quality_score: f64,
    /// The evaluation as measured (a reward for GRPO); `null` when not a finite number.
    pub test_loss: Option<f64>,
    pub synth_loss: Option<f64>,
    /// The reference's ranking reason for a valid result, the failure reason for a failed one.
    pub score_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FinalScore {
    pub hotkey: String,
    /// `round number × the type's base weight` for every task won.
    pub score: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BossTaskPerformance {
    pub task_id: String,
    pub task_type: String,
    /// The house's (champion's repository's) result.
    pub boss_score: Option<f64>,
    pub challenger_score: Option<f64>,
    pub threshold_used: f64,
    /// The challenger's relative improvement, when both sides have a valid result.
    pub performance_difference: Option<f64>,
    pub challenger_won: bool,
}

/// Builds the details of one stored tournament.
pub fn details(s: &TournamentSnapshot, rules: &Rules) -> TournamentDetails {
    let t = &s.tournament;
    let boss = s.rounds.iter().find(|r| r.round.round.is_final && t.status == TournamentStatus::Completed);
    let boss_sides = boss.and_then(|r| r.round.pairs.first()).map(|p| [p.hotkey_a.clone(), p.hotkey_b.clone()]);
    let position = |h: &Hotkey| match (&boss_sides, &t.winner_hotkey) {
        (Some(sides), Some(w)) if sides.contains(h) => Some(if h == w { 1 } else { 2 }),
        _ => None,
    };
    let participants = s
        .participants
        .iter()
        .filter(|p| p.admission == AdmissionOutcome::Admitted)
        .map(|p| ParticipantDetails {
            tournament_id: t.id.to_string(),
            hotkey: p.hotkey.to_string(),
            eliminated_in_round_id: p.eliminated_in_round.map(|n| t.id.round(n).as_str().to_owned()),
            final_position: position(&p.hotkey),
            training_repo: p.repo_url.clone(),
            training_commit_hash: p.commit_hash.clone(),
            github_token: None,
            backup_repo: None,
            requested_datasets: None,
        })
        .collect();
    let rounds: Vec<RoundDetails> = s.rounds.iter().map(round_details).collect();
    let boss_tasks = boss.map(|r| boss_round(r, &rules.house_hotkey, t.champion_wins, rules));
    let task_wins: Vec<(u32, Hotkey)> = s
        .rounds
        .iter()
        .flat_map(|r| live_tasks(r).filter_map(|t| winner_of(t).map(|w| (r.round.round.number, w))))
        .collect();
    let final_scores = final_scores(
        task_wins.iter().map(|(n, h)| (*n, h)),
        t.winner_hotkey.as_ref(),
        t.base_winner_hotkey.as_ref(),
        &rules.house_hotkey,
        rules.weights.of(t.tournament_type).base,
    );
    TournamentDetails {
        tournament_id: t.id.to_string(),
        tournament_type: t.tournament_type.to_string(),
        status: t.status.to_string(),
        base_winner_hotkey: t.base_winner_hotkey.as_ref().map(Hotkey::to_string),
        winner_hotkey: t.winner_hotkey.as_ref().map(Hotkey::to_string),
        diff_report: boss_tasks.as_ref().map(|tasks| diff_report(tasks, t.winning_performance_difference)),
        participants,
        final_scores: final_scores.into_iter().map(|(h, score)| FinalScore { hotkey: h.to_string(), score }).collect(),
        rounds,
        text_tournament_weight: rules.weights.of(TournamentType::Text).base,
        image_tournament_weight: rules.weights.of(TournamentType::Image).base,
        environment_tournament_weight: None,
        boss_round_performance: boss_tasks.map(|tasks| tasks.into_iter().map(|(p, _)| p).collect()),
        sync_performance: None,
    }
}

/// The boss round in one sentence.
pub fn diff_report(tasks: &[(BossTaskPerformance, &'static str)], winning_difference: Option<f64>) -> String {
    let won = tasks.iter().filter(|(p, _)| p.challenger_won).count();
    format!(
        "the challenger won {won} of {} boss tasks at threshold {:.1}%; winning performance difference {:.4}",
        tasks.len(),
        tasks.first().map_or(0.0, |(p, _)| p.threshold_used * 100.0),
        winning_difference.unwrap_or(0.0)
    )
}

fn round_details(r: &RoundSnapshot) -> RoundDetails {
    let round = &r.round.round;
    let participants = match round.kind {
        RoundKind::Group => r.round.groups.iter().flat_map(|g| g.members.iter()).map(Hotkey::to_string).collect(),
        RoundKind::Knockout => {
            r.round.pairs.iter().flat_map(|p| [p.hotkey_a.to_string(), p.hotkey_b.to_string()]).collect()
        }
    };
    RoundDetails {
        round_id: round.id.as_str().to_owned(),
        round_number: round.number,
        round_type: round.kind.to_string(),
        is_final_round: round.is_final,
        status: round.status.to_string(),
        participants,
        tasks: live_tasks(r).map(task_score).collect(),
    }
}

/// The round's tasks that count: not replaced.
fn live_tasks(r: &RoundSnapshot) -> impl Iterator<Item = &TaskSnapshot> {
    r.tasks.iter().filter(|t| t.task.status != TaskStatus::Replaced)
}

/// The task's results once every training has ended; `None` while one still runs.
pub fn ended_results(t: &TaskSnapshot) -> Option<Vec<TrainingResult>> {
    t.trainings.iter().map(Training::result).collect()
}

/// The task's winner (the best valid result) once every training has ended.
pub fn winner_of(t: &TaskSnapshot) -> Option<Hotkey> {
    task_winner(t.task.task_type, &t.task.reward_weights(), &ended_results(t)?)
}

fn task_score(t: &TaskSnapshot) -> TaskScore {
    let results = ended_results(t).unwrap_or_default();
    let ranked = quality_scores(t.task.task_type, &t.task.reward_weights(), &results);
    let participant_scores = t
        .trainings
        .iter()
        .zip(&ranked)
        .map(|(tr, q)| ParticipantScore {
            hotkey: tr.hotkey.to_string(),
            quality_score: q.score,
            test_loss: tr.test_loss.filter(|v| v.is_finite()),
            synth_loss: tr.synth_loss.filter(|v| v.is_finite()),
            score_reason: q
                .reason
                .clone()
                .or_else(|| Some(tr.failure_reason.clone().unwrap_or_else(|| "failed".into()))),
        })
        .collect();
    TaskScore {
        task_id: t.task.id.to_string(),
        group_id: t.task.group_id.clone(),
        pair_id: t.task.pair_id.clone(),
        winner: winner_of(t).map(|h| h.to_string()),
        task_type: t.task.task_type.to_string(),
        participant_scores,
        environment_names: None,
        pvp_pair_results: None,
        pvp_individual_scores: None,
    }
}

/// The boss round task by task: the house's and the challenger's results under the threshold used,
/// and why the task went the way it did.
pub fn boss_round(
    r: &RoundSnapshot,
    house: &Hotkey,
    champion_wins: u32,
    rules: &Rules,
) -> Vec<(BossTaskPerformance, &'static str)> {
    let threshold = boss_threshold(champion_wins, &rules.scoring);
    live_tasks(r)
        .map(|t| {
            let results: Vec<TrainingResult> = t.trainings.iter().filter_map(Training::result).collect();
            let task = boss_task(t.task.task_type, &t.task.reward_weights(), &results, house);
            let winner = task.winner(threshold);
            let challenger_won = winner == Some(crate::domain::scoring::Side::Challenger);
            let reason = match (task.house, task.challenger) {
                (Some(_), Some(_)) if challenger_won => "the challenger beat the house by more than the threshold",
                (Some(_), Some(_)) => "the house held within the threshold",
                (None, Some(_)) => "only the challenger has a valid result",
                (Some(_), None) => "only the house has a valid result",
                (None, None) if winner.is_none() => {
                    "both sides trained and neither has a valid result: the task decides nothing"
                }
                (None, None) => "neither side has a valid result: the house holds",
            };
            let performance = BossTaskPerformance {
                task_id: t.task.id.to_string(),
                task_type: t.task.task_type.to_string(),
                boss_score: task.house.filter(|v| v.is_finite()),
                challenger_score: task.challenger.filter(|v| v.is_finite()),
                threshold_used: threshold,
                performance_difference: task.improvement(),
                challenger_won,
            };
            (performance, reason)
        })
        .collect()
}
