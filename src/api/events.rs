//! `GET /v1/events`: the runtime's state transitions as server-sent events, for live pages and
//! scripts. Each event is `event: <kind>` and `data: <the event as JSON>`; `?tournament=<id>` keeps
//! one tournament's. A comment every 15 s keeps idle connections open; a reader that falls behind is
//! told how many events it missed (`event: lagged`) and goes on.

use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::ApiState;
use crate::actors::Event;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    pub tournament: Option<String>,
}

/// One event in the SSE wire format.
pub fn frame(event: &Event) -> Bytes {
    let data = serde_json::to_value(event).unwrap_or_default();
    let kind = data.get("event").and_then(|k| k.as_str()).unwrap_or("event").to_owned();
    Bytes::from(format!("event: {kind}\ndata: {data}\n\n"))
}

#[utoipa::path(get, path = "/v1/events", tag = "live", params(("tournament" = Option<String>, Query, description = "Only this tournament's events")), responses((status = 200, description = "Server-sent events: `event: <kind>`, `data: <JSON>`", content_type = "text/event-stream", body = String)))]
pub async fn stream(state: web::Data<ApiState>, filter: web::Query<EventFilter>) -> HttpResponse {
    let receiver = state.events.subscribe();
    let only = filter.into_inner().tournament;
    let start = (receiver, only, tokio::time::Instant::now() + KEEP_ALIVE);
    let frames = futures_util::stream::unfold(start, |(mut receiver, only, mut quiet_until)| async move {
        loop {
            // One deadline across filtered-out events: a filtered stream still hears from us every 15 s.
            let next = tokio::time::timeout_at(quiet_until, receiver.recv()).await;
            let frame = match next {
                Err(_) => Bytes::from_static(b": keep-alive\n\n"),
                Ok(Ok(event)) if only.as_deref().is_none_or(|id| id == event.tournament().as_str()) => frame(&event),
                Ok(Ok(_)) => continue,
                Ok(Err(RecvError::Lagged(missed))) => {
                    Bytes::from(format!("event: lagged\ndata: {{\"missed\":{missed}}}\n\n"))
                }
                Ok(Err(RecvError::Closed)) => return None,
            };
            quiet_until = tokio::time::Instant::now() + KEEP_ALIVE;
            return Some((Ok::<_, std::convert::Infallible>(frame), (receiver, only, quiet_until)));
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(frames)
}
