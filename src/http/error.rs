//! The HTTP servers' errors (control API, trainer node), mapped to status codes in this one place;
//! every error answers JSON `{"error": "..."}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// Every error's body: `{"error": "..."}` (its schema in the control API's OpenAPI document).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// Malformed request: names the field or parameter.
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The path exists but does not take this method (the route adds the `Allow` header).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The current state does not allow it (a GPU held by another training, a tournament that ended).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    /// The store or a runtime part failed or is missing; the request may be repeated.
    #[error("{0}")]
    Unavailable(String),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.respond("error")
    }
}

impl ApiError {
    /// The same error as `{"detail": "..."}`, the shape of the reference's FastAPI servers.
    pub fn detail_response(&self) -> HttpResponse {
        self.respond("detail")
    }

    fn respond(&self, key: &str) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code()).json(json!({ key: self.to_string() }));
        if matches!(self, ApiError::Unauthorized(_)) {
            response.headers_mut().insert(
                actix_web::http::header::WWW_AUTHENTICATE,
                actix_web::http::header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
