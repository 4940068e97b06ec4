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

/// The tournament an event belongs to.
pub fn tournament_of(event: &Event) -> &str {
    match event {
        Event::TournamentCreated { id, .. }
        | Event::RegistrationEnded { id, .. }
        | Event::RoundStarted { id, .. }
        | Event::TrainingStarted { id, .. }
        | Event::TrainingEnded { id, .. }
        | Event::TaskReplaced { id, .. }
        | Event::RoundDecided { id, .. }
        | Event::TournamentCompleted { id, .. }
        | Event::TournamentCancelled { id, .. } => id.as_str(),
    }
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
    let frames = futures_util::stream::unfold((receiver, only), |(mut receiver, only)| async move {
        loop {
            let next = tokio::time::timeout(KEEP_ALIVE, receiver.recv()).await;
            let frame = match next {
                Err(_) => Bytes::from_static(b": keep-alive\n\n"),
                Ok(Ok(event)) if only.as_deref().is_none_or(|id| id == tournament_of(&event)) => frame(&event),
                Ok(Ok(_)) => continue,
                Ok(Err(RecvError::Lagged(missed))) => {
                    Bytes::from(format!("event: lagged\ndata: {{\"missed\":{missed}}}\n\n"))
                }
                Ok(Err(RecvError::Closed)) => return None,
            };
            return Some((Ok::<_, std::convert::Infallible>(frame), (receiver, only)));
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(frames)
}
