//! `[[validator.nodes]]` and `[validator.polling]`: the trainer nodes a validator drives with
//! `validator.executor = "remote"`, and how it follows them. Validation names the key of every problem.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::domain::NodeId;
use crate::http::Secret;

/// One `[[validator.nodes]]` entry: a trainer node the validator drives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteNodeSettings {
    /// The node's id in the store and the broker.
    pub id: NodeId,
    /// Base URL of its trainer API, e.g. `http://10.0.0.5:8001`.
    pub url: String,
    /// Sent as `Authorization: Bearer <token>`; empty for a node without tokens (the reference's).
    #[serde(default)]
    pub token: Secret,
}

/// `[validator.polling]`: how the remote executor follows trainings and watches nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollingSettings {
    /// Between two status requests of a running training (the protocol has no push).
    pub poll_interval_secs: f64,
    /// A run whose node does not answer this many polls in a row is lost (a failed attempt).
    pub lost_after_polls: u32,
    /// Between two availability checks of every node (un-fences the ones that answer again).
    pub health_interval_secs: f64,
    /// Time limit of one request to a node.
    pub request_timeout_secs: f64,
    /// A run still reported as training this long past its hours (the node's own time limit) is lost.
    #[serde(default = "default_follow_margin_secs")]
    pub follow_margin_secs: f64,
}

fn default_follow_margin_secs() -> f64 {
    1800.0
}

impl Default for PollingSettings {
    fn default() -> Self {
        Self {
            poll_interval_secs: 30.0,
            lost_after_polls: 10,
            health_interval_secs: 60.0,
            request_timeout_secs: 30.0,
            follow_margin_secs: default_follow_margin_secs(),
        }
    }
}

/// Problems of the remote nodes list and polling, each naming its key.
pub fn validate_remote(nodes: &[RemoteNodeSettings], polling: &PollingSettings, required: bool) -> Vec<String> {
    let mut problems = Vec::new();
    if required && nodes.is_empty() {
        problems.push("validator.nodes: executor \"remote\" needs at least one [[validator.nodes]] entry".into());
    }
    let mut ids = BTreeSet::new();
    for (i, node) in nodes.iter().enumerate() {
        if !ids.insert(node.id.as_str()) {
            problems.push(format!("validator.nodes[{i}].id: {:?} is used twice", node.id));
        }
        match url::Url::parse(&node.url) {
            Ok(u) if u.scheme() == "http" && !local_host(&u) => problems.push(format!(
                "validator.nodes[{i}].url: {:?}: use https:// for a node outside this host and its private \
                 network (its token would cross the network in clear)",
                node.url
            )),
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
            Ok(_) => problems.push(format!("validator.nodes[{i}].url: {:?} is not an http(s) URL", node.url)),
            Err(e) => problems.push(format!("validator.nodes[{i}].url: {:?}: {e}", node.url)),
        }
    }
    let positive = [
        ("follow_margin_secs", polling.follow_margin_secs),
        ("poll_interval_secs", polling.poll_interval_secs),
        ("health_interval_secs", polling.health_interval_secs),
        ("request_timeout_secs", polling.request_timeout_secs),
    ];
    for (key, value) in positive {
        if !(value.is_finite() && value > 0.0) {
            problems.push(format!("validator.polling.{key}: must be a positive number of seconds"));
        }
    }
    if polling.lost_after_polls == 0 {
        problems.push("validator.polling.lost_after_polls: must be at least 1".into());
    }
    problems
}

/// Whether a URL's host is this host or an address of a private network, where plain HTTP is allowed.
fn local_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => !crate::repo::source::is_public(ip.into()),
        Some(url::Host::Ipv6(ip)) => !crate::repo::source::is_public(ip.into()),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_name_their_key() {
        let node = |id: &str, url: &str| RemoteNodeSettings {
            id: NodeId::parse(id).unwrap(),
            url: url.into(),
            token: Secret::default(),
        };
        let nodes = [node("a", "http://h:8001"), node("a", "ftp://h"), node("b", "not a url")];
        let polling = PollingSettings { lost_after_polls: 0, poll_interval_secs: 0.0, ..Default::default() };
        let problems = validate_remote(&nodes, &polling, true).join("\n");
        for key in [
            "validator.nodes[1].id",
            "validator.nodes[1].url",
            "validator.nodes[2].url",
            "validator.polling.poll_interval_secs",
            "validator.polling.lost_after_polls",
        ] {
            assert!(problems.contains(key), "{key}: {problems}");
        }
        assert!(problems.contains("validator.nodes[0].url: \"http://h:8001\": use https://"), "{problems}");
        let polling = PollingSettings::default();
        for url in ["http://127.0.0.1:8001", "http://10.0.0.5:8001", "http://localhost:8001", "https://gpu.example.org"]
        {
            assert!(validate_remote(&[node("n", url)], &polling, true).is_empty(), "{url}");
        }
        assert!(!validate_remote(&[node("n", "http://140.82.112.3:8001")], &polling, true).is_empty());
        assert!(validate_remote(&[], &PollingSettings::default(), true)[0].starts_with("validator.nodes:"));
        assert!(validate_remote(&[], &PollingSettings::default(), false).is_empty());
    }
}
