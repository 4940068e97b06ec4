//! Before a build uses a network other than `none`, a probe checks that the network cannot reach this
//! host: the validator listens on the network's gateway address, a probe container on the network
//! tries to connect, and a connection that arrives means the operator's isolation is missing
//! (docs/security.md shows the rules). The engine's own networks all reach the host; only rules on
//! the host stop it, and a build that could reach the validator's services must not run.

use std::time::Duration;

use super::pipeline::Attempt;
use crate::docker::{ContainerSpec, container};

/// The probe: connect to `$0:$1` with Python if the image has it, else with busybox's `nc`; exit 127
/// when it has neither (the probe proves nothing then).
const PROBE: &str = r#"if command -v python3 >/dev/null 2>&1; then
python3 -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 3)' "$0" "$1" 2>/dev/null
elif command -v nc >/dev/null 2>&1; then nc -w 3 "$0" "$1" </dev/null
else exit 127; fi"#;

impl Attempt {
    /// Whether builds may use `network`: `none` always; another only when it exists and the probe
    /// cannot reach this host through it.
    pub(super) async fn build_network_isolated(&self, network: &str) -> Result<(), String> {
        if network == "none" {
            return Ok(());
        }
        let docker = self.engine.docker();
        let inspected = docker.inspect_network(network, None).await.map_err(|e| {
            format!(
                "build network {network:?} (local_executor.build_network): {}",
                crate::docker::build::engine_message(&e)
            )
        })?;
        let gateways: Vec<String> = inspected
            .ipam
            .and_then(|i| i.config)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| c.gateway)
            .filter(|g| g.parse::<std::net::Ipv4Addr>().is_ok())
            .collect();
        let gateway = gateways.first().ok_or(format!("build network {network:?} has no IPv4 gateway to probe"))?;
        let listener = tokio::net::TcpListener::bind((gateway.as_str(), 0))
            .await
            .map_err(|e| format!("cannot listen on build network {network:?}'s gateway {gateway} to probe it: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let spec = ContainerSpec {
            name: format!("{}-probe", self.names.train),
            image: self.settings.evaluator(),
            entrypoint: Some(vec!["sh".into(), "-c".into(), PROBE.into()]),
            args: vec![gateway.clone(), port.to_string()],
            labels: self.labels("probe"),
            network: Some(network.to_owned()),
            memory_bytes: Some(64 * 1024 * 1024),
            pids_limit: Some(64),
            ..Default::default()
        };
        container::remove(&self.engine, &spec.name).await;
        let end = container::run(&self.engine, &spec, Duration::from_secs(60)).await;
        container::remove(&self.engine, &spec.name).await;
        match end {
            Ok(end) if end.exit_code == 126 || end.exit_code == 127 => {
                return Err(format!(
                    "cannot probe build network {network:?}: the evaluator image has neither python3 nor nc"
                ));
            }
            Ok(_) => {}
            Err(e) => return Err(format!("cannot probe build network {network:?}: {e}")),
        }
        // A connection the probe made waits in the listener's backlog, accepted or not.
        let reached =
            tokio::time::timeout(Duration::from_millis(200), listener.accept()).await.is_ok_and(|a| a.is_ok());
        if reached {
            return Err(format!(
                "build network {network:?} reaches this host (a probe connected to {gateway}): isolate it as \
                 docs/security.md shows, or set local_executor.build_network = \"none\""
            ));
        }
        Ok(())
    }
}
