//! The miner directory's sources: who the miners are (hotkey, coldkey, address, stake). A file
//! (`config/miners.toml`) now; a Bittensor metagraph source implements the same trait later. `sync`
//! makes the stored directory equal to what a source says.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::domain::{Coldkey, Hotkey};
use crate::store::{Miner, Store, StoreError};

/// One miner as a source lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct MinerEntry {
    pub hotkey: Hotkey,
    pub coldkey: Coldkey,
    /// `host:port` of the miner's server.
    pub address: String,
    pub stake: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("cannot read the miner directory {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("miner directory {path}, miner {index}: {reason}")]
    BadEntry { path: String, index: usize, reason: String },
}

/// Where the directory comes from.
pub trait DirectorySource {
    /// A name for logs: a file path, a subnet.
    fn describe(&self) -> String;
    /// The whole directory as the source knows it now.
    fn load(&self) -> Result<Vec<MinerEntry>, DirectoryError>;
}

/// A TOML file of `[[miner]]` tables with `hotkey`, `coldkey`, `address` and `stake`.
pub struct FileDirectory {
    pub path: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MinersFile {
    #[serde(default)]
    miner: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    hotkey: String,
    coldkey: String,
    address: String,
    #[serde(default)]
    stake: f64,
}

impl DirectorySource for FileDirectory {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn load(&self) -> Result<Vec<MinerEntry>, DirectoryError> {
        parse_file(&self.path)
    }
}

fn parse_file(path: &Path) -> Result<Vec<MinerEntry>, DirectoryError> {
    use figment::Figment;
    use figment::providers::{Format, Toml};
    let shown = path.display().to_string();
    if !path.is_file() {
        return Err(DirectoryError::Unreadable { path: shown, reason: "no such file".into() });
    }
    let file: MinersFile = Figment::from(Toml::file_exact(path))
        .extract()
        .map_err(|e| DirectoryError::Unreadable { path: shown.clone(), reason: e.to_string() })?;
    let mut seen = HashSet::new();
    file.miner
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let bad = |reason: String| DirectoryError::BadEntry { path: shown.clone(), index: i + 1, reason };
            let hotkey = Hotkey::parse(&raw.hotkey).map_err(|e| bad(e.to_string()))?;
            let coldkey = Coldkey::parse(&raw.coldkey).map_err(|e| bad(e.to_string()))?;
            if !seen.insert(hotkey.clone()) {
                return Err(bad(format!("hotkey {hotkey} is listed twice")));
            }
            valid_address(&raw.address).map_err(|reason| bad(format!("address {:?}: {reason}", raw.address)))?;
            if !raw.stake.is_finite() || raw.stake < 0.0 {
                return Err(bad(format!("stake {} must be a non-negative number", raw.stake)));
            }
            Ok(MinerEntry { hotkey, coldkey, address: raw.address, stake: raw.stake })
        })
        .collect()
}

/// `host:port` with a port from 1 to 65535.
pub fn valid_address(address: &str) -> Result<(), &'static str> {
    let (host, port) = address.rsplit_once(':').ok_or("must be host:port")?;
    if host.is_empty() || host.contains('/') || host.contains(' ') {
        return Err("the host is missing or malformed");
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err("the port must be 1 to 65535"),
    }
}

/// What a sync changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSummary {
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
}

/// Makes the stored directory equal to `entries`, in one transaction.
pub fn sync(store: &Store, entries: &[MinerEntry], at: DateTime<Utc>) -> Result<SyncSummary, StoreError> {
    store.transaction(|tx| {
        let stored = tx.list_miners()?;
        let mut summary = SyncSummary::default();
        for e in entries {
            let miner = Miner {
                hotkey: e.hotkey.clone(),
                coldkey: e.coldkey.clone(),
                address: e.address.clone(),
                stake: e.stake,
                updated_at: at,
            };
            match stored.iter().find(|m| m.hotkey == e.hotkey) {
                Some(m) if (&m.coldkey, &m.address, m.stake) == (&miner.coldkey, &miner.address, miner.stake) => {
                    continue;
                }
                Some(_) => summary.updated += 1,
                None => summary.added += 1,
            }
            tx.upsert_miner(&miner)?;
        }
        for gone in stored.iter().filter(|m| !entries.iter().any(|e| e.hotkey == m.hotkey)) {
            tx.remove_miner(&gone.hotkey)?;
            summary.removed += 1;
        }
        Ok(summary)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> (tempfile::TempDir, FileDirectory) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("miners.toml");
        std::fs::write(&path, text).unwrap();
        (dir, FileDirectory { path })
    }

    fn entry(n: u64) -> String {
        format!(
            "[[miner]]\nhotkey = \"{}\"\ncoldkey = \"{}\"\naddress = \"127.0.0.1:{}\"\nstake = {}.5\n",
            Hotkey::synthetic(n),
            Coldkey::synthetic(n),
            9000 + n,
            n
        )
    }

    #[test]
    fn a_directory_file_loads() {
        let (_dir, source) = file(&(entry(1) + &entry(2)));
        let miners = source.load().unwrap();
        assert_eq!(miners.len(), 2);
        assert_eq!(
            miners[1],
            MinerEntry {
                hotkey: Hotkey::synthetic(2),
                coldkey: Coldkey::synthetic(2),
                address: "127.0.0.1:9002".into(),
                stake: 2.5
            }
        );
    }

    #[test]
    fn bad_entries_are_named() {
        let cases = [
            (entry(1) + &entry(1), "miner 2: hotkey"),
            (entry(1).replace("127.0.0.1:9001", "127.0.0.1"), "miner 1: address \"127.0.0.1\": must be host:port"),
            (entry(1).replace("127.0.0.1:9001", "host:99999"), "the port must be 1 to 65535"),
            (entry(1).replace("stake = 1.5", "stake = -1.0"), "stake -1 must be a non-negative number"),
            (entry(1).replace(&Hotkey::synthetic(1).to_string(), "0OIl"), "miner 1: invalid hotkey"),
            (entry(1) + "colour = 3\n", "colour"),
        ];
        for (text, want) in cases {
            let (_dir, source) = file(&text);
            let err = source.load().unwrap_err().to_string();
            assert!(err.contains(want) && err.contains("miners.toml"), "{err}");
        }
        let example = FileDirectory { path: concat!(env!("CARGO_MANIFEST_DIR"), "/config/miners.toml").into() };
        assert_eq!(example.load().unwrap().len(), 2, "the example directory is valid");
        let missing = FileDirectory { path: "/nonexistent/miners.toml".into() };
        assert!(missing.load().unwrap_err().to_string().contains("/nonexistent/miners.toml"));
    }
}
