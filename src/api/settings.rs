//! `[api]`: where the control API listens and who may use it.

use serde::{Deserialize, Serialize};

use crate::http::Secret;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// `host:port`; empty: no API.
    pub listen: String,
    /// The bearer token operations need; required when `listen` is not a loopback address.
    #[serde(default)]
    pub token: Secret,
    /// Whether reads (GET) are open to anyone.
    pub public_reads: bool,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Event streams (`/v1/events`) open at once, in all and from one client address; past either the
    /// stream is refused with a 503, so subscribers cannot use up the process's file descriptors.
    pub max_event_streams: usize,
    pub max_event_streams_per_address: usize,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            listen: String::new(),
            token: Secret::default(),
            public_reads: true,
            max_body_bytes: 65_536,
            max_event_streams: 64,
            max_event_streams_per_address: 4,
        }
    }
}

impl ApiSettings {
    /// Every problem, each naming its key.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.listen.is_empty() {
            return problems;
        }
        match self.listen.parse::<std::net::SocketAddr>() {
            Err(e) => problems.push(format!("api.listen: {:?} is not host:port ({e})", self.listen)),
            Ok(address) if self.token.is_empty() && !address.ip().is_loopback() => {
                problems.push(format!("api.token: must be set when api.listen ({address}) is not a loopback address"))
            }
            Ok(_) => {}
        }
        if self.max_body_bytes == 0 {
            problems.push("api.max_body_bytes: must be positive".into());
        }
        if self.max_event_streams == 0 || self.max_event_streams_per_address == 0 {
            problems.push("api.max_event_streams, api.max_event_streams_per_address: must be positive".into());
        }
        problems
    }
}
