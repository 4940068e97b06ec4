//! Who may use a server (the control API, a trainer node): the source address must be on the allow-list (when one is set), then the
//! request must carry `Authorization: Bearer <token>` (when a token is set). The token is compared in
//! constant time and never logged; a refusal says what was wrong without echoing what was presented.

use std::net::IpAddr;

use super::error::ApiError;
use crate::http::Secret;

/// IP addresses and CIDR blocks; empty allows every address.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AllowList {
    blocks: Vec<(IpAddr, u8)>,
}

impl AllowList {
    /// Parses entries such as `10.0.0.5`, `10.0.0.0/8` or `::1`.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut blocks = Vec::with_capacity(entries.len());
        for entry in entries {
            let bad = || format!("{entry:?} is not an IP address or CIDR block");
            let (address, prefix) = match entry.trim().split_once('/') {
                Some((address, prefix)) => (address, Some(prefix)),
                None => (entry.trim(), None),
            };
            let address: IpAddr = address.parse().map_err(|_| bad())?;
            let width = if address.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                Some(p) => p.parse::<u8>().ok().filter(|p| *p <= width).ok_or_else(bad)?,
                None => width,
            };
            blocks.push((address.to_canonical(), prefix));
        }
        Ok(Self { blocks })
    }

    pub fn allows(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.blocks.is_empty() || self.blocks.iter().any(|(block, prefix)| in_block(address, *block, *prefix))
    }
}

fn in_block(address: IpAddr, block: IpAddr, prefix: u8) -> bool {
    match (address, block) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// Whether two byte strings are equal, in time that depends only on their lengths.
pub fn same_token(expected: &[u8], presented: &[u8]) -> bool {
    let mut difference = expected.len() ^ presented.len();
    for (i, byte) in expected.iter().enumerate() {
        difference |= usize::from(byte ^ presented.get(i).copied().unwrap_or(!byte));
    }
    difference == 0
}

/// The access rules of one server.
#[derive(Debug, Clone)]
pub struct Access {
    pub token: Secret,
    pub allow: AllowList,
}

impl Access {
    /// Checks one request: its peer address, then its `Authorization` header.
    pub fn check(&self, peer: Option<IpAddr>, authorization: Option<&str>) -> Result<(), ApiError> {
        self.check_peer(peer)?;
        self.check_token(authorization)
    }

    /// Whether the source address is allowed.
    pub fn check_peer(&self, peer: Option<IpAddr>) -> Result<(), ApiError> {
        match peer {
            Some(address) if self.allow.allows(address) => Ok(()),
            Some(address) => Err(ApiError::Forbidden(format!("source address {address} is not allowed"))),
            None if self.allow.blocks.is_empty() => Ok(()),
            None => Err(ApiError::Forbidden("the source address is unknown".into())),
        }
    }

    /// Whether the `Authorization` header carries the token (always, when no token is set).
    pub fn check_token(&self, authorization: Option<&str>) -> Result<(), ApiError> {
        if self.token.is_empty() {
            return Ok(());
        }
        let presented = authorization
            .ok_or_else(|| ApiError::Unauthorized("missing Authorization: Bearer <token> header".into()))?;
        let token = presented
            .strip_prefix("Bearer ")
            .ok_or_else(|| ApiError::Unauthorized("the Authorization header is not a Bearer token".into()))?;
        if same_token(self.token.expose().as_bytes(), token.trim().as_bytes()) {
            Ok(())
        } else {
            Err(ApiError::Unauthorized("invalid bearer token".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AllowList {
        AllowList::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn addresses_and_blocks_are_matched() {
        let allow = list(&["10.1.0.0/16", "192.168.1.7", "fd00::/8", "0.0.0.0/0"]);
        assert!(allow.allows("8.8.8.8".parse().unwrap()), "0.0.0.0/0 allows every IPv4 address");
        let allow = list(&["10.1.0.0/16", "192.168.1.7", "fd00::/8"]);
        for (address, allowed) in [
            ("10.1.200.3", true),
            ("10.2.0.1", false),
            ("192.168.1.7", true),
            ("192.168.1.8", false),
            ("::ffff:10.1.0.9", true),
            ("fd12::1", true),
            ("fe80::1", false),
        ] {
            assert_eq!(allow.allows(address.parse().unwrap()), allowed, "{address}");
        }
        assert!(AllowList::default().allows("1.2.3.4".parse().unwrap()));
        for bad in ["10.0.0.0/33", "host.example", "10.0.0.1/x", "::/129"] {
            assert!(AllowList::parse(&[bad.to_owned()]).unwrap_err().contains(bad));
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token(b"secret", b"secret"));
        for other in [&b"secreT"[..], b"secre", b"secrets", b"", b"\x8c\x9a\x9c\x8d\x9a\x8b"] {
            assert!(!same_token(b"secret", other), "{other:?}");
        }
        assert!(same_token(b"", b""));
    }

    #[test]
    fn requests_need_an_allowed_address_then_the_token() {
        let access = Access { token: Secret::new("t0k"), allow: list(&["127.0.0.1"]) };
        let local = Some("127.0.0.1".parse().unwrap());
        assert!(access.check(local, Some("Bearer t0k")).is_ok());
        assert!(matches!(access.check(local, None), Err(ApiError::Unauthorized(_))));
        assert!(matches!(access.check(local, Some("Bearer t0K")), Err(ApiError::Unauthorized(_))));
        assert!(matches!(access.check(local, Some("Basic t0k")), Err(ApiError::Unauthorized(_))));
        let far = Some("10.0.0.1".parse().unwrap());
        assert!(matches!(access.check(far, Some("Bearer t0k")), Err(ApiError::Forbidden(_))));
        let open = Access { token: Secret::default(), allow: AllowList::default() };
        assert!(open.check(None, None).is_ok());
    }
}
