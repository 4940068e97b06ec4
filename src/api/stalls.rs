//! Work that stalled (`actors::stalls`): listed with its reason, and retried by an operator.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::ApiState;
use super::control::{answer, control};
use crate::actors::ASK_TIMEOUT;
use crate::actors::control::RetryStalled;
use crate::actors::stalls::Stall;
use crate::domain::{Hotkey, TaskId, TournamentId, TrainingKey};
use crate::http::error::{ApiError, ErrorBody};

#[utoipa::path(get, path = "/v1/crucible/stalls", tag = "operations",
    responses((status = 200, description = "Every stalled tournament and training, with why and since when", body = [Stall]),
        (status = 503, description = "No validator runtime", body = ErrorBody)))]
pub async fn list(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(control(&state)?.stalls.list()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryBody {
    pub tournament_id: String,
    /// With `hotkey`: retry this training of the tournament; without: the tournament itself.
    #[serde(default)]
    pub task_id: Option<String>,
    #[serde(default)]
    pub hotkey: Option<String>,
}

#[utoipa::path(post, path = "/v1/crucible/stalls/retry", tag = "operations", security(("bearer" = [])),
    request_body = RetryBody,
    responses((status = 200, description = "Resumed from the stored state with a fresh retry budget", body = Object),
        (status = 400, description = "A malformed id, or a task without a hotkey", body = ErrorBody),
        (status = 404, description = "No such live tournament or running training", body = ErrorBody),
        (status = 409, description = "It has not stalled", body = ErrorBody),
        (status = 503, description = "No validator runtime", body = ErrorBody)))]
pub async fn retry(state: web::Data<ApiState>, body: web::Json<RetryBody>) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let bad = |field: &str, e: &dyn std::fmt::Display| ApiError::BadRequest(format!("{field}: {e}"));
    let tournament = TournamentId::parse(&body.tournament_id).map_err(|e| bad("tournament_id", &e))?;
    let training = match (body.task_id, body.hotkey) {
        (None, None) => None,
        (Some(task), Some(hotkey)) => Some(TrainingKey::new(
            TaskId::parse(&task).map_err(|e| bad("task_id", &e))?,
            Hotkey::parse(&hotkey).map_err(|e| bad("hotkey", &e))?,
        )),
        _ => return Err(ApiError::BadRequest("task_id and hotkey name a training together".into())),
    };
    let request = RetryStalled { tournament, training };
    let resumed = answer(control(&state)?.supervisor.send(request).timeout(ASK_TIMEOUT).await)?;
    Ok(HttpResponse::Ok().json(json!({ "resumed": resumed })))
}
