//! The routes of the control API.

use crate::http::error::ErrorBody;
use actix_web::error::JsonPayloadError;
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use super::endpoint::at;
use super::{ApiState, read};
use crate::domain::{Coldkey, LedgerKind, TournamentType};
use crate::http::error::ApiError;
use crate::miners::credits::{CreditError, record_credit};

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(at("/swagger-ui").get(swagger_ui))
        .service(at("/healthz").get(healthz))
        .service(at("/readyz").get(readyz))
        .service(at("/v1/ledger/credits").post(credit))
        .service(at("/v1/events").get(super::events::stream))
        .service(at("/metrics").get(super::metrics::scrape))
        .service(at("/v1/miners").get(super::operations::miners))
        .service(at("/v1/miners/{hotkey}").put(super::operations::put_miner).delete(super::operations::delete_miner))
        .service(at("/tournament/{tournament_id}/refund").post(super::operations::refund))
        .service(at("/v1/tournaments").post(super::control::create))
        .service(at("/v1/tournaments/{tournament_id}/cancel").post(super::control::cancel))
        .service(at("/v1/tournaments/{tournament_id}/confirm").post(super::control::confirm))
        .service(at("/v1/tasks/{task_id}/{action}").post(super::control::override_task))
        .service(at("/v1/tournament_orchestrator/add_trainer").post(super::control::add_trainer))
        .service(at("/v1/crucible/stalls").get(super::stalls::list))
        .service(at("/v1/crucible/stalls/retry").post(super::stalls::retry))
        .service(at("/v1/tournament_orchestrator/remove_trainer/{trainer_ip}").delete(super::control::remove_trainer))
        .service(at("/v1/weights").get(super::operations::weights))
        .service(at("/v1/bundle").get(super::operations::bundle))
        .service(at("/transfer/balance/{coldkey}").get(balance))
        .service(at("/tournament/fees").get(fees))
        .service(at("/balance/events/coldkey/{coldkey}").get(coldkey_events))
        .service(at("/balance/events/tournament/{tournament_id}").get(tournament_events))
        .service(at("/v1/tournaments/history").get(super::tournaments::history))
        .service(at("/v1/tournaments/active").get(super::tournaments::active))
        .service(at("/v1/tournaments/next-dates").get(super::orchestrator::next_dates))
        .service(at("/v1/tournaments/gpu-requirements").get(super::orchestrator::gpu_requirements))
        .service(at("/v1/tournament_orchestrator/trainers").get(super::trainers::trainers))
        .service(at("/v1/tournament_orchestrator/training_stats").get(super::orchestrator::training_stats))
        .service(at("/v1/tournaments/latest/details").get(super::tournaments::latest_details))
        .service(at("/v1/tournaments/{tournament_id}/details").get(super::tournaments::details))
        .service(at("/v1/crucible/tournaments/{tournament_id}/results").get(super::results::tournament_results))
        .service(at("/v1/crucible/tournaments/{tournament_id}/participants").get(super::participants::participants))
        .service(at("/v1/crucible/trainers").get(super::trainers::crucible_trainers));
}

/// `/swagger-ui` goes to `/swagger-ui/`, where the UI is served.
async fn swagger_ui() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header((actix_web::http::header::LOCATION, "/swagger-ui/")).finish()
}

pub async fn no_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("no such route".into()))
}

/// A body that is not the JSON asked for: which field, or why.
pub fn json_error(e: JsonPayloadError) -> ApiError {
    match e {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::TooLarge(format!("the body is too large: {e}"))
        }
        JsonPayloadError::ContentType => {
            ApiError::BadRequest("the body must be JSON (Content-Type: application/json)".into())
        }
        JsonPayloadError::Deserialize(d) => ApiError::BadRequest(format!("invalid JSON body: {d}")),
        other => ApiError::BadRequest(format!("invalid JSON body: {other}")),
    }
}

#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "The process is alive", body = Object)))]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, description = "The store answers and, in a validator, its actors run", body = Object), (status = 503, description = "The store did not answer within 0.8 s, or the actors stopped: answered within a second whatever the database does", body = ErrorBody)))]
async fn readyz(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    state.ready.store_answers(&state.store).await.map_err(ApiError::Unavailable)?;
    // Where a validator runs, its actors must be alive too.
    if let Some(control) = &state.control
        && !(control.supervisor.connected() && control.fleet.connected())
    {
        return Err(ApiError::Unavailable("the validator's actors are not running".into()));
    }
    Ok(HttpResponse::Ok().json(json!({ "status": "ready" })))
}

/// `{"coldkey": ss58, "rao": positive integer, "reference": text}`, each problem naming its field.
struct CreditRequest {
    coldkey: String,
    rao: u64,
    reference: String,
}

impl CreditRequest {
    fn parse(body: Value) -> Result<Self, ApiError> {
        let bad = |m: String| ApiError::BadRequest(m);
        let object = body.as_object().ok_or_else(|| bad("the body must be a JSON object".into()))?;
        if let Some(unknown) = object.keys().find(|k| !["coldkey", "rao", "reference"].contains(&k.as_str())) {
            return Err(bad(format!("unknown field `{unknown}` (expected coldkey, rao, reference)")));
        }
        let text = |name: &str| match object.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(bad(format!("{name}: must be a string, not {other}"))),
            None => Err(bad(format!("{name}: missing"))),
        };
        let rao = match object.get("rao") {
            Some(v) => v.as_u64().ok_or_else(|| bad(format!("rao: must be a whole number of rao, not {v}")))?,
            None => return Err(bad("rao: missing".into())),
        };
        Ok(Self { coldkey: text("coldkey")?, rao, reference: text("reference")? })
    }
}

/// Records a received transfer; the same reference again moves nothing.
#[utoipa::path(post, path = "/v1/ledger/credits", tag = "operations", security(("bearer" = [])), request_body(content = Object, description = "`{coldkey, rao, reference}`: a received transfer"), responses((status = 201, description = "Recorded", body = Object), (status = 200, description = "This reference was already recorded: nothing moved", body = Object), (status = 400, description = "A field is missing or malformed", body = ErrorBody), (status = 401, description = "No or a wrong token", body = ErrorBody), (status = 409, description = "The reference was recorded with other values", body = ErrorBody)))]
async fn credit(state: web::Data<ApiState>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    let body = CreditRequest::parse(body.into_inner())?;
    let coldkey = Coldkey::parse(&body.coldkey).map_err(|e| ApiError::BadRequest(format!("coldkey: {e}")))?;
    let store = state.store.clone();
    let (rao, reference) = (body.rao, body.reference.clone());
    let recorded = web::block(move || record_credit(&store, &coldkey, rao, &reference, chrono::Utc::now()))
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    match recorded {
        Ok(c) => {
            let status = if c.applied { HttpResponse::Created() } else { HttpResponse::Ok() }.json(json!({
                "coldkey": body.coldkey,
                "reference": body.reference.trim(),
                "applied": c.applied,
                "balance_rao": c.balance_rao,
            }));
            Ok(status)
        }
        Err(CreditError::Invalid(reason)) => Err(ApiError::BadRequest(reason)),
        Err(e @ CreditError::Conflict { .. }) => Err(ApiError::Conflict(e.to_string())),
        Err(CreditError::Store(e)) => Err(ApiError::Unavailable(format!("the store failed: {e}"))),
    }
}

/// The reference's `ColdkeyBalanceResponse`: the balance and the transfers received (credits), from
/// the ledger; 404 for a coldkey the ledger has never seen.
#[utoipa::path(get, path = "/transfer/balance/{coldkey}", tag = "reference", params(("coldkey" = String, Path, description = "SS58 coldkey")), responses((status = 200, description = "`ColdkeyBalanceResponse`", body = Object), (status = 400, description = "Not an SS58 address", body = ErrorBody), (status = 404, description = "The ledger has never seen this coldkey", body = ErrorBody)))]
async fn balance(state: web::Data<ApiState>, coldkey: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let coldkey = Coldkey::parse(&coldkey).map_err(|e| ApiError::BadRequest(format!("coldkey: {e}")))?;
    let key = coldkey.clone();
    let (balance, events) = read(&state, move |s| Ok((s.balance(&key)?, s.ledger_events(&key)?))).await?;
    if events.is_empty() {
        return Err(ApiError::NotFound(format!("Coldkey balance not found for address: {coldkey}")));
    }
    let credits: Vec<_> = events.iter().filter(|e| e.event.kind == LedgerKind::Credit).collect();
    let total_sent = credits
        .iter()
        .try_fold(0i64, |sum, e| sum.checked_add(e.event.amount_rao))
        .ok_or_else(|| ApiError::Unavailable(format!("the credits of {coldkey} add up beyond 2^63 rao")))?;
    Ok(HttpResponse::Ok().json(json!({
        "coldkey": coldkey.as_str(),
        "balance_rao": balance,
        "total_sent_rao": total_sent,
        "transfer_count": credits.len(),
        "last_transfer_at": credits.last().map(|e| e.event.created_at),
        "created_at": events.first().map(|e| e.event.created_at),
        "updated_at": events.last().map(|e| e.event.created_at),
    })))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// At most this many events, newest first (default 100, at most 1000).
    pub limit: Option<usize>,
}

impl Limit {
    fn get(&self) -> Result<usize, ApiError> {
        match self.limit.unwrap_or(100) {
            n @ 1..=1000 => Ok(n),
            n => Err(ApiError::BadRequest(format!("limit: {n} is not between 1 and 1000"))),
        }
    }
}

/// The reference's `BalanceEventResponse` list (G.O.D 86623e97, `validator/core/transfer_models.py`),
/// newest first, at most `limit`: fees and refunds only, for the reference writes no other balance
/// events (`validator/db/sql/transfers.py`); credits show in `/transfer/balance`. The description is
/// the reference's text for the kind, whatever the ledger entry's own reference says.
fn balance_events(entries: Vec<crate::store::LedgerEntry>, limit: usize) -> HttpResponse {
    let events: Vec<Value> = entries
        .iter()
        .rev()
        .filter_map(|e| {
            let tournament = e.event.tournament_id.as_ref().map_or("", |t| t.as_str());
            let (event_type, description) = match e.event.kind {
                LedgerKind::Credit => return None,
                LedgerKind::ParticipationFee => {
                    ("participation_fee", format!("Tournament participation fee for {tournament}"))
                }
                LedgerKind::Refund => ("refund", format!("Refund for participation fee in tournament {tournament}")),
            };
            Some(json!({
                "id": e.id,
                "tournament_id": tournament,
                "coldkey": e.event.coldkey.as_str(),
                "event_type": event_type,
                "amount_rao": e.event.amount_rao,
                "description": description,
                "created_at": e.event.created_at,
                "updated_at": e.event.created_at,
            }))
        })
        .take(limit)
        .collect();
    HttpResponse::Ok().json(events)
}

#[utoipa::path(get, path = "/balance/events/coldkey/{coldkey}", tag = "reference",
    params(("coldkey" = String, Path, description = "SS58 coldkey"), ("limit" = Option<usize>, Query, description = "1 to 1000, default 100")),
    responses((status = 200, description = "`[BalanceEventResponse]`: the coldkey's fees and refunds, newest first", body = Object), (status = 400, description = "Bad coldkey or limit", body = ErrorBody)))]
async fn coldkey_events(
    state: web::Data<ApiState>,
    coldkey: web::Path<String>,
    limit: web::Query<Limit>,
) -> Result<HttpResponse, ApiError> {
    let limit = limit.get()?;
    let coldkey = Coldkey::parse(&coldkey).map_err(|e| ApiError::BadRequest(format!("coldkey: {e}")))?;
    Ok(balance_events(read(&state, move |s| s.ledger_events(&coldkey)).await?, limit))
}

#[utoipa::path(get, path = "/balance/events/tournament/{tournament_id}", tag = "reference",
    params(("tournament_id" = String, Path, description = "A tournament"), ("limit" = Option<usize>, Query, description = "1 to 1000, default 100")),
    responses((status = 200, description = "`[BalanceEventResponse]`: its fees and refunds, newest first; `[]` for an unknown tournament", body = Object),
        (status = 400, description = "Bad id or limit", body = ErrorBody)))]
async fn tournament_events(
    state: web::Data<ApiState>,
    id: web::Path<String>,
    limit: web::Query<Limit>,
) -> Result<HttpResponse, ApiError> {
    let limit = limit.get()?;
    let id = super::tournament_id(&id)?;
    Ok(balance_events(read(&state, move |s| s.tournament_ledger_events(&id)).await?, limit))
}

/// The reference's `TournamentFeesResponse`. crucible runs no environment tournaments: that fee is 0.
#[utoipa::path(get, path = "/tournament/fees", tag = "reference", responses((status = 200, description = "`TournamentFeesResponse`", body = Object)))]
async fn fees(state: web::Data<ApiState>) -> HttpResponse {
    // Each type's default track's fee.
    let fee =
        |t: TournamentType| state.rules.track(t.as_str()).map_or(state.rules.registration.fee_rao(t), |k| k.fee_rao);
    HttpResponse::Ok().json(json!({
        "text_tournament_fee_rao": fee(TournamentType::Text),
        "image_tournament_fee_rao": fee(TournamentType::Image),
        "environment_tournament_fee_rao": 0,
    }))
}
