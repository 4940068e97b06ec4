//! Operations on the running validator: create a tournament now, cancel one, retry / replace /
//! accept a task (the round-sanity overrides) as messages to its supervisor; add and remove trainer
//! nodes as messages to its fleet. Each is answered once persisted; a server without a validator
//! runtime answers 503.

use actix::Addr;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::ApiState;
use crate::actors::ASK_TIMEOUT;
use crate::actors::control::{
    AddRemoteNode, CancelTournament, ConfirmTournament, ControlError, CreateTournament, OverrideTask, RemoveRemoteNode,
    TaskAction,
};
use crate::actors::supervisor::Supervisor;
use crate::domain::{TaskId, TournamentType};
use crate::http::error::ApiError;
use crate::http::error::ErrorBody;

/// The running validator's actors, as the API reaches them.
#[derive(Clone)]
pub struct Control {
    pub supervisor: Addr<Supervisor>,
    pub fleet: Addr<crate::actors::fleet::FleetActor>,
    /// What has stalled.
    pub stalls: crate::actors::stalls::Stalls,
}

pub(super) fn control(state: &ApiState) -> Result<&Control, ApiError> {
    state.control.as_ref().ok_or_else(|| {
        ApiError::Unavailable("this server runs no validator runtime: operations need `crucible validator`".into())
    })
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::NotFound(m) => ApiError::NotFound(m),
            ControlError::Conflict(m) => ApiError::Conflict(m),
            ControlError::Invalid(m) => ApiError::BadRequest(m),
            ControlError::Unavailable(m) => ApiError::Unavailable(m),
        }
    }
}

pub(super) fn answer<T>(sent: Result<Result<T, ControlError>, actix::MailboxError>) -> Result<T, ApiError> {
    sent.map_err(|e| ApiError::Unavailable(format!("the validator runtime did not answer: {e}")))?
        .map_err(ApiError::from)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// `text` or `image`: a tournament of that type's default track. Optional with `track`.
    #[serde(default)]
    pub tournament_type: Option<String>,
    /// The track to run a tournament of (its type must be `tournament_type`, when that is given too).
    #[serde(default)]
    pub track: Option<String>,
}

#[utoipa::path(post, path = "/v1/tournaments", tag = "operations", security(("bearer" = [])), request_body = CreateBody,
    responses((status = 201, description = "Created; registration opens now: `{tournament_id, tournament_type, track, status}`", body = Object),
        (status = 400, description = "Unknown tournament type or track, neither given, or a track of another type", body = ErrorBody),
        (status = 409, description = "One of the track is live", body = ErrorBody),
        (status = 503, description = "No validator runtime", body = ErrorBody)))]
pub async fn create(state: web::Data<ApiState>, body: web::Json<CreateBody>) -> Result<HttpResponse, ApiError> {
    let kind: Option<TournamentType> = match &body.tournament_type {
        Some(t) => Some(t.parse().map_err(|e| ApiError::BadRequest(format!("tournament_type: {e}")))?),
        None => None,
    };
    let name = match (&body.track, kind) {
        (Some(track), _) => track.clone(),
        (None, Some(kind)) => kind.as_str().to_owned(),
        (None, None) => return Err(ApiError::BadRequest("give a track or a tournament_type".into())),
    };
    let Some(track) = state.rules.track(&name) else {
        let names: Vec<String> = state.rules.tracks().into_iter().map(|t| t.name).collect();
        return Err(ApiError::BadRequest(format!(
            "track: no track is named {name:?}; the tracks are {}",
            names.join(", ")
        )));
    };
    if let Some(kind) = kind.filter(|k| *k != track.tournament_type) {
        return Err(ApiError::BadRequest(format!(
            "track: {name} runs {} tournaments, not {kind}",
            track.tournament_type
        )));
    }
    let asked = CreateTournament { track: track.name.clone() };
    let id = answer(control(&state)?.supervisor.send(asked).timeout(ASK_TIMEOUT).await)?;
    Ok(HttpResponse::Created().json(json!({
        "tournament_id": id.as_str(),
        "tournament_type": track.tournament_type.as_str(),
        "track": track.name,
        "status": "pending",
    })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Why, for the record and the miners.
    pub reason: String,
}

#[utoipa::path(post, path = "/v1/tournaments/{tournament_id}/cancel", tag = "operations", security(("bearer" = [])),
    params(("tournament_id" = String, Path, description = "A pending or active tournament")), request_body = CancelBody,
    responses((status = 200, description = "Cancelled, every fee refunded; running attempts finish, nothing new starts", body = Object),
        (status = 404, description = "No such tournament", body = ErrorBody),
        (status = 409, description = "It has ended already", body = ErrorBody),
        (status = 503, description = "No validator runtime", body = ErrorBody)))]
pub async fn cancel(
    state: web::Data<ApiState>,
    path: web::Path<String>,
    body: web::Json<CancelBody>,
) -> Result<HttpResponse, ApiError> {
    let id = super::tournament_id(&path)?;
    // Stored and shown to miners: without control characters or bidirectional overrides.
    let reason = crate::domain::text::plain(&body.into_inner().reason);
    if reason.is_empty() {
        return Err(ApiError::BadRequest("reason: must say why".into()));
    }
    let request = CancelTournament { id: id.clone(), reason };
    answer(control(&state)?.supervisor.send(request).timeout(ASK_TIMEOUT).await)?;
    Ok(HttpResponse::Ok().json(json!({ "tournament_id": id.as_str(), "status": "cancelled" })))
}

#[utoipa::path(post, path = "/v1/tournaments/{tournament_id}/confirm", tag = "operations", security(("bearer" = [])),
    params(("tournament_id" = String, Path, description = "A tournament whose boss round is decided")),
    responses((status = 200, description = "Completed with its winner; the next tournament of the type is scheduled", body = Object),
        (status = 404, description = "No such tournament", body = ErrorBody),
        (status = 409, description = "It does not wait for a confirmation (not decided yet, ended, or `require_operator_confirmation` is off)", body = ErrorBody),
        (status = 503, description = "No validator runtime", body = ErrorBody)))]
pub async fn confirm(state: web::Data<ApiState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = super::tournament_id(&path)?;
    let winner =
        answer(control(&state)?.supervisor.send(ConfirmTournament { id: id.clone() }).timeout(ASK_TIMEOUT).await)?;
    Ok(HttpResponse::Ok().json(json!({
        "tournament_id": id.as_str(),
        "status": "completed",
        "winner_hotkey": winner.as_str(),
    })))
}

#[utoipa::path(post, path = "/v1/tasks/{task_id}/{action}", tag = "operations", security(("bearer" = [])),
    params(("task_id" = String, Path, description = "A task of a live round"),
        ("action" = String, Path, description = "`retry` (its failed trainings run again with fresh attempts), `replace` (a fresh task for the same players) or `accept` (never replaced by round sanity)")),
    responses((status = 200, description = "Done; the round carries on", body = Object),
        (status = 400, description = "Unknown action or malformed id", body = ErrorBody),
        (status = 404, description = "No such task", body = ErrorBody),
        (status = 409, description = "The task's state does not allow it (still training, decided round, replaced, nothing failed)", body = ErrorBody),
        (status = 503, description = "No validator runtime", body = ErrorBody)))]
pub async fn override_task(
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (task, action) = path.into_inner();
    let action = TaskAction::parse(&action)
        .ok_or_else(|| ApiError::BadRequest(format!("action: {action:?} is not retry, replace or accept")))?;
    let task = TaskId::parse(&task).map_err(|e| ApiError::BadRequest(format!("task_id: {e}")))?;
    let control = control(&state)?.clone();
    let id = task.clone();
    let tournament = super::read(&state, move |s| s.get_task(&id)).await?.tournament_id;
    let request = OverrideTask { tournament: tournament.clone(), task: task.clone(), action };
    let done = answer(control.supervisor.send(request).timeout(ASK_TIMEOUT).await)?;
    Ok(HttpResponse::Ok().json(json!({
        "task_id": task.as_str(),
        "tournament_id": tournament.as_str(),
        "action": action.as_str(),
        "result": done,
    })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddTrainerBody {
    /// Base URL of the node's trainer API, e.g. `http://10.0.0.5:8001`.
    pub trainer_ip: String,
    /// Its id in the store; derived from the URL (`10.0.0.5-8001`) when absent.
    #[serde(default)]
    pub node_id: Option<String>,
    /// The bearer token the node asks for (`trainer_node.token`); empty for none.
    #[serde(default)]
    pub token: String,
}

#[utoipa::path(post, path = "/v1/tournament_orchestrator/add_trainer", tag = "operations", security(("bearer" = [])),
    request_body = AddTrainerBody,
    responses((status = 201, description = "Added: its GPUs are used from now on, and after restarts; answers its `/v1/crucible/trainers` entry", body = Object),
        (status = 400, description = "Not a URL, a bad id, or the node does not answer", body = ErrorBody),
        (status = 409, description = "Known already, or the validator does not use remote nodes", body = ErrorBody),
        (status = 503, description = "No validator runtime", body = ErrorBody)))]
pub async fn add_trainer(
    state: web::Data<ApiState>,
    body: web::Json<AddTrainerBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let request = AddRemoteNode { url: body.trainer_ip, id: body.node_id, token: body.token };
    let node = answer(control(&state)?.fleet.send(request).timeout(ASK_TIMEOUT).await)?;
    let entry = super::trainers::crucible_trainer(&node, &Default::default(), chrono::Utc::now());
    Ok(HttpResponse::Created().json(entry))
}

#[utoipa::path(delete, path = "/v1/tournament_orchestrator/remove_trainer/{trainer_ip}", tag = "operations", security(("bearer" = [])),
    params(("trainer_ip" = String, Path, description = "The node's id or base URL (percent-encoded)")),
    responses((status = 200, description = "Removed", body = Object), (status = 404, description = "No such node", body = ErrorBody),
        (status = 409, description = "Configured in validator.nodes, or trainings hold its GPUs (it is fenced then)", body = ErrorBody),
        (status = 503, description = "No validator runtime", body = ErrorBody)))]
pub async fn remove_trainer(state: web::Data<ApiState>, key: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let removed =
        answer(control(&state)?.fleet.send(RemoveRemoteNode { key: key.into_inner() }).timeout(ASK_TIMEOUT).await)?;
    Ok(HttpResponse::Ok().json(json!({ "removed": removed })))
}
