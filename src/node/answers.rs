//! How a trainer node answers what is not a success, as the reference's FastAPI node does:
//!
//! * every error body is `{"detail": ...}`;
//! * a request that does not validate is a 422 whose `detail` is a list of pydantic-style issues
//!   (`type`, `loc`, `msg`, `input`), `loc` starting with `body` or `query`;
//! * a path no route has is a 404 `{"detail": "Not Found"}`, a known path with another method a 405
//!   `{"detail": "Method Not Allowed"}` with `Allow`, and a known path with a trailing slash a 307 to
//!   the path without it (query kept), in Starlette's order ([`no_route`]).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Value, json};

use crate::http::error::ApiError;

/// One validation problem, in pydantic's shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Issue {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub loc: Vec<Value>,
    pub msg: String,
    pub input: Value,
}

impl Issue {
    pub fn new(kind: &'static str, loc: Vec<Value>, msg: impl Into<String>, input: Value) -> Self {
        Self { kind, loc, msg: msg.into(), input }
    }

    /// A missing field or parameter.
    pub fn missing(loc: Vec<Value>, input: Value) -> Self {
        Self::new("missing", loc, "Field required", input)
    }
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path: Vec<String> =
            self.loc.iter().map(|l| l.as_str().map_or_else(|| l.to_string(), str::to_owned)).collect();
        write!(f, "{}: {}", path.join("."), self.msg)
    }
}

/// Issues as one line, for logs and stored records.
pub fn describe(issues: &[Issue]) -> String {
    issues.iter().map(Issue::to_string).collect::<Vec<_>>().join("; ")
}

/// A trainer node's refusal.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NodeError {
    /// 422: the request does not validate.
    #[error("{}", describe(.0))]
    Invalid(Vec<Issue>),
    #[error("{0}")]
    Api(ApiError),
}

impl From<ApiError> for NodeError {
    fn from(e: ApiError) -> Self {
        NodeError::Api(e)
    }
}

impl ResponseError for NodeError {
    fn status_code(&self) -> StatusCode {
        match self {
            NodeError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            NodeError::Api(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            NodeError::Invalid(issues) => HttpResponse::UnprocessableEntity().json(json!({ "detail": issues })),
            NodeError::Api(e) => e.detail_response(),
        }
    }
}

/// `{"detail": message}` with `status`.
pub fn detail(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "detail": message }))
}

/// The node's routes in the reference's order, with the one method each answers.
const ROUTES: [(&str, &str); 4] = [
    ("/v1/trainer/start_training", "POST"),
    ("/v1/trainer/get_gpu_availability", "GET"),
    ("/v1/trainer/get_recent_tasks", "GET"),
    ("/v1/trainer/{task_id}", "GET"),
];

/// The method of the first route whose path matches `path`.
fn route_method(path: &str) -> Option<&'static str> {
    ROUTES.iter().find(|(pattern, _)| matches(pattern, path)).map(|(_, method)| *method)
}

fn matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix("{task_id}") {
        Some(prefix) => path.strip_prefix(prefix).is_some_and(|rest| !rest.is_empty() && !rest.contains('/')),
        None => pattern == path,
    }
}

/// Answers every request no route took: 405 for a known path, 307 for a known path with a slash
/// added or missing, else 404.
pub async fn no_route(request: HttpRequest) -> HttpResponse {
    let path = request.path();
    if let Some(method) = route_method(path) {
        let mut response = detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
        response.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static(method));
        return response;
    }
    let toggled = match path.strip_suffix('/') {
        Some(stripped) => stripped.to_owned(),
        None => format!("{path}/"),
    };
    if path != "/" && route_method(&toggled).is_some() {
        // As Starlette builds it: the Host header the client sent (no forwarding headers trusted).
        let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned);
        let host = host.unwrap_or_else(|| request.app_config().host().to_owned());
        let query = request.query_string();
        let mut location = format!("http://{host}{toggled}");
        if !query.is_empty() {
            location = format!("{location}?{query}");
        }
        return HttpResponse::TemporaryRedirect().insert_header((header::LOCATION, location)).finish();
    }
    detail(StatusCode::NOT_FOUND, "Not Found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_the_reference_routes() {
        assert_eq!(route_method("/v1/trainer/start_training"), Some("POST"));
        assert_eq!(route_method("/v1/trainer/t-1"), Some("GET"));
        assert_eq!(route_method("/v1/trainer/"), None);
        assert_eq!(route_method("/v1/trainer/a/b"), None);
        assert_eq!(route_method("/v1/trainer"), None);
    }

    #[test]
    fn issues_read_as_one_line() {
        let issue = Issue::missing(vec![json!("body"), json!("training_data"), json!("file_format")], Value::Null);
        assert_eq!(issue.to_string(), "body.training_data.file_format: Field required");
        let body = serde_json::to_value(&issue).unwrap();
        assert_eq!(body["type"], "missing");
        assert_eq!(body["loc"], json!(["body", "training_data", "file_format"]));
    }
}
