//! The trainer API's routes (trainer-node-api.md). Starts go to the [`TaskBook`]; task records are read
//! from the store off the event loop. Every error is an [`ApiError`], so every answer is JSON.

use std::collections::HashMap;
use std::sync::Arc;

use actix::Addr;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use futures_util::StreamExt;
use serde_json::json;

use super::book::{ListGpus, StartTraining, TaskBook};
use super::wire;
use crate::domain::{Hotkey, TaskId};
use crate::http::error::ApiError;
use crate::store::{Store, StoreError};

/// What the handlers share.
#[derive(Clone)]
pub struct NodeState {
    pub book: Addr<TaskBook>,
    pub store: Arc<Store>,
    pub max_body_bytes: usize,
}

/// Registers the routes; the fixed paths come before `/v1/trainer/{task_id}`.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/v1/trainer/get_gpu_availability", web::get().to(gpu_availability))
        .route("/v1/trainer/get_recent_tasks", web::get().to(recent_tasks))
        .route("/v1/trainer/start_training", web::post().to(start_training))
        .route("/v1/trainer/{task_id}", web::get().to(task));
}

/// Answers every request no route matched.
pub async fn no_route(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!("no route for {} {}", request.method(), request.path())))
}

fn book_gone(e: actix::MailboxError) -> ApiError {
    ApiError::Unavailable(format!("the task book is not answering: {e}"))
}

async fn gpu_availability(state: web::Data<NodeState>) -> Result<HttpResponse, ApiError> {
    let gpus = state.book.send(ListGpus).await.map_err(book_gone)?;
    Ok(HttpResponse::Ok().json(gpus))
}

async fn start_training(state: web::Data<NodeState>, mut payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("the body could not be read: {e}")))?;
        if body.len() + chunk.len() > state.max_body_bytes {
            return Err(ApiError::TooLarge(format!("the body is larger than {} bytes", state.max_body_bytes)));
        }
        body.extend_from_slice(&chunk);
    }
    let request = wire::parse_start(&body).map_err(ApiError::BadRequest)?;
    let task_id = request.job.task_id.clone();
    let started = state.book.send(StartTraining(request)).await.map_err(book_gone)??;
    if !started {
        tracing::info!(task = %task_id, "repeated start of a running task: accepted as is");
    }
    Ok(HttpResponse::Ok().json(json!({ "message": wire::STARTED, "task_id": task_id })))
}

fn store_error(e: StoreError) -> ApiError {
    ApiError::Unavailable(format!("the task records cannot be read: {e}"))
}

async fn task(
    state: web::Data<NodeState>,
    path: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let raw_hotkey =
        query.get("hotkey").ok_or_else(|| ApiError::BadRequest("query parameter `hotkey` is required".into()))?;
    let hotkey =
        Hotkey::parse(raw_hotkey).map_err(|e| ApiError::BadRequest(format!("query parameter `hotkey`: {e}")))?;
    let unknown = || ApiError::NotFound(format!("no task {} for hotkey {hotkey}", path.as_str()));
    let task_id = TaskId::parse(&path).map_err(|_| unknown())?;
    let store = state.store.clone();
    let (id, key) = (task_id.clone(), hotkey.clone());
    match web::block(move || store.get_node_task(&id, &key)).await {
        Ok(Ok(record)) => Ok(HttpResponse::Ok().json(wire::task_json(&record))),
        Ok(Err(StoreError::NotFound { .. })) => Err(unknown()),
        Ok(Err(e)) => Err(store_error(e)),
        Err(e) => Err(ApiError::Unavailable(format!("the store call failed: {e}"))),
    }
}

async fn recent_tasks(
    state: web::Data<NodeState>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let hours: u32 = query.get("hours").and_then(|h| h.parse().ok()).ok_or_else(|| {
        ApiError::BadRequest("query parameter `hours` must be a whole non-negative number of hours".into())
    })?;
    let since = Utc::now() - chrono::Duration::hours(i64::from(hours));
    let store = state.store.clone();
    match web::block(move || store.recent_node_tasks(since)).await {
        Ok(Ok(records)) => Ok(HttpResponse::Ok().json(records.iter().map(wire::task_json).collect::<Vec<_>>())),
        Ok(Err(e)) => Err(store_error(e)),
        Err(e) => Err(ApiError::Unavailable(format!("the store call failed: {e}"))),
    }
}
