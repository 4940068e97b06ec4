//! The reference's `TournamentDetails` (docs/reference-analytics-api.md), built from a stored
//! tournament: participants, rounds with every task's scores and winner, the boss round task by task,
//! and the type weights. `/v1/tournaments/{id}/details` and `/v1/tournaments/latest/details` answer
//! with it. No IO here.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::rules::Rules;
use crate::domain::scoring::{BossTask, TrainingResult, boss_threshold, task_winner};
use crate::domain::weights::WeightReport;
use crate::domain::{AdmissionOutcome, Hotkey, RoundKind, RunStatus, TournamentStatus, TournamentType, TrainingStatus};
use crate::store::{RoundSnapshot, TASK_REPLACED, TaskSnapshot, TournamentSnapshot, Training};

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
    /// How the boss round was decided, in words.
    pub diff_report: Option<String>,
    pub participants: Vec<ParticipantDetails>,
    pub rounds: Vec<RoundDetails>,
    pub final_scores: Vec<FinalScore>,
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
    /// The best valid result, once the task's trainings have ended.
    pub winner: Option<String>,
    pub task_type: String,
    pub participant_scores: Vec<ParticipantScore>,
    pub environment_names: Option<Vec<String>>,
    pub pvp_pair_results: Option<serde_json::Value>,
    pub pvp_individual_scores: Option<serde_json::Value>,
    pub paired_example_wins: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ParticipantScore {
    pub hotkey: String,
    /// The ranking value of a successful training (its test loss, or its reward for GRPO).
    pub quality_score: Option<f64>,
    pub test_loss: Option<f64>,
    pub synth_loss: Option<f64>,
    /// Why the training has no valid score, or its status while it runs.
    pub score_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FinalScore {
    pub hotkey: String,
    /// Points from tasks won: the round number for every task won.
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
    pub paired_comparison: Option<serde_json::Value>,
    pub decision_reason: String,
}

/// The type weights shown with every tournament: `W_type` from the current weights, else the base.
pub fn type_weight(weights: Option<&WeightReport>, rules: &Rules, kind: TournamentType) -> f64 {
    weights
        .and_then(|w| w.types.iter().find(|t| t.tournament_type == kind))
        .map_or(rules.weights.of(kind).base, |t| t.winner_weight)
}

/// Builds the details of one stored tournament.
pub fn details(s: &TournamentSnapshot, rules: &Rules, weights: Option<&WeightReport>) -> TournamentDetails {
    let t = &s.tournament;
    let house = &rules.house_hotkey;
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
    let performance = boss.map(|r| boss_performance(r, house, t.champion_wins, rules));
    let diff_report = performance.as_ref().map(|tasks| {
        let won = tasks.iter().filter(|p| p.challenger_won).count();
        format!(
            "the challenger won {won} of {} boss tasks at threshold {:.1}%; winning performance difference {:.4}",
            tasks.len(),
            tasks.first().map_or(0.0, |p| p.threshold_used * 100.0),
            t.winning_performance_difference.unwrap_or(0.0)
        )
    });
    TournamentDetails {
        tournament_id: t.id.to_string(),
        tournament_type: t.tournament_type.to_string(),
        status: t.status.to_string(),
        base_winner_hotkey: t.base_winner_hotkey.as_ref().map(Hotkey::to_string),
        winner_hotkey: t.winner_hotkey.as_ref().map(Hotkey::to_string),
        diff_report,
        participants,
        final_scores: final_scores(&rounds),
        rounds,
        text_tournament_weight: type_weight(weights, rules, TournamentType::Text),
        image_tournament_weight: type_weight(weights, rules, TournamentType::Image),
        environment_tournament_weight: None,
        boss_round_performance: performance,
        sync_performance: None,
    }
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
        tasks: r.tasks.iter().filter(|t| t.task.status != TASK_REPLACED).map(task_score).collect(),
    }
}

/// A finished training as scoring sees it; `None` while it runs.
pub fn result_of(training: &Training) -> Option<TrainingResult> {
    let status = match training.status {
        TrainingStatus::Success => RunStatus::Success,
        TrainingStatus::Failure => RunStatus::Failure,
        _ => return None,
    };
    Some(TrainingResult {
        hotkey: training.hotkey.clone(),
        status,
        test_loss: training.test_loss,
        synth_loss: training.synth_loss,
    })
}

fn task_score(t: &TaskSnapshot) -> TaskScore {
    let finished = t.trainings.iter().all(|tr| tr.status.is_finished());
    let results: Vec<TrainingResult> = t.trainings.iter().filter_map(result_of).collect();
    let participant_scores = t
        .trainings
        .iter()
        .map(|tr| {
            let valid = result_of(tr).and_then(|r| r.valid_value());
            let score_reason = match (tr.status, valid) {
                (_, Some(_)) => None,
                (TrainingStatus::Failure, None) => Some(tr.failure_reason.clone().unwrap_or_else(|| "failed".into())),
                (TrainingStatus::Success, None) => Some("the evaluation gave no finite score".into()),
                (status, None) => Some(status.to_string()),
            };
            ParticipantScore {
                hotkey: tr.hotkey.to_string(),
                quality_score: valid,
                test_loss: tr.test_loss,
                synth_loss: tr.synth_loss,
                score_reason,
            }
        })
        .collect();
    TaskScore {
        task_id: t.task.id.to_string(),
        group_id: t.task.group_id.clone(),
        pair_id: t.task.pair_id.clone(),
        winner: if finished { task_winner(t.task.task_type, &results).map(|h| h.to_string()) } else { None },
        task_type: t.task.task_type.to_string(),
        participant_scores,
        environment_names: None,
        pvp_pair_results: None,
        pvp_individual_scores: None,
        paired_example_wins: None,
    }
}

/// The boss round task by task: the house's and the challenger's results under the threshold used.
fn boss_performance(r: &RoundSnapshot, house: &Hotkey, champion_wins: u32, rules: &Rules) -> Vec<BossTaskPerformance> {
    let threshold = boss_threshold(champion_wins, &rules.scoring);
    r.tasks
        .iter()
        .filter(|t| t.task.status != TASK_REPLACED)
        .map(|t| {
            let side = |house_side: bool| {
                t.trainings.iter().find(|tr| (&tr.hotkey == house) == house_side).and_then(result_of)
            };
            let (h, c) = (side(true), side(false));
            let status = |r: &Option<TrainingResult>| r.as_ref().map_or(RunStatus::Failure, |r| r.status);
            let task = BossTask {
                task_type: t.task.task_type,
                house: h.as_ref().and_then(|r| r.test_loss),
                challenger: c.as_ref().and_then(|r| r.test_loss),
                house_status: status(&h),
                challenger_status: status(&c),
            };
            let challenger_won = task.winner(threshold) == crate::domain::scoring::Side::Challenger;
            let (hv, cv) = (h.and_then(|r| r.valid_value()), c.and_then(|r| r.valid_value()));
            let decision_reason = match (hv, cv) {
                (Some(_), Some(_)) if challenger_won => "the challenger beat the house by more than the threshold",
                (Some(_), Some(_)) => "the house held within the threshold",
                (None, Some(_)) => "only the challenger has a valid result",
                (Some(_), None) => "only the house has a valid result",
                (None, None) => "neither side has a valid result: the house holds",
            };
            BossTaskPerformance {
                task_id: t.task.id.to_string(),
                task_type: t.task.task_type.to_string(),
                boss_score: task.house,
                challenger_score: task.challenger,
                threshold_used: threshold,
                performance_difference: task.improvement(),
                challenger_won,
                paired_comparison: None,
                decision_reason: decision_reason.into(),
            }
        })
        .collect()
}

/// Points per hotkey: the round number for every task won; highest first, ties by hotkey.
fn final_scores(rounds: &[RoundDetails]) -> Vec<FinalScore> {
    let mut points: std::collections::BTreeMap<&str, f64> = Default::default();
    for r in rounds {
        for w in r.tasks.iter().filter_map(|t| t.winner.as_deref()) {
            *points.entry(w).or_default() += f64::from(r.round_number);
        }
    }
    let mut scores: Vec<FinalScore> =
        points.into_iter().map(|(h, score)| FinalScore { hotkey: h.to_owned(), score }).collect();
    scores.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.hotkey.cmp(&b.hotkey)));
    scores
}
