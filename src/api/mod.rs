//! The control plane `validator` serves (`[api]`), and `simulate --serve`: the reference validator's
//! reads in its meaning (docs/reference-analytics-api.md), crucible's own detail under `/v1/crucible/`,
//! operations on the store and on the running validator, the event stream, metrics, the OpenAPI
//! document with Swagger UI, and the server-rendered pages.
//! Operations need `Authorization: Bearer <token>` (compared in constant time, never logged); reads
//! need it too unless `public_reads` is set. Every error is JSON `{"error": "..."}` with its status, bad
//! input is a 400 naming the field, and bodies have a size limit.

mod control;
pub(crate) mod details;
mod endpoint;
mod events;
mod metric_families;
mod metrics;
mod openapi;
mod operations;
pub(crate) mod orchestrator;
mod pages;
mod participants;
mod ready;
pub(crate) mod results;
mod routes;
pub mod settings;
mod stalls;
mod tournaments;
pub(crate) mod trainers;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

pub use self::control::Control;
pub use self::settings::ApiSettings;
use crate::http::auth::Access;
use crate::http::error::ApiError;
use crate::http::{Gate, guard};
use crate::store::Store;

/// Installs the process-wide metrics recorder (once), so that what the runtime counts before the API
/// starts is kept; [`start`] calls it too.
pub fn install_metrics() {
    metrics::handle();
}

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<Store>,
    pub rules: crate::domain::rules::Rules,
    /// The runtime's events, for `/v1/events` and the live pages.
    pub events: tokio::sync::broadcast::Sender<crate::actors::Event>,
    /// The miner directory file (`miners.directory`), when one manages the directory.
    pub directory_file: Option<String>,
    /// The running validator's actors; `None` where none runs (operations on it answer 503).
    pub control: Option<Control>,
    /// The readiness probe's ping in flight.
    pub ready: ready::ReadyProbe,
}

/// Runs store work on the blocking pool; a store failure is a 503 the caller may repeat.
pub(crate) async fn read<T: Send + 'static>(
    state: &ApiState,
    f: impl FnOnce(&Store) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    web::block(move || f(&store)).await.map_err(|e| ApiError::Unavailable(e.to_string()))?.map_err(store_error)
}

/// A tournament id from a path, or a 400 naming it.
pub(crate) fn tournament_id(text: &str) -> Result<crate::domain::TournamentId, ApiError> {
    crate::domain::TournamentId::parse(text).map_err(|e| ApiError::BadRequest(format!("tournament_id: {e}")))
}

/// A hotkey from a path, or a 400 naming it.
pub(crate) fn hotkey(text: &str) -> Result<crate::domain::Hotkey, ApiError> {
    crate::domain::Hotkey::parse(text).map_err(|e| ApiError::BadRequest(format!("hotkey: {e}")))
}

/// The current weights, from the results bundle as it stands.
pub(crate) fn current_weights(
    s: &Store,
    rules: &crate::domain::rules::Rules,
) -> Result<crate::domain::weights::WeightReport, crate::store::StoreError> {
    let bundle = s.export_bundle(&rules.house_hotkey, chrono::Utc::now())?;
    let tracks: Vec<_> = rules.tracks().iter().map(crate::domain::weights::TrackShare::from).collect();
    Ok(crate::domain::weights::compute_tracks(&bundle, &rules.weights, &tracks))
}

/// A store failure as the API answers it: unknown ids are 404, a state that moved on is 409, the
/// rest is a 503 the caller may repeat (the mapping operations on the runtime use too).
fn store_error(e: crate::store::StoreError) -> ApiError {
    crate::actors::control::ControlError::from(e).into()
}

/// Serves the API on `listener` until stopped; call inside a running actix system.
pub fn start(state: ApiState, settings: &ApiSettings, listener: TcpListener) -> std::io::Result<Server> {
    let gate = web::Data::new(Gate {
        access: Access { token: settings.token.clone(), allow: Default::default() },
        public_reads: settings.public_reads,
        open: &["/healthz", "/readyz"],
        detail_body: false,
    });
    metrics::handle();
    let state = web::Data::new(state);
    let streams =
        web::Data::new(events::StreamSlots::new(settings.max_event_streams, settings.max_event_streams_per_address));
    let limit = settings.max_body_bytes;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(streams.clone())
            .app_data(gate.clone())
            .app_data(web::JsonConfig::default().limit(limit).error_handler(|e, _| routes::json_error(e).into()))
            .app_data(web::PathConfig::default().error_handler(|e, _| ApiError::BadRequest(e.to_string()).into()))
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|e, _| ApiError::BadRequest(format!("the query string is malformed: {e}")).into()),
            )
            .wrap(from_fn(guard))
            .wrap(from_fn(metrics::count))
            .configure(routes::configure)
            .configure(pages::configure)
            .service(openapi::swagger())
            .default_service(web::to(routes::no_route))
    })
    .workers(1)
    // The process owns its signals (the validator stops its whole system; simulate stops itself).
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}
