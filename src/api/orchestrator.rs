//! The reference's scheduling and orchestrator reads (docs/reference-analytics-api.md): the next
//! tournament dates, the GPUs the live rounds need, the trainer nodes with their GPU slots, and the
//! training counts.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use serde_json::{Map, Value, json};

use super::{ApiState, read};
use crate::domain::gpu::requirement;
use crate::domain::{TournamentId, TournamentStatus, TournamentType};
use crate::http::error::ApiError;
use crate::store::{Store, StoreError, TASK_REPLACED, TrainerNode};

/// When the next tournament of one type starts.
#[derive(Debug, Clone, PartialEq)]
pub struct NextDate {
    pub kind: TournamentType,
    /// `active`, `pending` (registering) or `waiting` (for the interval after the last completion).
    pub status: &'static str,
    pub start: Option<DateTime<Utc>>,
    /// The live tournament's current round (0 before the first).
    pub round: u32,
    pub live: Option<TournamentId>,
}

/// The next start of each type: a live tournament's start, or the last completion plus the interval.
pub fn schedule(s: &Store, interval_hours: f64) -> Result<Vec<NextDate>, StoreError> {
    let unfinished = s.unfinished_tournaments()?;
    let mut out = Vec::new();
    for kind in [TournamentType::Text, TournamentType::Image] {
        let live = unfinished.iter().filter(|t| t.tournament_type == kind).max_by_key(|t| t.created_at);
        let round = match live {
            Some(t) => s.list_rounds(&t.id)?.last().map_or(0, |r| r.round.number),
            None => 0,
        };
        let (status, start) = match live {
            Some(t) if t.status == TournamentStatus::Active => ("active", t.started_at.or(Some(t.created_at))),
            Some(t) => ("pending", Some(t.created_at)),
            None => {
                let latest = s.latest_completed_tournament(kind)?;
                let due = latest.and_then(|t| t.completed_at).map(|done| done + hours(interval_hours));
                ("waiting", Some(due.unwrap_or_else(Utc::now)))
            }
        };
        out.push(NextDate { kind, status, start, round, live: live.map(|t| t.id.clone()) });
    }
    Ok(out)
}

/// `{text, image, environment}`: when the next tournament of each type starts (see [`schedule`]).
#[utoipa::path(get, path = "/v1/tournaments/next-dates", tag = "reference", responses((status = 200, description = "`{text, image, environment}`: when the next tournament of each type starts", body = Object)))]
pub async fn next_dates(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let interval = state.rules.schedule.interval_hours;
    let dates = read(&state, move |s| schedule(s, interval)).await?;
    let mut answer = Map::new();
    for d in dates {
        answer.insert(d.kind.to_string(), next_date(d.kind.as_str(), d.status, d.start, d.round, interval));
    }
    answer.insert("environment".into(), next_date("environment", "waiting", None, 0, interval));
    Ok(HttpResponse::Ok().json(Value::Object(answer)))
}

fn hours(h: f64) -> Duration {
    Duration::seconds((h * 3600.0).round() as i64)
}

fn next_date(kind: &str, status: &str, start: Option<DateTime<Utc>>, round: u32, interval: f64) -> Value {
    json!({
        "tournament_type": kind,
        "next_start_date": start,
        "next_end_date": Value::Null,
        "current_round_number": round,
        "tournament_status": status,
        "interval_hours": interval,
        "scheduled_day_of_week": start.map(|s| s.weekday().num_days_from_monday()),
        "scheduled_hour": start.map(|s| s.hour()),
        "scheduled_minute": start.map(|s| s.minute()),
    })
}

/// `{gpu_requirements: [{gpu_type, count, total_hours}], total_tasks, total_hours}` for the trainings
/// of the live rounds that have not ended: `count` trainings of each GPU type and their hours.
#[utoipa::path(get, path = "/v1/tournaments/gpu-requirements", tag = "reference", responses((status = 200, description = "GPUs the live rounds still need", body = Object)))]
pub async fn gpu_requirements(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let rules = state.rules.clone();
    let (needs, tasks) = read(&state, move |s| {
        let mut needs: std::collections::BTreeMap<String, (u64, f64)> = Default::default();
        let mut tasks = 0u64;
        for t in s.unfinished_tournaments()? {
            let snapshot = s.tournament_snapshot(&t.id)?;
            let Some(round) = snapshot.rounds.last() else { continue };
            for task in round.tasks.iter().filter(|t| t.task.status != TASK_REPLACED) {
                let open = task.trainings.iter().filter(|tr| !tr.status.is_finished()).count() as u64;
                if open == 0 {
                    continue;
                }
                tasks += 1;
                let need = requirement(task.task.task_type, task.task.model_params, &rules.gpu);
                let entry = needs.entry(need.to_string()).or_default();
                entry.0 += open;
                entry.1 += open as f64 * task.task.hours_to_complete;
            }
        }
        Ok((needs, tasks))
    })
    .await?;
    let total_hours: f64 = needs.values().map(|(_, h)| h).sum();
    let list: Vec<Value> = needs
        .into_iter()
        .map(|(gpu_type, (count, hours))| json!({ "gpu_type": gpu_type, "count": count, "total_hours": hours }))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "gpu_requirements": list, "total_tasks": tasks, "total_hours": total_hours })))
}

/// The trainer nodes with their GPU slots, in the reference's shape plus `node_id` and `fenced`.
#[utoipa::path(get, path = "/v1/tournament_orchestrator/trainers", tag = "reference", responses((status = 200, description = "Trainer nodes and their GPU slots", body = Object)))]
pub async fn trainers(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let nodes = read(&state, |s| s.list_nodes()).await?;
    Ok(HttpResponse::Ok().json(nodes.iter().map(trainer).collect::<Vec<_>>()))
}

pub fn trainer(node: &TrainerNode) -> Value {
    let updated = node.last_seen.unwrap_or(node.created_at);
    let gpus: Vec<Value> = node
        .gpus
        .iter()
        .map(|g| {
            json!({
                "gpu_id": g.index,
                "gpu_type": g.class.to_string(),
                "vram_gb": g.vram_gb,
                "available": g.holder.is_none() && !node.fenced,
                "used_until": Value::Null,
                "updated_at": updated,
                "product_name": g.model_name,
                "interconnect": "unknown",
                "nvlink": false,
                "holder": g.holder,
            })
        })
        .collect();
    json!({ "trainer_ip": node.address, "node_id": node.id, "fenced": node.fenced, "gpus": gpus })
}

/// `{total_pairs, pending, success, failure, avg_attempts, max_attempts, <other status>: n}` over
/// every training.
#[utoipa::path(get, path = "/v1/tournament_orchestrator/training_stats", tag = "reference", responses((status = 200, description = "Trainings by status, with attempts", body = Object)))]
pub async fn training_stats(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let counts = read(&state, |s| s.training_counts()).await?;
    let total: u64 = counts.iter().map(|c| c.count).sum();
    let attempts: u64 = counts.iter().map(|c| c.attempts).sum();
    let mut answer = Map::new();
    answer.insert("total_pairs".into(), total.into());
    for status in ["pending", "success", "failure"] {
        answer.insert(status.into(), 0.into());
    }
    for c in &counts {
        answer.insert(c.status.to_string(), c.count.into());
    }
    let average = if total == 0 { 0.0 } else { attempts as f64 / total as f64 };
    answer.insert("avg_attempts".into(), json!(average));
    answer.insert("max_attempts".into(), counts.iter().map(|c| c.max_attempts).max().unwrap_or(0).into());
    Ok(HttpResponse::Ok().json(Value::Object(answer)))
}
