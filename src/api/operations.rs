//! Operations on stored state: the miner directory (when no directory file manages it), refunding a
//! cancelled tournament (the reference's `POST /tournament/{id}/refund`, idempotent), the current
//! weights, and the results bundle that `crucible rules weights` reads.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::{ApiState, hotkey, read};
use crate::domain::{Coldkey, TournamentStatus};
use crate::http::error::ApiError;
use crate::http::error::ErrorBody;
use crate::store::{Miner, StoreError};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MinerBody {
    /// SS58 coldkey that pays the fees.
    pub coldkey: String,
    /// `host:port` of the miner's server.
    pub address: String,
    /// Stake in TAO.
    #[serde(default)]
    pub stake: f64,
}

fn miner_json(m: &Miner) -> serde_json::Value {
    json!({
        "hotkey": m.hotkey.as_str(),
        "coldkey": m.coldkey.as_str(),
        "address": m.address,
        "stake": m.stake,
        "updated_at": m.updated_at,
    })
}

#[utoipa::path(get, path = "/v1/miners", tag = "operations", responses((status = 200, description = "The miner directory", body = Object)))]
pub async fn miners(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let miners = read(&state, |s| s.list_miners()).await?;
    Ok(HttpResponse::Ok().json(json!({ "miners": miners.iter().map(miner_json).collect::<Vec<_>>() })))
}

/// A directory file re-read at every registration would undo any change made here.
fn managed(state: &ApiState) -> Result<(), ApiError> {
    match &state.directory_file {
        Some(path) => Err(ApiError::Conflict(format!(
            "the miner directory is managed by the file {path} (miners.directory); edit the file instead"
        ))),
        None => Ok(()),
    }
}

#[utoipa::path(put, path = "/v1/miners/{hotkey}", tag = "operations", security(("bearer" = [])),
    params(("hotkey" = String, Path, description = "SS58 hotkey")), request_body = MinerBody,
    responses((status = 201, description = "Added", body = Object), (status = 200, description = "Updated", body = Object),
        (status = 400, description = "A field is malformed", body = ErrorBody),
        (status = 409, description = "A directory file manages the miners", body = ErrorBody)))]
pub async fn put_miner(
    state: web::Data<ApiState>,
    path: web::Path<String>,
    body: web::Json<MinerBody>,
) -> Result<HttpResponse, ApiError> {
    managed(&state)?;
    let hotkey = hotkey(&path)?;
    let body = body.into_inner();
    let coldkey = Coldkey::parse(&body.coldkey).map_err(|e| ApiError::BadRequest(format!("coldkey: {e}")))?;
    crate::miners::directory::valid_address(&body.address)
        .map_err(|reason| ApiError::BadRequest(format!("address {:?}: {reason}", body.address)))?;
    if !body.stake.is_finite() || body.stake < 0.0 {
        return Err(ApiError::BadRequest(format!("stake: {} must be a non-negative number", body.stake)));
    }
    let miner = Miner { hotkey, coldkey, address: body.address, stake: body.stake, updated_at: chrono::Utc::now() };
    let stored = miner.clone();
    let existed = read(&state, move |s| {
        let existed = match s.get_miner(&stored.hotkey) {
            Ok(_) => true,
            Err(StoreError::NotFound { .. }) => false,
            Err(e) => return Err(e),
        };
        s.upsert_miner(&stored)?;
        Ok(existed)
    })
    .await?;
    let status = if existed { HttpResponse::Ok() } else { HttpResponse::Created() };
    Ok({ status }.json(miner_json(&miner)))
}

#[utoipa::path(delete, path = "/v1/miners/{hotkey}", tag = "operations", security(("bearer" = [])),
    params(("hotkey" = String, Path, description = "SS58 hotkey")),
    responses((status = 200, description = "Removed", body = Object), (status = 404, description = "Not in the directory", body = ErrorBody),
        (status = 409, description = "A directory file manages the miners", body = ErrorBody)))]
pub async fn delete_miner(state: web::Data<ApiState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    managed(&state)?;
    let hotkey = hotkey(&path)?;
    let key = hotkey.clone();
    if !read(&state, move |s| s.remove_miner(&key)).await? {
        return Err(ApiError::NotFound(format!("miner {hotkey} is not in the directory")));
    }
    Ok(HttpResponse::Ok().json(json!({ "hotkey": hotkey.as_str(), "removed": true })))
}

#[utoipa::path(post, path = "/tournament/{tournament_id}/refund", tag = "operations", security(("bearer" = [])),
    params(("tournament_id" = String, Path, description = "A cancelled tournament")),
    responses((status = 200, description = "`{tournament_id, refunds_processed, message}`: every fee refunded once; `refunds_processed` counts the refunds made by this call", body = Object), (status = 404, description = "No such tournament", body = ErrorBody),
        (status = 409, description = "The tournament is not cancelled", body = ErrorBody)))]
pub async fn refund(state: web::Data<ApiState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = super::tournament_id(&path)?;
    let outcome = read(&state, move |s| {
        s.transaction(|tx| {
            let t = tx.get_tournament(&id)?;
            if t.status != TournamentStatus::Cancelled {
                return Ok(Err(t.status));
            }
            crate::actors::tournament::refund_all(tx, &t, chrono::Utc::now()).map(Ok)
        })
    })
    .await?;
    match outcome {
        // The reference's answer (`refund_tournament_endpoint`, G.O.D 86623e97
        // `validator/endpoints/transfer_balances.py`).
        Ok((applied, _before)) => Ok(HttpResponse::Ok().json(json!({
            "tournament_id": path.as_str(),
            "refunds_processed": applied,
            "message": format!("Processed {applied} refunds for tournament {}", path.as_str()),
        }))),
        Err(status) => {
            Err(ApiError::Conflict(format!("only a cancelled tournament is refunded; this one is {status}")))
        }
    }
}

#[utoipa::path(get, path = "/v1/weights", tag = "operations",
    responses((status = 200, description = "The current weights with every intermediate value (hotkey → weight; the house's entry is the burn)", body = Object)))]
pub async fn weights(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let rules = state.rules.clone();
    let report = read(&state, move |s| super::current_weights(s, &rules)).await?;
    Ok(HttpResponse::Ok().json(report))
}

#[utoipa::path(get, path = "/v1/bundle", tag = "operations",
    responses((status = 200, description = "The results bundle: `crucible rules weights --bundle FILE` recomputes the weights from it", body = Object)))]
pub async fn bundle(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let house = state.rules.house_hotkey.clone();
    let bundle = read(&state, move |s| s.export_bundle(&house, chrono::Utc::now())).await?;
    Ok(HttpResponse::Ok().json(bundle))
}
