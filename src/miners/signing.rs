//! Signed requests to miners (miner-contract.md §1), exactly as fiber 2.4.0 signs them (the version
//! the reference pins): the headers `validator-hotkey`, `miner-hotkey`, `nonce` and `signature`, where
//! `signature` is `0x` + the lowercase hex of an sr25519 signature (signing context `substrate`) over
//! the UTF-8 message
//!
//! * GET: `{nonce}:{miner_hotkey}` (no payload hash);
//! * POST: `{nonce}:{miner_hotkey}:{sha256 hex of the exact body bytes sent}`.
//!
//! The nonce is `{unix time in ns}_{10 random letters and digits}`; the URL path is not signed. The
//! miner's side of the check is [`super::verify`].
//!
//! Keys: a 32-byte secret seed (hex, `0x` optional), expanded like Substrate's; addresses are SS58
//! with the generic prefix 42 that Bittensor uses.

use blake2::{Blake2b512, Digest};
use rand::RngExt;
use schnorrkel::{ExpansionMode, Keypair, MiniSecretKey, signing_context};
use sha2::Sha256;

pub const VALIDATOR_HOTKEY: &str = "validator-hotkey";
pub const MINER_HOTKEY: &str = "miner-hotkey";
pub const NONCE: &str = "nonce";
pub const SIGNATURE: &str = "signature";

pub(super) const CONTEXT: &[u8] = b"substrate";
const SS58_PREFIX: u8 = 42;
/// Letters and digits of a nonce's random suffix, as fiber draws them.
const NONCE_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error("the key must be a 32-byte secret seed in hex (64 hex digits, 0x optional)")]
    BadSeed,
    #[error("{0:?} is not an SS58 address with prefix 42")]
    BadAddress(String),
}

/// What a signed request carries beside its headers: a GET's nothing, a POST's exact body bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    /// A GET: the message has no payload hash.
    None,
    /// A POST: the message ends with the sha256 of these bytes, exactly as sent.
    Body(&'a [u8]),
}

/// The message a request's signature covers.
pub fn signing_message(nonce: &str, miner_hotkey: &str, payload: Payload<'_>) -> String {
    match payload {
        Payload::None => format!("{nonce}:{miner_hotkey}"),
        Payload::Body(body) => format!("{nonce}:{miner_hotkey}:{}", encode_hex(&Sha256::digest(body))),
    }
}

/// A signed request's headers, and the message that was signed (for audits and tests).
#[derive(Debug, Clone)]
pub struct Signed {
    pub headers: [(&'static str, String); 4],
    pub message: String,
}

/// The validator's hotkey: signs requests.
pub struct ValidatorKey {
    pair: Keypair,
    address: String,
}

impl std::fmt::Debug for ValidatorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatorKey").field("address", &self.address).finish_non_exhaustive()
    }
}

impl ValidatorKey {
    /// From a secret seed in hex.
    pub fn from_seed_hex(seed: &str) -> Result<Self, SigningError> {
        let hex = seed.trim().trim_start_matches("0x");
        let bytes = decode_hex(hex).filter(|b| b.len() == 32).ok_or(SigningError::BadSeed)?;
        let mini = MiniSecretKey::from_bytes(&bytes).map_err(|_| SigningError::BadSeed)?;
        let pair = mini.expand_to_keypair(ExpansionMode::Ed25519);
        let address = ss58_encode(&pair.public.to_bytes());
        Ok(Self { pair, address })
    }

    /// The SS58 address of this key.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The four headers of a request to `miner_hotkey`, with a fresh nonce.
    pub fn headers(&self, miner_hotkey: &str, payload: Payload<'_>) -> [(&'static str, String); 4] {
        self.sign(&fresh_nonce(), miner_hotkey, payload).headers
    }

    /// Signs a request to `miner_hotkey` under `nonce`.
    pub fn sign(&self, nonce: &str, miner_hotkey: &str, payload: Payload<'_>) -> Signed {
        let message = signing_message(nonce, miner_hotkey, payload);
        let signature = self.pair.sign(signing_context(CONTEXT).bytes(message.as_bytes()));
        let headers = [
            (VALIDATOR_HOTKEY, self.address.clone()),
            (MINER_HOTKEY, miner_hotkey.to_owned()),
            (NONCE, nonce.to_owned()),
            (SIGNATURE, format!("0x{}", encode_hex(&signature.to_bytes()))),
        ];
        Signed { headers, message }
    }
}

/// `{unix time in ns}_{10 random letters and digits}`, as fiber makes them.
pub fn fresh_nonce() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut rng = rand::rng();
    let suffix: String =
        (0..10).map(|_| char::from(NONCE_ALPHABET[rng.random_range(0..NONCE_ALPHABET.len())])).collect();
    format!("{}_{suffix}", now.as_nanos())
}

/// SS58 with prefix 42: base58 of prefix, key and the first two bytes of blake2b-512("SS58PRE" ‖ both).
pub fn ss58_encode(public: &[u8; 32]) -> String {
    let mut data = vec![SS58_PREFIX];
    data.extend_from_slice(public);
    let checksum = Blake2b512::new().chain_update(b"SS58PRE").chain_update(&data).finalize();
    data.extend_from_slice(&checksum[..2]);
    bs58::encode(data).into_string()
}

pub fn ss58_decode(address: &str) -> Result<[u8; 32], SigningError> {
    let bad = || SigningError::BadAddress(address.to_owned());
    let data = bs58::decode(address).into_vec().map_err(|_| bad())?;
    if data.len() != 35 || data[0] != SS58_PREFIX {
        return Err(bad());
    }
    let checksum = Blake2b512::new().chain_update(b"SS58PRE").chain_update(&data[..33]).finalize();
    if checksum[..2] != data[33..] {
        return Err(bad());
    }
    data[1..33].try_into().map_err(|_| bad())
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex in either case, as Python's `bytes.fromhex` reads it (without its whitespace tolerance).
pub(super) fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The well-known development key `//Alice`.
    const ALICE_SEED: &str = "0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a";
    const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    const MINER: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

    #[test]
    fn a_seed_gives_the_substrate_address() {
        let key = ValidatorKey::from_seed_hex(ALICE_SEED).unwrap();
        assert_eq!(key.address(), ALICE);
        assert_eq!(ss58_encode(&ss58_decode(ALICE).unwrap()), ALICE);
        assert!(ss58_decode("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ").is_err());
        assert_eq!(ValidatorKey::from_seed_hex("abcd").unwrap_err(), SigningError::BadSeed);
    }

    #[test]
    fn a_get_signs_nonce_and_miner_and_a_post_adds_the_body_hash() {
        assert_eq!(signing_message("1_a", MINER, Payload::None), format!("1_a:{MINER}"));
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(signing_message("1_a", MINER, Payload::Body(b"")), format!("1_a:{MINER}:{empty}"));
    }

    #[test]
    fn fresh_nonces_have_fibers_shape() {
        let nonce = fresh_nonce();
        let (time, suffix) = nonce.split_once('_').unwrap();
        assert!(time.parse::<u128>().is_ok(), "{nonce}");
        assert_eq!(suffix.len(), 10);
        assert!(suffix.bytes().all(|b| b.is_ascii_alphanumeric()), "{nonce}");
        assert_ne!(fresh_nonce(), fresh_nonce());
    }

    #[test]
    fn signatures_are_0x_and_lowercase_hex() {
        let key = ValidatorKey::from_seed_hex(ALICE_SEED).unwrap();
        let signed = key.sign("1_a", MINER, Payload::None);
        let signature = &signed.headers[3].1;
        assert!(signature.starts_with("0x") && signature.len() == 130, "{signature}");
        assert!(signature[2..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(signed.message, format!("1_a:{MINER}"));
    }
}
