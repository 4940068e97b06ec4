//! Before a build uses a network other than `none`, a probe checks that the network cannot reach this
//! host: the validator listens on the network's gateway address and on every other IPv4 address of
//! the host (its LAN address included), a probe container on the network tries to connect to each,
//! and a connection that arrives means the operator's isolation is missing (docs/security.md shows
//! the rules). The engine's own networks all reach the host; only rules on the host stop it, and a
//! build that could reach the validator's services must not run.

use std::time::Duration;

use super::attempt::Attempt;
use crate::docker::{ContainerSpec, container};

/// The probe: for each `address port` pair of its arguments, connect with Python if the image has it,
/// else with busybox's `nc` (which closes the connection at once by running `true` on it); exit 127
/// when it has neither (the probe proves nothing then).
const PROBE: &str = r#"command -v python3 >/dev/null 2>&1 || command -v nc >/dev/null 2>&1 || exit 127
set -- "$0" "$@"
while [ $# -ge 2 ]; do
if command -v python3 >/dev/null 2>&1; then
python3 -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 3)' "$1" "$2" 2>/dev/null
else nc -w 3 "$1" "$2" -e true; fi
shift 2
done"#;

/// The host's own IPv4 addresses but loopback (which inside a container is the container's own).
fn host_addresses() -> Vec<std::net::Ipv4Addr> {
    let mut found = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list it allocates, freed below by freeifaddrs; each
    // entry's address, when not null, points to a sockaddr of the family it names.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return found;
        }
        let mut next = list;
        while let Some(entry) = next.as_ref() {
            if let Some(addr) = entry.ifa_addr.as_ref()
                && i32::from(addr.sa_family) == libc::AF_INET
            {
                let ip = (*entry.ifa_addr.cast::<libc::sockaddr_in>()).sin_addr.s_addr;
                let ip = std::net::Ipv4Addr::from(u32::from_be(ip));
                if !ip.is_loopback() && !found.contains(&ip) {
                    found.push(ip);
                }
            }
            next = entry.ifa_next;
        }
        libc::freeifaddrs(list);
    }
    found
}

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
        let mut targets = vec![gateway.clone()];
        targets.extend(host_addresses().into_iter().map(|ip| ip.to_string()).filter(|ip| ip != gateway));
        let mut listeners = Vec::new();
        let mut args = Vec::new();
        for address in &targets {
            // The gateway must be listened on; another address the engine's own namespace may lack.
            let listener = match tokio::net::TcpListener::bind((address.as_str(), 0)).await {
                Ok(listener) => listener,
                Err(e) if address == gateway => {
                    return Err(format!(
                        "cannot listen on build network {network:?}'s gateway {gateway} to probe it: {e}"
                    ));
                }
                Err(_) => continue,
            };
            let port = listener.local_addr().map_err(|e| e.to_string())?.port();
            args.extend([address.clone(), port.to_string()]);
            listeners.push((address.clone(), listener));
        }
        let spec = ContainerSpec {
            name: format!("{}-probe", self.names.train),
            image: self.settings.evaluator(),
            entrypoint: Some(vec!["sh".into(), "-c".into(), PROBE.into()]),
            args,
            labels: self.labels("probe"),
            network: Some(network.to_owned()),
            memory_bytes: Some(64 * 1024 * 1024),
            pids_limit: Some(64),
            ..Default::default()
        };
        container::remove(&self.engine, &spec.name).await;
        // Each connection that is dropped waits out its 3 s.
        let limit = Duration::from_secs(30 + 4 * listeners.len() as u64);
        let end = container::run(&self.engine, &spec, limit).await;
        container::remove(&self.engine, &spec.name).await;
        match end {
            Ok(end) if end.exit_code == 126 || end.exit_code == 127 => {
                return Err(format!(
                    "cannot probe build network {network:?}: the evaluator image has neither python3 nor nc"
                ));
            }
            Ok(end) if end.timed_out => {
                return Err(format!("cannot probe build network {network:?}: the probe did not finish in {limit:?}"));
            }
            Ok(_) => {}
            Err(e) => return Err(format!("cannot probe build network {network:?}: {e}")),
        }
        // A connection the probe made waits in the listener's backlog, accepted or not.
        for (address, listener) in listeners {
            let reached =
                tokio::time::timeout(Duration::from_millis(200), listener.accept()).await.is_ok_and(|a| a.is_ok());
            if reached {
                return Err(format!(
                    "build network {network:?} reaches this host (a probe connected to {address}): isolate it \
                     as docs/security.md shows, or set local_executor.build_network = \"none\""
                ));
            }
        }
        Ok(())
    }
}
