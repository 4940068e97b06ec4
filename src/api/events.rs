//! `GET /v1/events`: the runtime's state transitions as server-sent events, for live pages and
//! scripts. Each event is `event: <kind>` and `data: <the event as JSON>`; `?tournament=<id>` keeps
//! one tournament's. A comment every 15 s keeps idle connections open; a reader that falls behind is
//! told how many events it missed (`event: lagged`) and goes on. Streams are capped in all and per
//! client address (`api.max_event_streams*`): past a cap the stream is a 503; a stream's slot is freed
//! when its connection goes (noticed at the latest at the next keep-alive).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::ApiState;
use crate::actors::Event;
use crate::http::error::ApiError;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    pub tournament: Option<String>,
}

/// The open event streams, per client address.
pub struct StreamSlots {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    max_total: usize,
    max_per_address: usize,
}

/// One open stream's place; freed when dropped (with the stream, when its connection goes).
struct Slot {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    address: IpAddr,
}

impl StreamSlots {
    pub fn new(max_total: usize, max_per_address: usize) -> Self {
        Self { open: Arc::default(), max_total, max_per_address }
    }

    fn take(&self, address: IpAddr) -> Result<Slot, ApiError> {
        let mut open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let total: usize = open.values().sum();
        let mine = open.get(&address).copied().unwrap_or(0);
        if total >= self.max_total || mine >= self.max_per_address {
            return Err(ApiError::Unavailable(format!(
                "too many event streams: {total} open ({mine} from {address}); at most {} in all and {} per address",
                self.max_total, self.max_per_address
            )));
        }
        *open.entry(address).or_default() += 1;
        Ok(Slot { open: self.open.clone(), address })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// One event in the SSE wire format.
pub fn frame(event: &Event) -> Bytes {
    let data = serde_json::to_value(event).unwrap_or_default();
    let kind = data.get("event").and_then(|k| k.as_str()).unwrap_or("event").to_owned();
    Bytes::from(format!("event: {kind}\ndata: {data}\n\n"))
}

#[utoipa::path(get, path = "/v1/events", tag = "live", params(("tournament" = Option<String>, Query, description = "Only this tournament's events")), responses((status = 200, description = "Server-sent events: `event: <kind>`, `data: <JSON>`", content_type = "text/event-stream", body = String), (status = 503, description = "Too many event streams open, in all or from this address", body = crate::http::error::ErrorBody)))]
pub async fn stream(
    request: HttpRequest,
    state: web::Data<ApiState>,
    slots: web::Data<StreamSlots>,
    filter: web::Query<EventFilter>,
) -> Result<HttpResponse, ApiError> {
    let address = request.peer_addr().map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    let slot = slots.take(address)?;
    let receiver = state.events.subscribe();
    let only = filter.into_inner().tournament;
    let start = (receiver, only, tokio::time::Instant::now() + KEEP_ALIVE, slot);
    let frames = futures_util::stream::unfold(start, |(mut receiver, only, mut quiet_until, slot)| async move {
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
            return Some((Ok::<_, std::convert::Infallible>(frame), (receiver, only, quiet_until, slot)));
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(frames))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_capped_in_all_and_per_address_and_a_dropped_one_frees_its_place() {
        let slots = StreamSlots::new(3, 2);
        let (a, b, c): (IpAddr, IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), "10.0.0.3".parse().unwrap());
        let first = slots.take(a).unwrap();
        let _second = slots.take(a).unwrap();
        let refused = slots.take(a).err().expect("a third stream from one address");
        assert!(refused.to_string().contains("2 open (2 from 10.0.0.1)"), "{refused}");
        let _third = slots.take(b).unwrap();
        // Three in all: a new address is refused too.
        let refused = slots.take(c).err().expect("a fourth stream in all");
        assert!(refused.to_string().contains("3 open (0 from 10.0.0.3); at most 3 in all"), "{refused}");
        drop(first);
        assert!(slots.take(c).is_ok(), "a dropped stream frees its place");
    }
}
