//! Where a miner repository may be fetched from (execution.md §3 "fetch"): `https://` URLs of public
//! hosts by default, optionally only the hosts of an allow-list; `file://` URLs, local paths, plain
//! `http://` and hosts on private addresses only when the operator allows local sources (`crucible
//! trial` and tests do).
//!
//! A host is refused when its name is `localhost` or an address literal, or resolves to, a loopback,
//! private, link-local, shared or unspecified address, so a submitted URL cannot make the validator
//! probe its own network. The name is resolved again by git; an allow-list of hosts closes that gap.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How a source was admitted: the URL or path git is given, and which protocols it may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub url: String,
    /// Git's `GIT_ALLOW_PROTOCOL`: `https`, or also `http` and `file` for local sources.
    pub protocols: &'static str,
}

/// Why a source is refused: what a miner reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceRefused {
    #[error("repository URL is empty")]
    Empty,
    #[error("{0:?} is not an https:// URL")]
    NotHttps(String),
    #[error("{0:?} carries credentials; submit a public repository URL")]
    Credentials(String),
    #[error("host {host:?} is not one of the allowed hosts ({allowed})")]
    HostNotAllowed { host: String, allowed: String },
    #[error("host {host:?} is a local or private address ({address})")]
    PrivateAddress { host: String, address: String },
    #[error("host {0:?} does not resolve")]
    Unresolved(String),
}

/// Checks `url` against the policy without touching the network (names are resolved by [`resolve`]).
pub fn admit(url: &str, allowed_hosts: &[String], allow_local: bool) -> Result<Admitted, SourceRefused> {
    let url = url.trim();
    if url.is_empty() {
        return Err(SourceRefused::Empty);
    }
    if allow_local {
        return Ok(Admitted { url: url.to_owned(), protocols: "https:http:file" });
    }
    let parsed = url::Url::parse(url).map_err(|_| SourceRefused::NotHttps(url.to_owned()))?;
    if parsed.scheme() != "https" || parsed.cannot_be_a_base() {
        return Err(SourceRefused::NotHttps(url.to_owned()));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(SourceRefused::Credentials(parsed.host_str().unwrap_or_default().to_owned()));
    }
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    if !allowed_hosts.is_empty() && !allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) {
        return Err(SourceRefused::HostNotAllowed { host, allowed: allowed_hosts.join(", ") });
    }
    let private = |address: String| SourceRefused::PrivateAddress { host: host.clone(), address };
    match parsed.host() {
        Some(url::Host::Ipv4(ip)) if !is_public(IpAddr::V4(ip)) => return Err(private(ip.to_string())),
        Some(url::Host::Ipv6(ip)) if !is_public(IpAddr::V6(ip)) => return Err(private(ip.to_string())),
        Some(url::Host::Domain(name)) if name.eq_ignore_ascii_case("localhost") || name.ends_with(".localhost") => {
            return Err(private("localhost".into()));
        }
        _ => {}
    }
    Ok(Admitted { url: url.to_owned(), protocols: "https" })
}

/// Resolves the host of an admitted `https://` URL and refuses it if any of its addresses is not
/// public. Local sources (other schemes, or `allow_local`) are not resolved.
pub async fn resolve(admitted: &Admitted) -> Result<(), SourceRefused> {
    if admitted.protocols != "https" {
        return Ok(());
    }
    let Ok(parsed) = url::Url::parse(&admitted.url) else { return Ok(()) };
    let Some(url::Host::Domain(host)) = parsed.host() else { return Ok(()) };
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addresses = tokio::net::lookup_host((host, port)).await.map_err(|_| SourceRefused::Unresolved(host.into()))?;
    for address in addresses {
        if !is_public(address.ip()) {
            return Err(SourceRefused::PrivateAddress { host: host.into(), address: address.ip().to_string() });
        }
    }
    Ok(())
}

/// Whether `ip` is an address of the public internet: not loopback, private, link-local, shared
/// (carrier-grade NAT), unspecified, broadcast, multicast or documentation.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => public_v4(v4),
            None => public_v6(v6),
        },
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let shared = a == 100 && (64..128).contains(&b);
    let reserved = a == 0 || a >= 240;
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || shared
        || reserved)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let unique_local = first & 0xfe00 == 0xfc00;
    let link_local = first & 0xffc0 == 0xfe80;
    let documentation = first == 0x2001 && ip.segments()[1] == 0x0db8;
    !(ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || unique_local || link_local || documentation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> SourceRefused {
        admit(url, &[], false).unwrap_err()
    }

    #[test]
    fn only_public_https_urls_are_admitted_by_default() {
        let ok = admit("https://github.com/miner/trainer", &[], false).unwrap();
        assert_eq!(ok, Admitted { url: "https://github.com/miner/trainer".into(), protocols: "https" });
        assert!(matches!(refused("http://github.com/miner/trainer"), SourceRefused::NotHttps(_)));
        assert!(matches!(refused("file:///etc"), SourceRefused::NotHttps(_)));
        assert!(matches!(refused("/srv/repo"), SourceRefused::NotHttps(_)));
        assert!(matches!(refused("git@github.com:miner/trainer.git"), SourceRefused::NotHttps(_)));
        assert!(matches!(refused("ext::sh -c touch% /tmp/x"), SourceRefused::NotHttps(_)));
        assert!(matches!(refused("https://user:token@github.com/x"), SourceRefused::Credentials(_)));
        assert_eq!(refused(" "), SourceRefused::Empty);
    }

    #[test]
    fn local_and_private_hosts_are_refused_with_the_address() {
        for url in [
            "https://localhost/x",
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://172.17.0.1:8443/x",
            "https://192.168.1.1/x",
            "https://169.254.169.254/latest",
            "https://100.64.0.1/x",
            "https://0.0.0.0/x",
            "https://[::1]/x",
            "https://[fd00::1]/x",
            "https://[fe80::1]/x",
            "https://[::ffff:10.0.0.1]/x",
        ] {
            assert!(matches!(refused(url), SourceRefused::PrivateAddress { .. }), "{url}");
        }
        assert!(admit("https://140.82.112.3/x", &[], false).is_ok());
        assert!(admit("https://[2606:4700::1111]/x", &[], false).is_ok());
    }

    #[test]
    fn an_allow_list_names_the_hosts() {
        let allowed = vec!["github.com".to_owned(), "gitlab.com".to_owned()];
        assert!(admit("https://GitHub.com/miner/trainer", &allowed, false).is_ok());
        let err = admit("https://example.org/miner/trainer", &allowed, false).unwrap_err();
        assert_eq!(err.to_string(), "host \"example.org\" is not one of the allowed hosts (github.com, gitlab.com)");
    }

    #[test]
    fn local_sources_pass_only_when_allowed() {
        let local = admit("/srv/repo", &[], true).unwrap();
        assert_eq!(local.protocols, "https:http:file");
        assert!(admit("file:///srv/repo", &[], true).is_ok());
    }

    #[tokio::test]
    async fn names_resolving_to_private_addresses_are_refused() {
        let admitted = Admitted { url: "https://localhost/x".into(), protocols: "https" };
        assert!(matches!(resolve(&admitted).await, Err(SourceRefused::PrivateAddress { .. })));
        let local = Admitted { url: "/srv/repo".into(), protocols: "https:http:file" };
        assert_eq!(resolve(&local).await, Ok(()));
    }
}
