//! The reference's tournament reads (docs/reference-analytics-api.md): the history and the active
//! tournaments per type. crucible runs no environment tournaments, so `environment` is always `null`.

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use super::{ApiState, read};
use crate::domain::{AdmissionOutcome, TournamentStatus, TournamentType};
use crate::node::error::ApiError;
use crate::store::Tournament;

/// `{tournaments: [...]}`: active and completed tournaments, newest first.
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

/// `{text, image, environment}`: the live (pending or active) tournament of each type, or `null`.
pub async fn active(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let live = read(&state, |s| {
        let mut live = Vec::new();
        for t in s.unfinished_tournaments()? {
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
