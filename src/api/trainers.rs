//! The trainer nodes and their GPU slots, twice: `GET /v1/tournament_orchestrator/trainers` in the
//! reference's `list[TrainerInfo]` (G.O.D 86623e97, `core/models/utility_models.py`, read as
//! `validator/db/sql/tournaments.py::get_trainers` reads it), and `GET /v1/crucible/trainers` with what
//! crucible adds: the node's id, whether it is fenced, when it was last seen and which training holds
//! each GPU.
//!
//! A held GPU is `used_until` its training's start plus the task's `hours_to_complete` (1 h when 0), as
//! the reference writes it when a training starts; `available` is what the reference derives from it
//! (no `used_until`, or one in the past), and false on a fenced node, whose GPUs take no new work.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::{ApiState, read};
use crate::domain::TrainingKey;
use crate::http::error::ApiError;
use crate::store::{Store, StoreError, TrainerNode};

/// When each held GPU's training is due to end, by holder (`<task_id>/<hotkey>`).
pub type HoldEnds = HashMap<TrainingKey, DateTime<Utc>>;

/// The nodes with the end of every hold, from the open attempts and their tasks' hours.
pub fn nodes_with_holds(s: &Store) -> Result<(Vec<TrainerNode>, HoldEnds), StoreError> {
    let nodes = s.list_nodes()?;
    let mut ends = HoldEnds::new();
    let held: Vec<&TrainingKey> = nodes.iter().flat_map(|n| &n.gpus).filter_map(|g| g.holder.as_ref()).collect();
    if held.is_empty() {
        return Ok((nodes, ends));
    }
    for attempt in s.open_attempts()? {
        let holder = TrainingKey::new(attempt.task_id.clone(), attempt.hotkey.clone());
        if !held.contains(&&holder) {
            continue;
        }
        let hours = s.get_task(&attempt.task_id)?.hours_to_complete;
        let hours = if hours > 0.0 { hours } else { 1.0 };
        ends.insert(holder, attempt.started_at + Duration::seconds((hours * 3600.0).round() as i64));
    }
    Ok((nodes, ends))
}

/// One GPU's `used_until` and `available` at `now`.
fn hold(
    node: &TrainerNode,
    holder: Option<&TrainingKey>,
    ends: &HoldEnds,
    now: DateTime<Utc>,
) -> (Option<DateTime<Utc>>, bool) {
    let until = holder.and_then(|h| ends.get(h).copied());
    (until, !node.fenced && until.is_none_or(|u| u < now))
}

/// A node as the reference's `TrainerInfo`.
pub fn reference_trainer(node: &TrainerNode, ends: &HoldEnds, now: DateTime<Utc>) -> Value {
    let updated = node.last_seen.unwrap_or(node.created_at);
    let gpus: Vec<Value> = node
        .gpus
        .iter()
        .map(|g| {
            let (used_until, available) = hold(node, g.holder.as_ref(), ends, now);
            json!({
                "gpu_id": g.index,
                "gpu_type": g.class.to_string(),
                "vram_gb": g.vram_gb,
                "available": available,
                "used_until": used_until,
                "updated_at": updated,
                "product_name": g.model_name,
                "interconnect": "unknown",
                "nvlink": false,
            })
        })
        .collect();
    json!({ "trainer_ip": node.address, "gpus": gpus })
}

/// A node as crucible shows it: the reference's fields and the node's id, fencing and GPU holders.
pub fn crucible_trainer(node: &TrainerNode, ends: &HoldEnds, now: DateTime<Utc>) -> Value {
    let gpus: Vec<Value> = node
        .gpus
        .iter()
        .map(|g| {
            let (used_until, available) = hold(node, g.holder.as_ref(), ends, now);
            json!({
                "gpu_id": g.index,
                "gpu_type": g.class.to_string(),
                "product_name": g.model_name,
                "vram_gb": g.vram_gb,
                "holder": g.holder,
                "used_until": used_until,
                "available": available,
            })
        })
        .collect();
    json!({
        "node_id": node.id,
        "trainer_ip": node.address,
        "fenced": node.fenced,
        "last_seen": node.last_seen,
        "gpus": gpus,
    })
}

/// Sorted as the reference sorts: by `trainer_ip`, GPUs by id (the store keeps them by index).
async fn sorted_nodes(state: &ApiState) -> Result<(Vec<TrainerNode>, HoldEnds), ApiError> {
    let (mut nodes, ends) = read(state, nodes_with_holds).await?;
    nodes.sort_by(|a, b| a.address.cmp(&b.address).then_with(|| a.id.cmp(&b.id)));
    Ok((nodes, ends))
}

/// `list[TrainerInfo]` (`get_trainers` in G.O.D 86623e97 `validator/endpoints/tournament_orchestrator.py`).
#[utoipa::path(get, path = "/v1/tournament_orchestrator/trainers", tag = "reference", responses((status = 200, description = "`[TrainerInfo]`: trainer nodes and their GPUs, by trainer_ip", body = Object)))]
pub async fn trainers(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let (nodes, ends) = sorted_nodes(&state).await?;
    let now = Utc::now();
    Ok(HttpResponse::Ok().json(nodes.iter().map(|n| reference_trainer(n, &ends, now)).collect::<Vec<_>>()))
}

/// The trainer nodes with their ids, fencing and GPU holders.
#[utoipa::path(get, path = "/v1/crucible/trainers", tag = "crucible", responses((status = 200, description = "`[{node_id, trainer_ip, fenced, last_seen, gpus: [{gpu_id, gpu_type, product_name, vram_gb, holder, used_until, available}]}]`", body = Object)))]
pub async fn crucible_trainers(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let (nodes, ends) = sorted_nodes(&state).await?;
    let now = Utc::now();
    Ok(HttpResponse::Ok().json(nodes.iter().map(|n| crucible_trainer(n, &ends, now)).collect::<Vec<_>>()))
}
