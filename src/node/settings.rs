//! `[trainer_node]`: the settings of the `crucible trainer-node` server on a GPU host (the validator's
//! side, `[[validator.nodes]]` and `[validator.polling]`, is `exec::remote::settings`). Validation
//! names the key of every problem.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::domain::GpuClass;
use crate::domain::node_spec::NodeSpec;
use crate::http::Secret;
use crate::http::auth::AllowList;

/// Which executor a trainer node runs its trainings with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeExecutorKind {
    /// Virtual trainings with synthetic scores (`[simulation]` seed and shares), on the wall clock.
    Simulated,
    /// The execution pipeline on this host's Docker engine (`[local_executor]`).
    Local,
}

/// `[trainer_node]`: the trainer API server on a GPU host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainerNodeSettings {
    /// `HOST:PORT` to listen on.
    pub listen: String,
    /// The bearer token every request must carry; may be empty only on a loopback address.
    pub token: Secret,
    /// Source addresses allowed (IP addresses or CIDR blocks); empty allows any.
    pub allow_list: Vec<String>,
    /// The GPUs offered when discovery finds none, e.g. `8H100` or `4H100+2A100`; empty for none.
    pub gpus: String,
    /// The memory reported for each configured GPU.
    pub vram_gb: u32,
    /// Card-name fragments and the class a discovered card containing them counts in.
    pub gpu_classes: BTreeMap<String, GpuClass>,
    pub executor: NodeExecutorKind,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
}

impl Default for TrainerNodeSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8001".into(),
            token: Secret::default(),
            allow_list: Vec::new(),
            gpus: String::new(),
            vram_gb: 80,
            gpu_classes: [
                ("H100", GpuClass::H100),
                ("H200", GpuClass::H100),
                ("B200", GpuClass::H100),
                ("A100", GpuClass::A100),
            ]
            .into_iter()
            .map(|(fragment, class)| (fragment.to_owned(), class))
            .collect(),
            executor: NodeExecutorKind::Simulated,
            max_body_bytes: 1 << 20,
        }
    }
}

/// How a trainer node admits requests, decided from its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessMode {
    /// A bearer token on every request (and the allow-list, when one is set).
    Token,
    /// The reference's: the allow-list's addresses and loopback, without a token (its validators send
    /// none).
    Reference,
    /// Neither token nor allow-list: only possible on a loopback address.
    LoopbackOpen,
}

impl TrainerNodeSettings {
    /// The access mode these settings give, and the line the start-up log says it with.
    pub fn access_mode(&self) -> (AccessMode, String) {
        if !self.token.is_empty() {
            let allow = if self.allow_list.is_empty() {
                "from any address".to_owned()
            } else {
                format!("from {}", self.allow_list.join(", "))
            };
            (
                AccessMode::Token,
                format!("token mode: every request needs the bearer token (trainer_node.token is set), {allow}"),
            )
        } else if !self.allow_list.is_empty() {
            let line = format!(
                "reference mode: requests from {} and loopback are served without a token, as the reference's \
                 validators send none (trainer_node.token is empty and trainer_node.allow_list is set); every \
                 other address gets 403",
                self.allow_list.join(", ")
            );
            (AccessMode::Reference, line)
        } else {
            let line = format!(
                "open on loopback: no token and no allow-list; {} is a loopback address, so only this host can call",
                self.listen
            );
            (AccessMode::LoopbackOpen, line)
        }
    }

    /// The access rules of [`Self::access_mode`]: the reference's mode adds loopback to the allow-list, as
    /// the reference always allows 127.0.0.1.
    pub fn access(&self) -> Result<crate::http::auth::Access, String> {
        let mut entries = self.allow_list.clone();
        if self.access_mode().0 == AccessMode::Reference {
            entries.extend(["127.0.0.1".to_owned(), "::1".to_owned()]);
        }
        Ok(crate::http::auth::Access { token: self.token.clone(), allow: AllowList::parse(&entries)? })
    }

    /// The configured inventory: the GPU classes of the one node `gpus` describes, in index order.
    pub fn configured_gpus(&self) -> Result<Vec<GpuClass>, String> {
        if self.gpus.trim().is_empty() {
            return Ok(Vec::new());
        }
        let spec = NodeSpec::parse(&self.gpus).map_err(|e| e.to_string())?;
        match spec.nodes.as_slice() {
            [node] => Ok(node.iter().flat_map(|(class, n)| (0..*n).map(move |_| *class)).collect()),
            nodes => Err(format!(
                "{:?} describes {} nodes; one node's GPUs are written like 8H100 or 4H100+2A100",
                self.gpus,
                nodes.len()
            )),
        }
    }

    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match self.listen.parse::<SocketAddr>() {
            Err(e) => problems.push(format!("trainer_node.listen: {:?} is not HOST:PORT ({e})", self.listen)),
            Ok(address) if self.token.is_empty() && self.allow_list.is_empty() && !address.ip().is_loopback() => {
                problems.push(format!(
                    "trainer_node.token: must be set when trainer_node.listen ({address}) is not a loopback \
                     address, unless trainer_node.allow_list names the validators' addresses (the reference's \
                     mode, for validators that send no token)"
                ))
            }
            Ok(_) => {}
        }
        if let Err(e) = AllowList::parse(&self.allow_list) {
            problems.push(format!("trainer_node.allow_list: {e}"));
        }
        if self.token.is_empty() && self.allow_list.iter().any(|entry| entry.trim().ends_with("/0")) {
            problems.push(
                "trainer_node.allow_list: a /0 block allows every address; without trainer_node.token that is an \
                 open node"
                    .into(),
            );
        }
        if let Err(e) = self.configured_gpus() {
            problems.push(format!("trainer_node.gpus: {e}"));
        }
        if self.gpu_classes.keys().any(|k| k.trim().is_empty()) {
            problems.push("trainer_node.gpu_classes: a card-name fragment is empty".into());
        }
        if self.max_body_bytes < 1024 {
            problems.push("trainer_node.max_body_bytes: must be at least 1024".into());
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inventory_is_one_node() {
        let mut s = TrainerNodeSettings { gpus: "2H100+1A100".into(), ..Default::default() };
        assert_eq!(s.configured_gpus().unwrap(), vec![GpuClass::H100, GpuClass::H100, GpuClass::A100]);
        s.gpus = "2x8H100".into();
        assert!(s.configured_gpus().unwrap_err().contains("describes 2 nodes"));
        s.gpus = String::new();
        assert!(s.configured_gpus().unwrap().is_empty());
    }

    #[test]
    fn problems_name_their_key() {
        let bad = TrainerNodeSettings {
            listen: "0.0.0.0:8001".into(),
            allow_list: vec!["10.0.0.0/33".into()],
            gpus: "8V100".into(),
            max_body_bytes: 0,
            ..Default::default()
        };
        let problems = bad.validate().join("\n");
        for key in ["trainer_node.allow_list", "trainer_node.gpus", "trainer_node.max_body_bytes"] {
            assert!(problems.contains(key), "{problems}");
        }
        let open = TrainerNodeSettings { listen: "0.0.0.0:8001".into(), ..Default::default() };
        assert!(
            open.validate().join("\n").contains("trainer_node.token"),
            "off loopback needs a token or an allow-list"
        );
        let reference = TrainerNodeSettings { allow_list: vec!["10.0.0.5".into()], ..open.clone() };
        assert!(reference.validate().is_empty(), "the reference's mode: an allow-list without a token");
        assert_eq!(reference.access_mode().0, AccessMode::Reference);
        let access = reference.access().unwrap();
        assert!(access.allow.allows("10.0.0.5".parse().unwrap()) && access.allow.allows("127.0.0.1".parse().unwrap()));
        assert!(!access.allow.allows("10.0.0.6".parse().unwrap()));
        assert!(TrainerNodeSettings::default().validate().is_empty());
        let listen_anywhere = TrainerNodeSettings { listen: "0.0.0.0:8001".into(), token: Secret::new("t"), ..bad };
        assert!(!listen_anywhere.validate().join("\n").contains("trainer_node.token"));
    }
}
