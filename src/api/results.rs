//! `GET /v1/crucible/tournaments/{tournament_id}/results`: what crucible knows of a tournament beyond
//! the reference's details: every task (replaced ones too) with every training as it stands (status,
//! attempts, raw losses, the value it is ranked by, why it failed, its rank score once the task has
//! ended), and the boss round with why each task went to the house or the challenger. The tournament
//! page renders from it. No reference model has these fields, so they live on a crucible-only route.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::details::{BossTaskPerformance, boss_round, diff_report, ended_results, winner_of};
use super::{ApiState, read};
use crate::domain::rules::Rules;
use crate::domain::scoring::score_task;
use crate::domain::standings::quality_scores;
use crate::domain::{TaskStatus, TournamentStatus};
use crate::http::error::ApiError;
use crate::http::error::ErrorBody;
use crate::store::{TaskSnapshot, TournamentSnapshot};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TournamentResults {
    pub tournament_id: String,
    pub status: String,
    /// The boss round in one sentence, once the tournament has completed.
    pub diff_report: Option<String>,
    pub rounds: Vec<RoundResults>,
    /// Completed tournaments only.
    pub boss_round: Option<Vec<BossDecision>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoundResults {
    pub round_id: String,
    pub round_number: u32,
    pub tasks: Vec<TaskResults>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskResults {
    pub task_id: String,
    pub task_type: String,
    /// The task's lifecycle status; `replaced` for a task round sanity replaced.
    pub status: String,
    pub replaces_task_id: Option<String>,
    pub hours_to_complete: f64,
    /// The best valid result, once every training has ended.
    pub winner: Option<String>,
    pub trainings: Vec<TrainingResults>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrainingResults {
    pub hotkey: String,
    /// `pending`, `training`, `success` or `failure`.
    pub status: String,
    /// Real starts so far.
    pub attempts: u32,
    pub test_loss: Option<f64>,
    pub synth_loss: Option<f64>,
    /// What the training is ranked by (its test loss, or its reward for GRPO: once the task has ended,
    /// normalised across the task's repositories) when it has one; a duplicate has none.
    pub ranking_value: Option<f64>,
    pub failure_reason: Option<String>,
    /// The reference's rank score, once every training of the task has ended: 3 for the best valid
    /// result, 0 for the other valid ones, −1 for the bottom quarter above 8 valid and for the invalid.
    pub quality_score: Option<f64>,
    /// Why the score is what it is, once the task has ended: where the result ranked, or why it is
    /// invalid ("Non-finetuned submission", "Duplicated submission", "Invalid test loss",
    /// "Evaluation failed: ...").
    pub score_reason: Option<String>,
    /// False when the evaluator found the output is not a fine-tune of the task's base model.
    pub is_finetune: Option<bool>,
    /// When the output was collected: of exactly equal results, the earliest keeps its score.
    pub collected_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The content id (`sha256:...`) of the miner image that trained the scored output, when the
    /// validator or its node built it (every attempt's, failed ones included, is kept in the store).
    pub image: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BossDecision {
    #[serde(flatten)]
    pub performance: BossTaskPerformance,
    /// Why the task went to the challenger or stayed with the house.
    pub decision_reason: String,
}

/// Builds crucible's results of one stored tournament.
pub fn results(s: &TournamentSnapshot, rules: &Rules) -> TournamentResults {
    let t = &s.tournament;
    let boss = s.rounds.iter().find(|r| r.round.round.is_final && t.status == TournamentStatus::Completed);
    let boss = boss.map(|r| boss_round(r, &rules.house_hotkey, t.champion_wins, rules));
    TournamentResults {
        tournament_id: t.id.to_string(),
        status: t.status.to_string(),
        diff_report: boss.as_deref().map(|tasks| diff_report(tasks, t.winning_performance_difference)),
        rounds: s
            .rounds
            .iter()
            .map(|r| RoundResults {
                round_id: r.round.round.id.as_str().to_owned(),
                round_number: r.round.round.number,
                tasks: r.tasks.iter().map(task_results).collect(),
            })
            .collect(),
        boss_round: boss.map(|tasks| {
            tasks
                .into_iter()
                .map(|(performance, reason)| BossDecision { performance, decision_reason: reason.into() })
                .collect()
        }),
    }
}

fn task_results(t: &TaskSnapshot) -> TaskResults {
    let weights = t.task.reward_weights();
    let ended = ended_results(t);
    let ranked = ended.as_ref().map(|results| quality_scores(t.task.task_type, &weights, results));
    let values = ended.as_ref().map(|results| score_task(t.task.task_type, &weights, results));
    let trainings = t
        .trainings
        .iter()
        .enumerate()
        .map(|(i, tr)| TrainingResults {
            hotkey: tr.hotkey.to_string(),
            status: tr.status.to_string(),
            attempts: tr.attempts,
            test_loss: tr.test_loss.filter(|v| v.is_finite()),
            synth_loss: tr.synth_loss.filter(|v| v.is_finite()),
            ranking_value: match &values {
                Some(scores) => scores.get(i).and_then(|s| s.value),
                None => tr.result().and_then(|r| r.valid_value()),
            },
            failure_reason: tr.failure_reason.clone(),
            quality_score: ranked.as_ref().and_then(|q| q.get(i)).map(|q| q.score),
            score_reason: ranked.as_ref().and_then(|q| q.get(i)).and_then(|q| q.reason.clone()),
            is_finetune: tr.eval.is_finetune,
            collected_at: tr.eval.collected_at,
            image: tr.eval.image.clone(),
        })
        .collect();
    let replaced = t.task.status == TaskStatus::Replaced;
    TaskResults {
        task_id: t.task.id.to_string(),
        task_type: t.task.task_type.to_string(),
        status: t.task.status.to_string(),
        replaces_task_id: t.task.replaces_task_id.as_ref().map(ToString::to_string),
        hours_to_complete: t.task.hours_to_complete,
        winner: if replaced { None } else { winner_of(t).map(|h| h.to_string()) },
        trainings,
    }
}

/// crucible's results of one tournament; 400 for a malformed id, 404 for an unknown one.
#[utoipa::path(get, path = "/v1/crucible/tournaments/{tournament_id}/results", tag = "crucible",
    params(("tournament_id" = String, Path, description = "tourn_<hex>_<YYYYMMDD>")),
    responses((status = 200, description = "Every task and training with raw results, and the boss round's decisions", body = TournamentResults),
        (status = 400, description = "Not a tournament id", body = ErrorBody), (status = 404, description = "No such tournament", body = ErrorBody)))]
pub async fn tournament_results(state: web::Data<ApiState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = super::tournament_id(&id)?;
    let rules = state.rules.clone();
    let answer = read(&state, move |s| Ok(results(&s.tournament_snapshot(&id)?, &rules))).await?;
    Ok(HttpResponse::Ok().json(answer))
}
