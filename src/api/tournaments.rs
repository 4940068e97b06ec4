//! The reference's tournament reads (docs/reference-analytics-api.md): the history, the active
//! tournaments per type, and tournament details. crucible runs no environment tournaments, so
//! `environment` is always `null`.

use crate::http::error::ErrorBody;
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use super::{ApiState, read};
use crate::domain::{AdmissionOutcome, TournamentStatus, TournamentType};
use crate::http::error::ApiError;
use crate::store::Tournament;

/// `{tournaments: [...]}`: active and completed tournaments, newest first (`get_tournament_history` in
/// G.O.D 86623e97).
#[utoipa::path(get, path = "/v1/tournaments/history", tag = "reference", responses((status = 200, description = "Active and completed tournaments, newest first", body = Object)))]
pub async fn history(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let mut all = read(&state, |s| s.list_tournaments(None)).await?;
    all.retain(|t| matches!(t.status, TournamentStatus::Active | TournamentStatus::Completed));
    all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.as_str().cmp(a.id.as_str())));
    let entries: Vec<Value> = all
        .iter()
        .map(|t| {
            json!({
                "tournament_id": t.id.as_str(),
                "tournament_type": t.tournament_type.to_string(),
                "status": t.status.to_string(),
                "winner_hotkey": t.winner_hotkey.as_ref().map(|h| h.as_str()),
                "base_winner_hotkey": t.base_winner_hotkey.as_ref().map(|h| h.as_str()),
                "created_at": t.created_at,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "tournaments": entries })))
}

/// `{text, image, environment}`: the active tournament of each type, or `null` (a pending one, still
/// registering, is not active); as `get_active_tournaments` in G.O.D 86623e97
/// `validator/endpoints/tournament_analytics.py`.
#[utoipa::path(get, path = "/v1/tournaments/active", tag = "reference", responses((status = 200, description = "`{text, image, environment}`: the active tournament of each type (pending ones are not)", body = Object)))]
pub async fn active(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let live = read(&state, |s| {
        let mut live = Vec::new();
        for t in s.unfinished_tournaments()?.into_iter().filter(|t| t.status == TournamentStatus::Active) {
            let participants = s.list_participants(&t.id)?;
            let admitted: Vec<String> = participants
                .into_iter()
                .filter(|p| p.admission == AdmissionOutcome::Admitted)
                .map(|p| p.hotkey.to_string())
                .collect();
            live.push((t, admitted));
        }
        Ok(live)
    })
    .await?;
    let of = |kind: TournamentType| -> Value {
        let newest: Option<&(Tournament, Vec<String>)> =
            live.iter().filter(|(t, _)| t.tournament_type == kind).max_by_key(|(t, _)| t.created_at);
        match newest {
            None => Value::Null,
            Some((t, hotkeys)) => json!({
                "tournament_id": t.id.as_str(),
                "tournament_type": t.tournament_type.to_string(),
                "status": t.status.to_string(),
                "participants": hotkeys.iter().map(|h| json!({ "hotkey": h })).collect::<Vec<_>>(),
                "created_at": t.created_at,
            }),
        }
    };
    Ok(HttpResponse::Ok().json(json!({
        "text": of(TournamentType::Text),
        "image": of(TournamentType::Image),
        "environment": Value::Null,
    })))
}

/// `TournamentDetailsResponse` of one tournament (`get_tournament_details` in G.O.D 86623e97); 400 for
/// a malformed id, 404 for an unknown one.
#[utoipa::path(get, path = "/v1/tournaments/{tournament_id}/details", tag = "reference", params(("tournament_id" = String, Path, description = "tourn_<hex>_<YYYYMMDD>")), responses((status = 200, description = "The tournament in detail", body = super::details::TournamentDetails), (status = 400, description = "Not a tournament id", body = ErrorBody), (status = 404, description = "No such tournament", body = ErrorBody)))]
pub async fn details(state: web::Data<ApiState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = super::tournament_id(&id)?;
    let rules = state.rules.clone();
    let answer = read(&state, move |s| {
        let snapshot = s.tournament_snapshot(&id)?;
        Ok(super::details::details(&snapshot, &rules))
    })
    .await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// `{text, image, environment, burn_data}`: the latest completed tournament of each type and how the
/// current weights burn, as `get_latest_tournaments_details` and `get_tournament_burn_details` in G.O.D
/// 86623e97 (`validator/endpoints/tournament_analytics.py`, `validator/core/weight_setting.py`):
/// `*_tournament_weight` is `W_type`, `burn_weight` is `1 − W_text − W_image`.
#[utoipa::path(get, path = "/v1/tournaments/latest/details", tag = "reference", responses((status = 200, description = "`{text, image, environment, burn_data}`: the latest completed tournament of each type (`TournamentDetails` or null)", body = Object)))]
pub async fn latest_details(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let rules = state.rules.clone();
    let (text, image, weights) = read(&state, move |s| {
        let weights = super::current_weights(s, &rules)?;
        let mut latest = Vec::new();
        for kind in [TournamentType::Text, TournamentType::Image] {
            let details = match s.latest_completed_tournament(kind.as_str())? {
                Some(t) => Some(super::details::details(&s.tournament_snapshot(&t.id)?, &rules)),
                None => None,
            };
            latest.push(details);
        }
        let image = latest.pop().flatten();
        Ok((latest.pop().flatten(), image, weights))
    })
    .await?;
    let rules = &state.rules;
    // The reference's per-type shapes show each type's default track.
    let of = |kind: TournamentType| weights.types.iter().find(|t| t.track == kind.as_str());
    let share =
        |kind: TournamentType| rules.track(kind.as_str()).map_or_else(|| rules.weights.of(kind).clone(), |t| t.weight);
    // W_type: the current weight of the type's real winner; the base while no tournament of it completed.
    let weight = |kind: TournamentType| of(kind).map_or(share(kind).base, |t| t.winner_weight);
    let burn = |kind: TournamentType| {
        let cap = share(kind).cap;
        if cap > 0.0 { (cap - weight(kind)).max(0.0) / cap } else { 0.0 }
    };
    let (text_weight, image_weight) = (weight(TournamentType::Text), weight(TournamentType::Image));
    Ok(HttpResponse::Ok().json(json!({
        "text": text,
        "image": image,
        "environment": Value::Null,
        "burn_data": {
            "text_performance_diff": of(TournamentType::Text).map(|t| t.performance_difference),
            "image_performance_diff": of(TournamentType::Image).map(|t| t.performance_difference),
            "environment_performance_diff": Value::Null,
            "text_burn_proportion": burn(TournamentType::Text),
            "image_burn_proportion": burn(TournamentType::Image),
            "environment_burn_proportion": 0.0,
            "text_tournament_weight": text_weight,
            "image_tournament_weight": image_weight,
            "environment_tournament_weight": 0.0,
            "burn_weight": 1.0 - text_weight - image_weight,
        },
    })))
}
