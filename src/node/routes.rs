//! The trainer API's routes (trainer-node-api.md). Starts go to the [`TaskBook`]; task records are read
//! from the store off the event loop. Every refusal is a [`NodeError`], answered as the reference's
//! node answers it (`{"detail": ...}`, 422 with issues for what does not validate).

use std::collections::HashMap;
use std::sync::Arc;

use actix::Addr;
use actix_web::{HttpResponse, guard, web};
use chrono::Utc;
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::answers::{Issue, NodeError};
use super::book::{CancelTraining, ListGpus, StartTraining, TaskBook};
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

/// Registers the routes in the reference's order. Each route's method is a guard of its resource, so a
/// request with another method goes on to the next route (`GET /v1/trainer/start_training` reads a task
/// named `start_training`, as in the reference) and, past the last one, to [`super::answers::no_route`].
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(web::resource("/v1/trainer/start_training").guard(guard::Post()).to(start_training))
        .service(web::resource("/v1/trainer/cancel_training").guard(guard::Post()).to(cancel_training))
        .service(web::resource("/v1/trainer/get_gpu_availability").guard(guard::Get()).to(gpu_availability))
        .service(web::resource("/v1/trainer/get_recent_tasks").guard(guard::Get()).to(recent_tasks))
        .service(web::resource("/v1/trainer/{task_id}").guard(guard::Get()).to(task));
}

/// How long a request waits for the task book's answer (which may wait behind one store write).
const BOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

fn book_gone(e: actix::MailboxError) -> NodeError {
    ApiError::Unavailable(format!("the task book is not answering: {e}")).into()
}

async fn gpu_availability(state: web::Data<NodeState>) -> Result<HttpResponse, NodeError> {
    let gpus = state.book.send(ListGpus).timeout(BOOK_TIMEOUT).await.map_err(book_gone)?;
    Ok(HttpResponse::Ok().json(gpus))
}

/// A request body up to the node's limit; an empty one reads as JSON `null`.
async fn read_body(state: &NodeState, mut payload: web::Payload) -> Result<web::Bytes, NodeError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("the body could not be read: {e}")))?;
        if body.len() + chunk.len() > state.max_body_bytes {
            return Err(ApiError::TooLarge(format!("the body is larger than {} bytes", state.max_body_bytes)).into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(if body.is_empty() { web::Bytes::from_static(b"null") } else { body.freeze() })
}

async fn start_training(state: web::Data<NodeState>, payload: web::Payload) -> Result<HttpResponse, NodeError> {
    let body = read_body(&state, payload).await?;
    let request = wire::parse_start(&body).map_err(NodeError::Invalid)?;
    let task_id = request.job.task_id.clone();
    state.book.send(StartTraining(request)).timeout(BOOK_TIMEOUT).await.map_err(book_gone)??;
    Ok(HttpResponse::Ok().json(json!({ "message": wire::STARTED, "task_id": task_id })))
}

/// crucible's extension: stops a running task (docs/trainer-node-api.md).
async fn cancel_training(state: web::Data<NodeState>, payload: web::Payload) -> Result<HttpResponse, NodeError> {
    let body = read_body(&state, payload).await?;
    let request = wire::parse_cancel(&body).map_err(NodeError::Invalid)?;
    let (task_id, hotkey) = (request.task_id.clone(), request.hotkey.clone());
    state.book.send(CancelTraining(request)).timeout(BOOK_TIMEOUT).await.map_err(book_gone)??;
    Ok(HttpResponse::Ok().json(json!({ "message": wire::CANCELLED, "task_id": task_id, "hotkey": hotkey })))
}

fn store_error(e: StoreError) -> NodeError {
    ApiError::Unavailable(format!("the task records cannot be read: {e}")).into()
}

/// A required query parameter, or a 422 naming it.
fn query_param<'q>(query: &'q HashMap<String, String>, name: &str) -> Result<&'q str, NodeError> {
    query
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| NodeError::Invalid(vec![Issue::missing(vec![json!("query"), json!(name)], Value::Null)]))
}

async fn task(
    state: web::Data<NodeState>,
    path: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, NodeError> {
    let raw_hotkey = query_param(&query, "hotkey")?;
    let unknown = || {
        let message = format!("Task with ID '{}' and hotkey '{raw_hotkey}' not found.", path.as_str());
        NodeError::Api(ApiError::NotFound(message))
    };
    let (Ok(task_id), Ok(hotkey)) = (TaskId::parse(&path), Hotkey::parse(raw_hotkey)) else {
        return Err(unknown());
    };
    let store = state.store.clone();
    match web::block(move || store.get_node_task(&task_id, &hotkey)).await {
        Ok(Ok(record)) => Ok(HttpResponse::Ok().json(wire::task_json(&record))),
        Ok(Err(StoreError::NotFound { .. })) => Err(unknown()),
        Ok(Err(e)) => Err(store_error(e)),
        Err(e) => Err(ApiError::Unavailable(format!("the store call failed: {e}")).into()),
    }
}

async fn recent_tasks(
    state: web::Data<NodeState>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, NodeError> {
    let raw = query_param(&query, "hours")?;
    // As pydantic reads an int from a query string: blanks and a sign allowed.
    let hours: i64 = raw.trim().parse().map_err(|_| {
        let msg = "Input should be a valid integer, unable to parse string as an integer";
        NodeError::Invalid(vec![Issue::new("int_parsing", vec![json!("query"), json!("hours")], msg, json!(raw))])
    })?;
    let since = chrono::Duration::try_hours(hours.clamp(-1_000_000_000, 1_000_000_000))
        .and_then(|span| Utc::now().checked_sub_signed(span))
        .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
    let store = state.store.clone();
    match web::block(move || store.recent_node_tasks(since)).await {
        Ok(Ok(records)) if records.is_empty() => {
            Err(ApiError::NotFound(format!("Tasks not found in the last {hours} hours.")).into())
        }
        Ok(Ok(records)) => Ok(HttpResponse::Ok().json(records.iter().map(wire::task_json).collect::<Vec<_>>())),
        Ok(Err(e)) => Err(store_error(e)),
        Err(e) => Err(ApiError::Unavailable(format!("the store call failed: {e}")).into()),
    }
}
