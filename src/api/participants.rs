//! `GET /v1/crucible/tournaments/{tournament_id}/participants`: every miner the tournament pinged, with
//! what it submitted and its admission outcome and reason, so a refused miner (and anyone auditing)
//! can read why without the HTML pages or the database.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiState, read};
use crate::http::error::{ApiError, ErrorBody};
use crate::store::Participant;

/// One participant of a tournament.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ParticipantView {
    pub hotkey: String,
    /// The coldkey that paid the fee; none for the house.
    pub coldkey: Option<String>,
    pub repo_url: String,
    pub commit_hash: String,
    pub is_house: bool,
    /// `admitted`, or why not: `timeout`, `connection_refused`, `http_status`, `invalid_json`,
    /// `missing_field`, `gate_failed`, `balance_too_low`, `duplicate_coldkey`.
    pub admission: String,
    /// What the miner can act on ("no answer after 10 s", "gate failed: ..."); empty when admitted.
    pub admission_reason: String,
    /// The round (1-based) the participant lost in; none while still in or never admitted.
    pub eliminated_in_round: Option<u32>,
    /// The fee charged, in rao.
    pub fee_rao: Option<u64>,
    /// RFC 3339.
    pub created_at: String,
}

impl From<&Participant> for ParticipantView {
    fn from(p: &Participant) -> Self {
        Self {
            hotkey: p.hotkey.to_string(),
            coldkey: p.coldkey.as_ref().map(ToString::to_string),
            repo_url: p.repo_url.clone(),
            commit_hash: p.commit_hash.clone(),
            is_house: p.is_house,
            admission: p.admission.to_string(),
            admission_reason: p.admission_reason.clone(),
            eliminated_in_round: p.eliminated_in_round,
            fee_rao: p.fee_rao,
            created_at: p.created_at.to_rfc3339(),
        }
    }
}

/// A tournament's participants in the order they were first recorded; 400 for a malformed id, 404
/// for an unknown one.
#[utoipa::path(get, path = "/v1/crucible/tournaments/{tournament_id}/participants", tag = "crucible",
    params(("tournament_id" = String, Path, description = "tourn_<hex>_<YYYYMMDD>")),
    responses((status = 200, description = "Every participant with its submission and admission outcome", body = [ParticipantView]),
        (status = 400, description = "Not a tournament id", body = ErrorBody), (status = 404, description = "No such tournament", body = ErrorBody)))]
pub async fn participants(state: web::Data<ApiState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = super::tournament_id(&id)?;
    let listed = read(&state, move |s| {
        s.get_tournament(&id)?;
        s.list_participants(&id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(listed.iter().map(ParticipantView::from).collect::<Vec<_>>()))
}
