//! The control plane: the HTTP API `validator` serves (`[api]`). Liveness and readiness, and what has
//! landed so far: recording a received transfer as a fee credit, and the reference's fee and balance
//! reads (docs/reference-analytics-api.md). Operations need `Authorization: Bearer <token>` (compared in constant time, never
//! logged); reads need it too unless `public_reads` is set. Every error is JSON `{"error": "..."}` with
//! its status, bad input is a 400 naming the field, and bodies have a size limit.

mod routes;
pub mod settings;
mod tournaments;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpServer, web};

pub use self::settings::ApiSettings;
use crate::node::auth::Access;
use crate::node::error::ApiError;
use crate::store::Store;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<Store>,
    pub rules: crate::domain::rules::Rules,
}

/// Runs store work on the blocking pool; a store failure is a 503 the caller may repeat.
async fn read<T: Send + 'static>(
    state: &ApiState,
    f: impl FnOnce(&Store) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    web::block(move || f(&store))
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .map_err(|e| ApiError::Unavailable(format!("the store failed: {e}")))
}

/// Who may call what.
#[derive(Clone)]
struct Guards {
    access: Access,
    public_reads: bool,
}

/// Serves the API on `listener` until stopped; call inside a running actix system.
pub fn start(state: ApiState, settings: &ApiSettings, listener: TcpListener) -> std::io::Result<Server> {
    let guards = web::Data::new(Guards {
        access: Access { token: settings.token.clone(), allow: Default::default() },
        public_reads: settings.public_reads,
    });
    let state = web::Data::new(state);
    let limit = settings.max_body_bytes;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(guards.clone())
            .app_data(web::JsonConfig::default().limit(limit).error_handler(|e, _| routes::json_error(e).into()))
            .app_data(web::PathConfig::default().error_handler(|e, _| ApiError::BadRequest(e.to_string()).into()))
            .wrap(from_fn(guard))
            .configure(routes::configure)
            .default_service(web::to(routes::no_route))
    })
    .workers(1)
    .listen(listener)?
    .run();
    Ok(server)
}

/// Operations always need the token; reads only when they are not public; health checks never.
async fn guard(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let path = request.path();
    let open = path == "/healthz" || path == "/readyz";
    let read = request.method() == actix_web::http::Method::GET;
    let verdict = match request.app_data::<web::Data<Guards>>() {
        Some(_) if open => Ok(()),
        Some(g) if read && g.public_reads => Ok(()),
        Some(g) => {
            let header = request.headers().get(actix_web::http::header::AUTHORIZATION);
            g.access.check(None, header.and_then(|h| h.to_str().ok()))
        }
        None => Err(ApiError::Unavailable("the access rules are missing".into())),
    };
    match verdict {
        Ok(()) => Ok(next.call(request).await?.map_into_left_body()),
        Err(refusal) => {
            tracing::warn!(path = %request.path(), reason = %refusal, "API request refused");
            Ok(request.error_response(refusal).map_into_right_body())
        }
    }
}
