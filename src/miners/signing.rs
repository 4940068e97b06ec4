//! Signed requests to miners (miner-contract.md §1), Epistula/fiber style: the headers
//! `validator-hotkey`, `miner-hotkey`, `nonce` and `signature`, where `signature` is `0x` + the hex of
//! an sr25519 signature (signing context `substrate`, as every Substrate key signs) over the message
//! `{nonce}:{miner_hotkey}:{sha256 hex of the body}`; a GET's body is empty. The nonce is
//! `{unix time in ns}_{random hex}`, so a miner can refuse stale or repeated ones.
//!
//! Keys: a 32-byte secret seed (hex, `0x` optional), expanded like Substrate's; addresses are SS58
//! with the generic prefix 42 that Bittensor uses.

use blake2::{Blake2b512, Digest};
use rand::RngExt;
use schnorrkel::{ExpansionMode, Keypair, MiniSecretKey, PublicKey, Signature, signing_context};
use sha2::Sha256;

pub const VALIDATOR_HOTKEY: &str = "validator-hotkey";
pub const MINER_HOTKEY: &str = "miner-hotkey";
pub const NONCE: &str = "nonce";
pub const SIGNATURE: &str = "signature";

const CONTEXT: &[u8] = b"substrate";
const SS58_PREFIX: u8 = 42;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error("the key must be a 32-byte secret seed in hex (64 hex digits, 0x optional)")]
    BadSeed,
    #[error("{0:?} is not an SS58 address with prefix 42")]
    BadAddress(String),
    #[error("missing header `{0}`")]
    MissingHeader(&'static str),
    #[error("the signature is not 0x and 128 hex digits")]
    BadSignatureFormat,
    #[error("the signature does not verify for {0}")]
    WrongSignature(String),
    #[error("the request is for miner {got}, not {expected}")]
    WrongMiner { expected: String, got: String },
    #[error("the nonce is malformed, older than {0} s, or from the future")]
    StaleNonce(u64),
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

    /// The four headers of a request to `miner_hotkey` carrying `body`.
    pub fn headers(&self, miner_hotkey: &str, body: &[u8]) -> [(&'static str, String); 4] {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let random: u64 = rand::rng().random();
        let nonce = format!("{}_{random:016x}", now.as_nanos());
        let message = signing_message(&nonce, miner_hotkey, body);
        let signature = self.pair.sign(signing_context(CONTEXT).bytes(message.as_bytes()));
        [
            (VALIDATOR_HOTKEY, self.address.clone()),
            (MINER_HOTKEY, miner_hotkey.to_owned()),
            (NONCE, nonce),
            (SIGNATURE, format!("0x{}", encode_hex(&signature.to_bytes()))),
        ]
    }
}

/// `{nonce}:{miner_hotkey}:{sha256 hex of body}`.
pub fn signing_message(nonce: &str, miner_hotkey: &str, body: &[u8]) -> String {
    format!("{nonce}:{miner_hotkey}:{}", encode_hex(&Sha256::digest(body)))
}

/// Checks a signed request as a miner would: meant for `me`, a fresh nonce (at most `max_age_secs` old
/// at `now_ns`), and a valid signature by the validator it names. Returns that validator's address.
pub fn verify(
    header: impl Fn(&'static str) -> Option<String>,
    me: &str,
    body: &[u8],
    now_ns: u128,
    max_age_secs: u64,
) -> Result<String, SigningError> {
    let get = |name: &'static str| header(name).ok_or(SigningError::MissingHeader(name));
    let (validator, miner, nonce, signature) =
        (get(VALIDATOR_HOTKEY)?, get(MINER_HOTKEY)?, get(NONCE)?, get(SIGNATURE)?);
    if miner != me {
        return Err(SigningError::WrongMiner { expected: me.to_owned(), got: miner });
    }
    let issued: u128 =
        nonce.split('_').next().and_then(|t| t.parse().ok()).ok_or(SigningError::StaleNonce(max_age_secs))?;
    let window = u128::from(max_age_secs) * 1_000_000_000;
    if issued + window < now_ns || issued > now_ns + window {
        return Err(SigningError::StaleNonce(max_age_secs));
    }
    let raw = signature.strip_prefix("0x").and_then(decode_hex).filter(|b| b.len() == 64);
    let signature = raw.and_then(|b| Signature::from_bytes(&b).ok()).ok_or(SigningError::BadSignatureFormat)?;
    let public =
        PublicKey::from_bytes(&ss58_decode(&validator)?).map_err(|_| SigningError::BadAddress(validator.clone()))?;
    let message = signing_message(&nonce, &miner, body);
    public
        .verify(signing_context(CONTEXT).bytes(message.as_bytes()), &signature)
        .map_err(|_| SigningError::WrongSignature(validator.clone()))?;
    Ok(validator)
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

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
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

    fn now() -> u128 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    }

    #[test]
    fn a_seed_gives_the_substrate_address() {
        let key = ValidatorKey::from_seed_hex(ALICE_SEED).unwrap();
        assert_eq!(key.address(), ALICE);
        assert_eq!(ss58_encode(&ss58_decode(ALICE).unwrap()), ALICE);
        assert!(ss58_decode("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ").is_err());
        assert_eq!(ValidatorKey::from_seed_hex("abcd").unwrap_err(), SigningError::BadSeed);
    }

    #[test]
    fn signed_headers_verify_and_tampering_does_not() {
        let key = ValidatorKey::from_seed_hex(ALICE_SEED).unwrap();
        let headers = key.headers(MINER, b"");
        let lookup = |h: [(&'static str, String); 4]| {
            move |name: &'static str| h.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
        };
        assert_eq!(verify(lookup(headers.clone()), MINER, b"", now(), 60), Ok(ALICE.to_owned()));
        assert!(matches!(
            verify(lookup(headers.clone()), MINER, b"body", now(), 60),
            Err(SigningError::WrongSignature(_))
        ));
        assert!(matches!(verify(lookup(headers.clone()), ALICE, b"", now(), 60), Err(SigningError::WrongMiner { .. })));
        assert_eq!(
            verify(lookup(headers.clone()), MINER, b"", now() + 120_000_000_000, 60),
            Err(SigningError::StaleNonce(60))
        );
        let mut forged = headers.clone();
        forged[2].1 = format!("{}_0", now());
        assert!(matches!(verify(lookup(forged), MINER, b"", now(), 60), Err(SigningError::WrongSignature(_))));
        let mut missing = headers;
        missing[3].0 = "x-signature";
        assert_eq!(verify(lookup(missing), MINER, b"", now(), 60), Err(SigningError::MissingHeader("signature")));
    }
}
