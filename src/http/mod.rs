//! What the two HTTP servers (the control API and the trainer node) share: access rules, errors as
//! JSON with their status codes, and the one guard that applies the rules before any route.
//!
//! * `auth`: allow-list and bearer token (constant-time comparison, never logged).
//! * `error`: [`error::ApiError`], every error answered as `{"error": "..."}`.
//! * `secret`: [`Secret`], a token never printed.
//! * `client`: [`transport_error`], a request that got no answer, in words.

pub mod auth;
mod client;
pub mod error;
mod secret;

pub use self::client::transport_error;
pub use self::secret::Secret;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};

use self::auth::Access;
use self::error::ApiError;

/// Who may call what on one server: the peer must be allowed, then the token is needed except on the
/// `open` paths and, when reads are public, on GET and HEAD requests.
#[derive(Debug, Clone)]
pub struct Gate {
    pub access: Access,
    pub public_reads: bool,
    pub open: &'static [&'static str],
    /// Refusals as `{"detail": ...}` (the trainer node, as the reference's FastAPI node), else
    /// `{"error": ...}`.
    pub detail_body: bool,
}

impl Gate {
    fn check(&self, request: &ServiceRequest) -> Result<(), ApiError> {
        let peer = request.peer_addr().map(|a| a.ip());
        let header = request.headers().get(header::AUTHORIZATION).and_then(|h| h.to_str().ok());
        let free = self.open.contains(&request.path())
            || (self.public_reads && matches!(*request.method(), Method::GET | Method::HEAD));
        self.access.check_peer(peer)?;
        if free { Ok(()) } else { self.access.check_token(header) }
    }
}

/// Refuses what the server's [`Gate`] (its app data) does not let through: 403 for a peer not
/// allowed, 401 without the token; before any route runs.
pub async fn guard(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let gate = request.app_data::<web::Data<Gate>>();
    let detail_body = gate.is_some_and(|g| g.detail_body);
    let verdict = match gate {
        Some(gate) => gate.check(&request),
        None => Err(ApiError::Unavailable("the access rules are missing".into())),
    };
    match verdict {
        Ok(()) => Ok(next.call(request).await?.map_into_left_body()),
        Err(refusal) => {
            tracing::warn!(peer = ?request.peer_addr(), path = %request.path(), reason = %refusal, "request refused");
            let response = if detail_body { refusal.detail_response() } else { refusal.error_response() };
            Ok(request.into_response(response).map_into_right_body())
        }
    }
}
