//! Which validators a miner answers, once a request's signature is checked ([`super::verify`]):
//!
//! * **stake** (the reference's policy, fiber's `blacklist_low_stake`): the validator's hotkey is in
//!   the metagraph with at least `min_stake`; otherwise 403 "Hotkey not found in metagraph" or
//!   "Insufficient stake of …". With no chain here, the metagraph is a TOML file of `[[node]]` entries
//!   (`hotkey`, `stake`) that the operator keeps current; it is read again whenever it changes.
//! * **allow-list**: the validator is one of the listed hotkeys; otherwise 403.
//!
//! As in fiber, the policy is checked before the signature, on the `validator-hotkey` header alone.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Deserialize;

use super::signing::ss58_decode;

/// fiber's default `MIN_STAKE_THRESHOLD`.
pub const DEFAULT_MIN_STAKE: f64 = 1_000.0;

#[derive(Debug)]
pub enum AccessPolicy {
    /// Validators listed by hotkey.
    AllowList(Vec<String>),
    /// Validators in the metagraph file with at least `min_stake`.
    Stake { metagraph: Metagraph, min_stake: f64 },
}

impl AccessPolicy {
    /// `Ok` when `validator` may be answered, else why not (sent with 403).
    pub fn admit(&self, validator: &str) -> Result<(), String> {
        match self {
            AccessPolicy::AllowList(listed) if listed.iter().any(|v| v == validator) => Ok(()),
            AccessPolicy::AllowList(_) => Err(format!("validator {validator} is not one this miner answers")),
            AccessPolicy::Stake { metagraph, min_stake } => match metagraph.stake(validator)? {
                None => Err("Hotkey not found in metagraph".into()),
                Some(stake) if stake < *min_stake => Err(format!("Insufficient stake of {stake} ")),
                Some(_) => Ok(()),
            },
        }
    }

    /// One line for the start-up log.
    pub fn describe(&self) -> String {
        match self {
            AccessPolicy::AllowList(listed) => format!("signed requests from {} listed validator(s)", listed.len()),
            AccessPolicy::Stake { metagraph, min_stake } => format!(
                "signed requests from validators with at least {min_stake} stake in the metagraph {}",
                metagraph.path.display()
            ),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetagraphFile {
    #[serde(default)]
    node: Vec<Node>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Node {
    hotkey: String,
    stake: f64,
}

/// What tells one version of the file from another: modification time and size.
type Version = (SystemTime, u64);

/// The metagraph file, read again when its modification time or size changes.
#[derive(Debug)]
pub struct Metagraph {
    path: PathBuf,
    cached: Mutex<(Option<Version>, HashMap<String, f64>)>,
}

impl Metagraph {
    /// Reads the file once to check it; a bad file is an error naming it.
    pub fn open(path: &Path) -> Result<Self, String> {
        let metagraph = Self { path: path.to_owned(), cached: Mutex::new((None, HashMap::new())) };
        metagraph.refresh()?;
        Ok(metagraph)
    }

    fn stake(&self, hotkey: &str) -> Result<Option<f64>, String> {
        self.refresh()?;
        Ok(self.cached.lock().unwrap_or_else(|p| p.into_inner()).1.get(hotkey).copied())
    }

    /// Re-reads the file when it changed. A file that became unreadable keeps the last good copy.
    fn refresh(&self) -> Result<(), String> {
        let shown = self.path.display();
        let modified = std::fs::metadata(&self.path).and_then(|m| Ok((m.modified()?, m.len()))).ok();
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if modified.is_some() && cached.0 == modified {
            return Ok(());
        }
        let read = std::fs::read_to_string(&self.path).map_err(|e| format!("metagraph {shown}: {e}"));
        let parsed = read.and_then(|text| parse(&text).map_err(|e| format!("metagraph {shown}: {e}")));
        match parsed {
            Ok(nodes) => *cached = (modified, nodes),
            Err(e) if cached.0.is_some() => tracing::warn!("{e}; keeping the metagraph read before"),
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

fn parse(text: &str) -> Result<HashMap<String, f64>, String> {
    use figment::providers::{Format, Toml};
    let file: MetagraphFile = figment::Figment::from(Toml::string(text)).extract().map_err(|e| e.to_string())?;
    let mut nodes = HashMap::new();
    for node in file.node {
        ss58_decode(&node.hotkey).map_err(|e| e.to_string())?;
        if !node.stake.is_finite() || node.stake < 0.0 {
            return Err(format!("node {}: stake must be a non-negative number", node.hotkey));
        }
        nodes.insert(node.hotkey, node.stake);
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
    const DAVE: &str = "5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy";

    #[test]
    fn stake_policy_admits_validators_with_enough_stake_and_follows_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metagraph.toml");
        let write = |text: String| std::fs::write(&path, text).unwrap();
        write(format!("[[node]]\nhotkey = \"{ALICE}\"\nstake = 1000.0\n[[node]]\nhotkey = \"{BOB}\"\nstake = 999.5\n"));
        let policy = AccessPolicy::Stake { metagraph: Metagraph::open(&path).unwrap(), min_stake: DEFAULT_MIN_STAKE };
        assert_eq!(policy.admit(ALICE), Ok(()));
        assert_eq!(policy.admit(BOB), Err("Insufficient stake of 999.5 ".into()));
        assert_eq!(policy.admit(DAVE), Err("Hotkey not found in metagraph".into()));

        let AccessPolicy::Stake { metagraph, .. } = &policy else { unreachable!() };
        metagraph.cached.lock().unwrap().0 = None;
        write(format!("[[node]]\nhotkey = \"{DAVE}\"\nstake = 5000.0\n"));
        assert_eq!(policy.admit(DAVE), Ok(()));
        assert!(policy.admit(ALICE).is_err());
        write("[[node]]\nhotkey = \"nope\"\nstake = 1.0\n".into());
        metagraph.cached.lock().unwrap().0 = Some((SystemTime::UNIX_EPOCH, 0));
        assert_eq!(policy.admit(DAVE), Ok(()), "a broken file keeps the last good metagraph");
    }

    #[test]
    fn a_bad_metagraph_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        std::fs::write(&path, "[[node]]\nhotkey = \"x\"\nstake = 1.0\n").unwrap();
        let error = Metagraph::open(&path).unwrap_err();
        assert!(error.contains("m.toml") && error.contains("\"x\""), "{error}");
        std::fs::write(&path, format!("[[node]]\nhotkey = \"{ALICE}\"\nstake = -1.0\n")).unwrap();
        assert!(Metagraph::open(&path).unwrap_err().contains("non-negative"));
        assert!(Metagraph::open(&dir.path().join("missing.toml")).unwrap_err().contains("missing.toml"));
    }

    #[test]
    fn allow_list_admits_only_the_listed() {
        let policy = AccessPolicy::AllowList(vec![ALICE.into()]);
        assert_eq!(policy.admit(ALICE), Ok(()));
        assert!(policy.admit(BOB).unwrap_err().contains(BOB));
    }
}
