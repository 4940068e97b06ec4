//! Wire compatibility of signed pings, proven with requests signed by fiber 2.4.0's own code
//! (`tests/fixtures/fiber-signed-requests.json`, a copy of the vectors in the project's shared
//! folder): crucible's verifier decides every case as fiber's miner did, and crucible's signer signs,
//! for every accepted case, exactly the message fiber signed.

use std::collections::HashMap;

use crucible::miners::signing::{Payload, ValidatorKey, signing_message};
use crucible::miners::verify::{NonceStore, verify};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Vectors {
    base_time_ns: i128,
    nonce_window_ns: i128,
    keys: HashMap<String, Key>,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Key {
    mini_secret_seed: String,
    ss58: String,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    method: String,
    body: String,
    headers: HashMap<String, String>,
    receiving_miner_hotkey: String,
    expect: String,
    rejected_by: Option<String>,
    #[serde(default)]
    preceded_by: Vec<String>,
    verifier_message: String,
    validator_seed_uri: String,
}

impl Case {
    fn payload(&self) -> Payload<'_> {
        match self.method.as_str() {
            "GET" => Payload::None,
            "POST" => Payload::Body(self.body.as_bytes()),
            other => panic!("{}: unknown method {other}", self.name),
        }
    }

    fn header(&self) -> impl Fn(&'static str) -> Option<String> + '_ {
        |name| self.headers.get(name).cloned()
    }

    /// The case as this miner decides it: `Ok` or the name of the refusing check.
    fn decide(&self, nonces: &NonceStore, now_ns: i128) -> Result<String, &'static str> {
        verify(self.header(), self.payload(), &self.receiving_miner_hotkey, nonces, now_ns).map_err(|r| r.check())
    }
}

fn vectors() -> Vectors {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fiber-signed-requests.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_copied_vectors_are_the_shared_ones() {
    let ours = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fiber-signed-requests.json");
    let shared = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/fiber-signed-requests.json");
    if let Ok(theirs) = std::fs::read(shared) {
        assert_eq!(std::fs::read(ours).unwrap(), theirs, "tests/fixtures holds a stale copy of the vectors");
    }
}

#[test]
fn every_vector_is_decided_as_fiber_decided_it() {
    let vectors = vectors();
    assert_eq!(vectors.nonce_window_ns, crucible::miners::verify::NONCE_WINDOW_NS);
    assert_eq!(vectors.cases.len(), 31);
    let by_name: HashMap<&str, &Case> = vectors.cases.iter().map(|c| (c.name.as_str(), c)).collect();
    let mut accepted = 0;
    for case in &vectors.cases {
        let rebuilt = signing_message(&case.headers["nonce"], &case.headers["miner-hotkey"], case.payload());
        assert_eq!(rebuilt, case.verifier_message, "{}: the rebuilt message", case.name);

        let nonces = NonceStore::default();
        for earlier in &case.preceded_by {
            assert_eq!(by_name[earlier.as_str()].decide(&nonces, vectors.base_time_ns).map(drop), Ok(()), "{earlier}");
        }
        let decision = case.decide(&nonces, vectors.base_time_ns);
        match case.expect.as_str() {
            "accept" => {
                accepted += 1;
                assert_eq!(decision.as_deref(), Ok(case.headers["validator-hotkey"].as_str()), "{}", case.name);
            }
            "reject" => assert_eq!(decision.err(), case.rejected_by.as_deref(), "{}", case.name),
            other => panic!("{}: unknown expectation {other}", case.name),
        }
    }
    assert_eq!(accepted, 12);
}

#[test]
fn crucible_signs_what_fiber_signed_for_every_accepted_case() {
    let vectors = vectors();
    let mut checked = 0;
    for case in vectors.cases.iter().filter(|c| c.expect == "accept") {
        let key = &vectors.keys[&case.validator_seed_uri];
        let signer = ValidatorKey::from_seed_hex(&key.mini_secret_seed).unwrap();
        assert_eq!(signer.address(), key.ss58);
        let signed = signer.sign(&case.headers["nonce"], &case.receiving_miner_hotkey, case.payload());
        assert_eq!(signed.message, case.verifier_message, "{}", case.name);
        let headers: HashMap<&str, String> = signed.headers.iter().cloned().collect();
        for name in ["validator-hotkey", "miner-hotkey", "nonce"] {
            assert_eq!(headers[name], case.headers[name], "{}: header {name}", case.name);
        }
        let signature = &headers["signature"];
        assert!(signature.starts_with("0x") && signature[2..] == signature[2..].to_lowercase(), "{signature}");
        let decided = verify(
            |name| headers.get(name).cloned(),
            case.payload(),
            &case.receiving_miner_hotkey,
            &NonceStore::default(),
            vectors.base_time_ns,
        );
        assert_eq!(decided.as_deref(), Ok(key.ss58.as_str()), "{}", case.name);
        checked += 1;
    }
    assert_eq!(checked, 12);
}
