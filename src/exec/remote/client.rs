//! HTTP calls to one trainer node: bearer token, time limit, no redirects, answers read in chunks up to
//! a cap (never buffered whole). A call either gets a complete answer (any status) or fails in
//! transport (cannot connect, time limit, broken answer), which is what "the node does not answer"
//! means to the callers.

use std::time::Duration;

use super::settings::{PollingSettings, RemoteNodeSettings};
use crate::http::{Secret, transport_error};

/// Largest answer read from a node (task records carry log lines).
const MAX_ANSWER_BYTES: usize = 8 << 20;

/// A trainer node as the validator reaches it.
#[derive(Debug, Clone)]
pub struct RemoteNode {
    pub id: crate::domain::NodeId,
    /// Base URL without a trailing slash.
    pub url: String,
    pub token: Secret,
}

impl From<&RemoteNodeSettings> for RemoteNode {
    fn from(node: &RemoteNodeSettings) -> Self {
        Self { id: node.id.clone(), url: node.url.trim_end_matches('/').to_owned(), token: node.token.clone() }
    }
}

/// A complete answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    /// The node's `detail` (the reference's and ours) or `error`, or the start of the body, for messages.
    /// A validation `detail` list reads as `loc: msg` per issue.
    pub fn error_text(&self) -> String {
        let parsed: Option<serde_json::Value> = serde_json::from_slice(&self.body).ok();
        let field = |name| parsed.as_ref().and_then(|v| v.get(name));
        match field("detail").or_else(|| field("error")) {
            Some(serde_json::Value::String(text)) => text.clone(),
            Some(serde_json::Value::Array(issues)) => issues
                .iter()
                .map(|issue| {
                    let loc = issue.get("loc").and_then(|l| l.as_array()).cloned().unwrap_or_default();
                    let loc: Vec<String> =
                        loc.iter().map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned)).collect();
                    format!("{}: {}", loc.join("."), issue.get("msg").and_then(|m| m.as_str()).unwrap_or("invalid"))
                })
                .collect::<Vec<_>>()
                .join("; "),
            _ => String::from_utf8_lossy(&self.body[..self.body.len().min(200)]).trim().to_owned(),
        }
    }
}

#[derive(Clone)]
pub struct NodeClient {
    http: reqwest::Client,
}

impl NodeClient {
    pub fn new(polling: &PollingSettings) -> Result<Self, reqwest::Error> {
        let timeout = Duration::from_secs_f64(polling.request_timeout_secs);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // Idle connections are dropped before a node's keep-alive (5 s in actix and uvicorn) can
            // close one just as a poll reuses it.
            .pool_idle_timeout(Duration::from_secs(2))
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("crucible/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http })
    }

    /// `GET {url}{path}` with the node's token.
    pub async fn get(&self, node: &RemoteNode, path: &str, query: &[(&str, &str)]) -> Result<Answer, String> {
        let url = url::Url::parse_with_params(&format!("{}{path}", node.url), query)
            .map_err(|e| format!("bad URL {}{path}: {e}", node.url))?;
        self.send(node, self.http.get(url)).await
    }

    /// `POST {url}{path}` of a JSON body with the node's token.
    pub async fn post(&self, node: &RemoteNode, path: &str, body: &serde_json::Value) -> Result<Answer, String> {
        let request = self.http.post(format!("{}{path}", node.url)).json(body);
        self.send(node, request).await
    }

    async fn send(&self, node: &RemoteNode, mut request: reqwest::RequestBuilder) -> Result<Answer, String> {
        if !node.token.is_empty() {
            request = request.bearer_auth(node.token.expose());
        }
        let mut response = request.send().await.map_err(|e| transport_error(&e))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(&e))? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(format!("the answer is larger than {MAX_ANSWER_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer { status, body })
    }
}
