//! The reference's scheduling and orchestrator reads (docs/reference-analytics-api.md), as G.O.D
//! 86623e97 answers them (`validator/endpoints/tournament_analytics.py`, `validator/db/sql/tournaments.py`):
//! the next tournament dates, the GPUs the unfinished tasks need, and the training counts.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use serde_json::{Map, Value, json};

use super::{ApiState, read};
use crate::domain::calendar::next_start;
use crate::domain::gpu::requirement;
use crate::domain::{TaskStatus, TournamentId, TournamentStatus, TournamentType};
use crate::http::error::ApiError;
use crate::store::{Store, StoreError};

/// Where the next tournament of one type stands.
#[derive(Debug, Clone, PartialEq)]
pub struct NextDate {
    pub kind: TournamentType,
    /// `active`, `pending` (registering) or `waiting` (for the interval after the last one).
    pub status: &'static str,
    /// When a waiting type's next tournament starts; `None` for a live one.
    pub start: Option<DateTime<Utc>>,
    /// An active tournament's rounds so far (1 before the first), 1 for a pending one.
    pub round: Option<u32>,
    pub live: Option<TournamentId>,
}

/// Each type's next date at `now`: the active tournament's round count, a pending one's round 1, or
/// the next start after the latest tournament that was not cancelled (see [`next_start`]).
pub fn schedule(s: &Store, interval_hours: f64, now: DateTime<Utc>) -> Result<Vec<NextDate>, StoreError> {
    let interval = Duration::seconds((interval_hours * 3600.0).round() as i64);
    let mut out = Vec::new();
    for kind in [TournamentType::Text, TournamentType::Image] {
        let all = s.list_tournaments(Some(kind.as_str()))?;
        let newest = |status| all.iter().filter(|t| t.status == status).max_by_key(|t| t.created_at);
        let next = if let Some(t) = newest(TournamentStatus::Active) {
            let rounds = s.list_rounds(&t.id)?.len();
            let round = u32::try_from(rounds).unwrap_or(u32::MAX).max(1);
            NextDate { kind, status: "active", start: None, round: Some(round), live: Some(t.id.clone()) }
        } else if let Some(t) = newest(TournamentStatus::Pending) {
            NextDate { kind, status: "pending", start: None, round: Some(1), live: Some(t.id.clone()) }
        } else {
            let latest = all.iter().filter(|t| t.status != TournamentStatus::Cancelled).max_by_key(|t| t.created_at);
            let base = latest.map(|t| t.completed_at.unwrap_or(t.created_at));
            NextDate { kind, status: "waiting", start: Some(next_start(base, interval, now)), round: None, live: None }
        };
        out.push(next);
    }
    Ok(out)
}

/// `NextTournamentDates` (`get_next_tournament_dates` in G.O.D 86623e97): see [`schedule`].
#[utoipa::path(get, path = "/v1/tournaments/next-dates", tag = "reference", responses((status = 200, description = "`{text, image, environment}`: each type's active round, pending registration or next start", body = Object)))]
pub async fn next_dates(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let interval = state.rules.schedule.interval_hours;
    let dates = read(&state, move |s| schedule(s, interval, Utc::now())).await?;
    let hours = interval.round() as i64;
    let mut answer = Map::new();
    for d in dates {
        answer.insert(d.kind.to_string(), next_date(d.kind.as_str(), d.status, d.start, d.round, hours));
    }
    answer.insert("environment".into(), next_date("environment", "waiting", None, None, hours));
    Ok(HttpResponse::Ok().json(Value::Object(answer)))
}

fn next_date(kind: &str, status: &str, start: Option<DateTime<Utc>>, round: Option<u32>, hours: i64) -> Value {
    json!({
        "tournament_type": kind,
        "next_start_date": start,
        "next_end_date": Value::Null,
        "current_round_number": round,
        "tournament_status": status,
        "interval_hours": hours,
        "scheduled_day_of_week": start.map(|s| s.weekday().num_days_from_monday()),
        "scheduled_hour": start.map(|s| s.hour()),
        "scheduled_minute": start.map(|s| s.minute()),
    })
}

/// `TournamentGpuRequirementsResponse` (`get_tournament_gpu_requirements` in G.O.D 86623e97): every
/// unfinished task (not replaced, a training not ended) of every round of the live tournaments counts
/// once for its GPU type with its `hours_to_complete` (1 h when 0); `total_tasks` is the sum of the counts.
#[utoipa::path(get, path = "/v1/tournaments/gpu-requirements", tag = "reference", responses((status = 200, description = "GPUs the unfinished tasks need", body = Object)))]
pub async fn gpu_requirements(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let rules = state.rules.clone();
    let needs = read(&state, move |s| {
        let mut needs: std::collections::BTreeMap<String, (u64, f64)> = Default::default();
        for t in s.unfinished_tournaments()? {
            let snapshot = s.tournament_snapshot(&t.id)?;
            let tasks = snapshot.rounds.iter().flat_map(|r| &r.tasks).filter(|t| t.task.status != TaskStatus::Replaced);
            for task in tasks.filter(|t| t.trainings.iter().any(|tr| !tr.status.is_finished())) {
                let need = requirement(task.task.task_type, task.task.model_params, &rules.gpu);
                let hours = task.task.hours_to_complete;
                let entry = needs.entry(need.to_string()).or_default();
                entry.0 += 1;
                entry.1 += if hours > 0.0 { hours } else { 1.0 };
            }
        }
        Ok(needs)
    })
    .await?;
    let total_tasks: u64 = needs.values().map(|(count, _)| count).sum();
    let total_hours: f64 = needs.values().map(|(_, h)| h).sum();
    let list: Vec<Value> = needs
        .into_iter()
        .map(|(gpu_type, (count, hours))| json!({ "gpu_type": gpu_type, "count": count, "total_hours": hours }))
        .collect();
    Ok(HttpResponse::Ok()
        .json(json!({ "gpu_requirements": list, "total_tasks": total_tasks, "total_hours": total_hours })))
}

/// `{total_pairs, pending, success, failure, avg_attempts, max_attempts, <other status>: n}` over every
/// training (`get_tournament_training_stats` in G.O.D 86623e97): `avg_attempts` is the largest of the
/// per-status mean attempts, the integer 0 without trainings.
#[utoipa::path(get, path = "/v1/tournament_orchestrator/training_stats", tag = "reference", responses((status = 200, description = "Trainings by status, with attempts", body = Object)))]
pub async fn training_stats(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let counts = read(&state, |s| s.training_counts()).await?;
    let total: u64 = counts.iter().map(|c| c.count).sum();
    let mut answer = Map::new();
    answer.insert("total_pairs".into(), total.into());
    for status in ["pending", "success", "failure"] {
        answer.insert(status.into(), 0.into());
    }
    for c in &counts {
        answer.insert(c.status.to_string(), c.count.into());
    }
    let means = counts.iter().filter(|c| c.count > 0).map(|c| c.attempts as f64 / c.count as f64);
    let average = means.reduce(f64::max).map_or(json!(0), |m| json!(m));
    answer.insert("avg_attempts".into(), average);
    answer.insert("max_attempts".into(), counts.iter().map(|c| c.max_attempts).max().unwrap_or(0).into());
    Ok(HttpResponse::Ok().json(Value::Object(answer)))
}
