//! The miner's side of a signed request, decided exactly as fiber 2.4.0's `verify_get_request` and
//! `verify_request` decide it, in fiber's order:
//!
//! 1. **nonce**: refused when already used, when the part before the first `_` is not an integer, or
//!    when that timestamp is more than 120 s before or after this miner's clock (exactly 120 s is
//!    accepted);
//! 2. **signature**: the sr25519 signature (`0x` + hex, either case) over the message rebuilt from the
//!    received headers and body ([`super::signing::signing_message`]) verifies under the public key of
//!    the SS58 `validator-hotkey`; like substrate-interface, a signature over `<Bytes>…</Bytes>` of the
//!    message is also accepted;
//! 3. **miner hotkey**: the `miner-hotkey` header names this miner.
//!
//! A nonce is remembered once its request is accepted, for as long as its timestamp is inside the
//! window, so a replay is refused and the store stays bounded. (fiber remembers every well-formed
//! nonce from the moment its format is checked and, on a plain miner, never forgets one: a request
//! refused for its signature burns its nonce, and the store grows for the life of the process. A
//! nonce outside the window is refused anyway, so forgetting it then changes no decision.)

use std::collections::HashMap;
use std::sync::Mutex;

use schnorrkel::{PublicKey, Signature, signing_context};

use super::signing::signing_message;
use super::signing::{CONTEXT, MINER_HOTKEY, NONCE, Payload, SIGNATURE, VALIDATOR_HOTKEY, decode_hex, ss58_decode};

/// fiber's nonce window: a timestamp at most this far (ns) from the miner's clock, either way.
pub const NONCE_WINDOW_NS: i128 = 120_000_000_000;

/// Why a signed request was refused; [`Refusal::check`] names fiber's check that refused it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("missing header `{0}`")]
    MissingHeader(&'static str),
    #[error("the nonce {0:?} is already used, not `<unix ns>_<suffix>`, or more than 120 s from this miner's clock")]
    Nonce(String),
    #[error(
        "the signature does not verify for validator {0} over `{{nonce}}:{{miner_hotkey}}` (GET) or `{{nonce}}:{{miner_hotkey}}:{{sha256 of the body}}` (POST)"
    )]
    Signature(String),
    #[error("the request is for miner {got}, not {expected}")]
    MinerHotkey { expected: String, got: String },
}

impl Refusal {
    /// fiber's name of the check that refused: `headers`, `nonce`, `signature` or `miner_hotkey`.
    pub fn check(&self) -> &'static str {
        match self {
            Refusal::MissingHeader(_) => "headers",
            Refusal::Nonce(_) => "nonce",
            Refusal::Signature(_) => "signature",
            Refusal::MinerHotkey { .. } => "miner_hotkey",
        }
    }
}

/// Nonces of accepted requests, each with its timestamp (ns).
#[derive(Debug, Default)]
pub struct NonceStore(Mutex<HashMap<String, i128>>);

impl NonceStore {
    fn is_valid(&self, nonce: &str, now_ns: i128) -> bool {
        let seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains_key(nonce) {
            return false;
        }
        match nonce_time(nonce) {
            Some(issued) => now_ns - issued <= NONCE_WINDOW_NS && issued - now_ns <= NONCE_WINDOW_NS,
            None => false,
        }
    }

    /// Records an accepted nonce; `false` when a concurrent request with it was accepted first.
    fn remember(&self, nonce: &str, now_ns: i128) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|_, issued| now_ns - *issued <= NONCE_WINDOW_NS);
        match nonce_time(nonce) {
            Some(issued) => seen.insert(nonce.to_owned(), issued).is_none(),
            None => false,
        }
    }

    /// How many nonces are remembered.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The integer before the first `_`, as Python's `int()` reads it (surrounding blanks and a sign);
/// like fiber, a timestamp past 10^20 ns is malformed.
fn nonce_time(nonce: &str) -> Option<i128> {
    let head = nonce.split('_').next()?.trim();
    let digits = head.strip_prefix(['+', '-']).unwrap_or(head);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let time = head.parse::<i128>().ok()?;
    (time <= 100_000_000_000_000_000_000).then_some(time)
}

/// The current time in ns since the Unix epoch.
pub fn now_ns() -> i128 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i128::try_from(now.as_nanos()).unwrap_or(i128::MAX)
}

/// Checks a signed request received by miner `me` at `now_ns`, as fiber does; on success remembers its
/// nonce and returns the validator's SS58 hotkey.
pub fn verify(
    header: impl Fn(&'static str) -> Option<String>,
    payload: Payload<'_>,
    me: &str,
    nonces: &NonceStore,
    now_ns: i128,
) -> Result<String, Refusal> {
    let get = |name: &'static str| header(name).ok_or(Refusal::MissingHeader(name));
    let (validator, miner, nonce, signature) =
        (get(VALIDATOR_HOTKEY)?, get(MINER_HOTKEY)?, get(NONCE)?, get(SIGNATURE)?);
    if !nonces.is_valid(&nonce, now_ns) {
        return Err(Refusal::Nonce(nonce));
    }
    let message = signing_message(&nonce, &miner, payload);
    if !signature_verifies(&validator, &signature, &message) {
        return Err(Refusal::Signature(validator));
    }
    if miner != me {
        return Err(Refusal::MinerHotkey { expected: me.to_owned(), got: miner });
    }
    if !nonces.remember(&nonce, now_ns) {
        return Err(Refusal::Nonce(nonce));
    }
    Ok(validator)
}

/// substrate-interface's `Keypair.verify` for sr25519: the message, or else `<Bytes>message</Bytes>`.
fn signature_verifies(validator: &str, signature: &str, message: &str) -> bool {
    let Ok(public) = ss58_decode(validator) else { return false };
    let Ok(public) = PublicKey::from_bytes(&public) else { return false };
    let raw = signature.strip_prefix("0x").and_then(decode_hex).filter(|b| b.len() == 64);
    let Some(signature) = raw.and_then(|b| Signature::from_bytes(&b).ok()) else { return false };
    let context = signing_context(CONTEXT);
    let wrapped = format!("<Bytes>{message}</Bytes>");
    public.verify(context.bytes(message.as_bytes()), &signature).is_ok()
        || public.verify(context.bytes(wrapped.as_bytes()), &signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::miners::signing::ValidatorKey;

    const ALICE_SEED: &str = "0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a";
    const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    const MINER: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

    fn lookup(h: [(&'static str, String); 4]) -> impl Fn(&'static str) -> Option<String> {
        move |name| h.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn signed_headers_verify_once_and_tampering_does_not() {
        let key = ValidatorKey::from_seed_hex(ALICE_SEED).unwrap();
        let headers = key.headers(MINER, Payload::None);
        let nonces = NonceStore::default();
        assert_eq!(verify(lookup(headers.clone()), Payload::None, MINER, &nonces, now_ns()), Ok(ALICE.to_owned()));
        assert_eq!(
            verify(lookup(headers.clone()), Payload::None, MINER, &nonces, now_ns()).unwrap_err().check(),
            "nonce"
        );

        let fresh = NonceStore::default();
        let refused = |h, payload, me, at| verify(lookup(h), payload, me, &fresh, at).unwrap_err().check();
        assert_eq!(refused(headers.clone(), Payload::Body(b""), MINER, now_ns()), "signature");
        assert_eq!(refused(headers.clone(), Payload::None, ALICE, now_ns()), "miner_hotkey");
        assert_eq!(refused(headers.clone(), Payload::None, MINER, now_ns() + 2 * NONCE_WINDOW_NS), "nonce");
        let mut missing = headers;
        missing[3].0 = "x-signature";
        assert_eq!(
            verify(lookup(missing), Payload::None, MINER, &fresh, now_ns()),
            Err(Refusal::MissingHeader("signature"))
        );
        assert!(fresh.is_empty(), "refused requests leave no nonce behind");
    }

    #[test]
    fn a_post_verifies_over_its_exact_body() {
        let key = ValidatorKey::from_seed_hex(ALICE_SEED).unwrap();
        let body = br#"{"a": 1}"#;
        let headers = key.headers(MINER, Payload::Body(body));
        let nonces = NonceStore::default();
        let refused = verify(lookup(headers.clone()), Payload::Body(br#"{"a":1}"#), MINER, &nonces, now_ns());
        assert_eq!(refused.unwrap_err().check(), "signature");
        assert!(verify(lookup(headers), Payload::Body(body), MINER, &nonces, now_ns()).is_ok());
    }

    #[test]
    fn remembered_nonces_are_dropped_once_outside_the_window() {
        let key = ValidatorKey::from_seed_hex(ALICE_SEED).unwrap();
        let nonces = NonceStore::default();
        let start = now_ns();
        verify(lookup(key.headers(MINER, Payload::None)), Payload::None, MINER, &nonces, start).unwrap();
        assert_eq!(nonces.len(), 1);
        let later = start + 3 * NONCE_WINDOW_NS;
        let signed = key.sign(&format!("{later}_abcdefghij"), MINER, Payload::None);
        verify(lookup(signed.headers), Payload::None, MINER, &nonces, later).unwrap();
        assert_eq!(nonces.len(), 1, "the first nonce is out of the window and forgotten");
    }

    #[test]
    fn nonce_times_read_like_python_int() {
        assert_eq!(nonce_time("12_ab"), Some(12));
        assert_eq!(nonce_time("12"), Some(12));
        assert_eq!(nonce_time(" +12 _x"), Some(12));
        assert_eq!(nonce_time("-12_x"), Some(-12));
        assert_eq!(nonce_time("12OO_x"), None);
        assert_eq!(nonce_time("_x"), None);
        assert_eq!(nonce_time("+-1_x"), None);
        assert_eq!(nonce_time("++1_x"), None);
        assert_eq!(nonce_time("1 2_x"), None);
        assert_eq!(nonce_time("100000000000000000001_x"), None);
    }
}
