//! Identifiers and validated names of the tournament world.
//!
//! Every id is a newtype built by parsing, so a malformed id is rejected at the edge and never travels
//! through the system as a raw string. The formats follow the reference (tournament-rules.md §1).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid id of some kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {reason}")]
pub struct IdError {
    pub kind: &'static str,
    pub value: String,
    pub reason: &'static str,
}

fn id_error(kind: &'static str, value: &str, reason: &'static str) -> IdError {
    IdError { kind, value: value.to_owned(), reason }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses and validates the id.
            pub fn parse(value: &str) -> Result<Self, IdError> {
                let check: fn(&str) -> Result<(), &'static str> = $check;
                check(value).map_err(|reason| id_error($kind, value, reason))?;
                Ok(Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(value: &str) -> Result<Self, IdError> {
                Self::parse(value)
            }
        }
    };
}

const BASE58: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

string_id!(
    /// A miner's (or the house's) SS58 hotkey: base58, 8 to 64 characters.
    Hotkey,
    "hotkey",
    |s| {
        if !(8..=64).contains(&s.len()) {
            return Err("must be 8 to 64 characters");
        }
        if !s.chars().all(|c| BASE58.contains(c)) {
            return Err("must be base58 (SS58 address)");
        }
        Ok(())
    }
);

string_id!(
    /// A coldkey: same shape as a hotkey.
    Coldkey,
    "coldkey",
    |s| Hotkey::parse(s).map(|_| ()).map_err(|e| e.reason)
);

string_id!(
    /// `tourn_<16 lowercase hex>_<YYYYMMDD>`.
    TournamentId,
    "tournament id",
    |s| {
        let rest = s.strip_prefix("tourn_").ok_or("must start with tourn_")?;
        let (hex, date) = rest.split_once('_').ok_or("must be tourn_<16 hex>_<YYYYMMDD>")?;
        if hex.len() != 16 || !hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) {
            return Err("middle part must be 16 lowercase hex digits");
        }
        if date.len() != 8 || !date.chars().all(|c| c.is_ascii_digit()) {
            return Err("date part must be YYYYMMDD");
        }
        Ok(())
    }
);

string_id!(
    /// A task id: 1 to 64 characters of `[A-Za-z0-9_-]` (the reference uses UUIDs).
    TaskId,
    "task id",
    |s| {
        if s.is_empty() || s.len() > 64 {
            return Err("must be 1 to 64 characters");
        }
        if !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err("may hold only letters, digits, '-' and '_'");
        }
        Ok(())
    }
);

string_id!(
    /// A trainer node's id (`gpu-1`, `local`, `sim-node-01`, `127.0.0.1-8001`): 1 to 128 visible ASCII
    /// characters without `/`.
    NodeId,
    "node id",
    |s| {
        if s.is_empty() || s.len() > 128 {
            return Err("must be 1 to 128 characters");
        }
        if !s.chars().all(|c| c.is_ascii_graphic() && c != '/') {
            return Err("may hold only visible ASCII characters other than '/'");
        }
        Ok(())
    }
);

impl PartialEq<&str> for NodeId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl NodeId {
    /// `local`: the one node of a host that trains its own work (a validator's `local` executor, the
    /// placement a trainer node gives the jobs it is sent).
    pub fn local() -> Self {
        Self("local".to_owned())
    }
}

/// One training: a miner's on one task. Written `<task>/<hotkey>` where it is stored as a GPU's holder.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrainingKey {
    pub task: TaskId,
    pub hotkey: Hotkey,
}

impl TrainingKey {
    pub fn new(task: TaskId, hotkey: Hotkey) -> Self {
        Self { task, hotkey }
    }

    /// Parses `<task>/<hotkey>`.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        let (task, hotkey) =
            value.split_once('/').ok_or_else(|| id_error("training key", value, "must be <task>/<hotkey>"))?;
        Ok(Self { task: TaskId::parse(task)?, hotkey: Hotkey::parse(hotkey)? })
    }
}

impl fmt::Display for TrainingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.task, self.hotkey)
    }
}

impl TryFrom<String> for TrainingKey {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        Self::parse(&value)
    }
}

impl std::str::FromStr for TrainingKey {
    type Err = IdError;
    fn from_str(value: &str) -> Result<Self, IdError> {
        Self::parse(value)
    }
}

impl From<TrainingKey> for String {
    fn from(key: TrainingKey) -> String {
        key.to_string()
    }
}

impl Hotkey {
    /// A well-formed 48-character SS58-looking hotkey numbered `n`: for simulated miners and tests.
    pub fn synthetic(n: u64) -> Self {
        // Eleven base58 digits hold any u64; least significant first, so short prefixes differ.
        let alphabet = BASE58.as_bytes();
        let mut rest = n;
        let digits: String = (0..11)
            .map(|_| {
                let d = alphabet[(rest % 58) as usize] as char;
                rest /= 58;
                d
            })
            .collect();
        Self(format!("5{digits}Sim{}", "x".repeat(33)))
    }
}

impl Coldkey {
    /// A well-formed coldkey numbered `n`, for simulated miners and tests.
    pub fn synthetic(n: u64) -> Self {
        Self(Hotkey::synthetic(n).0)
    }
}

impl TaskId {
    /// A UUID-shaped id derived from `key` (stable across runs and platforms), like the reference's ids.
    pub fn derived(key: &str) -> Self {
        let (a, b) = (stable_hash(key.as_bytes()), stable_hash(format!("{key}#").as_bytes()));
        Self(format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        ))
    }
}

impl TournamentId {
    /// Builds the id from 64 random bits and the creation date (UTC), as `tourn_<hex>_<YYYYMMDD>`.
    pub fn new(random: u64, year: i32, month: u32, day: u32) -> Self {
        Self(format!("tourn_{random:016x}_{year:04}{month:02}{day:02}"))
    }

    /// The id of round `number` (1-based): `<tournament_id>_round_<NNN>`.
    pub fn round(&self, number: u32) -> RoundId {
        RoundId(format!("{}_round_{number:03}", self.0))
    }
}

/// `<tournament_id>_round_<NNN>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoundId(String);

impl RoundId {
    pub fn parse(value: &str) -> Result<Self, IdError> {
        let (tournament, number) = value
            .rsplit_once("_round_")
            .ok_or_else(|| id_error("round id", value, "must be <tournament id>_round_<NNN>"))?;
        TournamentId::parse(tournament)
            .map_err(|_| id_error("round id", value, "tournament part is not a tournament id"))?;
        if number.len() < 3 || number.parse::<u32>().map_or(true, |n| n == 0) {
            return Err(id_error("round id", value, "round number must be 001 or more"));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `<round_id>_group_<NNN>` (1-based).
    pub fn group(&self, number: u32) -> String {
        format!("{}_group_{number:03}", self.0)
    }

    /// `<round_id>_pair_<NNN>` (1-based).
    pub fn pair(&self, number: u32) -> String {
        format!("{}_pair_{number:03}", self.0)
    }
}

impl fmt::Display for RoundId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name a miner's trained model must carry:
/// `tournament-<tournament_id>-<task_id>-<first 8 chars of hotkey>`.
pub fn expected_repo_name(tournament: &TournamentId, task: &TaskId, hotkey: &Hotkey) -> String {
    let prefix: String = hotkey.as_str().chars().take(8).collect();
    format!("tournament-{tournament}-{task}-{prefix}")
}

/// A 64-bit FNV-1a hash: stable across platforms and versions, used to derive audit-able seeds.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The seed of round `number` of a tournament: derived from the id, so any round can be re-derived.
pub fn round_seed(tournament: &TournamentId, number: u32) -> u64 {
    stable_hash(format!("{tournament}/round/{number}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUSE: &str = "5GU4Xkd3dCGTU3s8VLcHGc5wsD5M8XyxDca5yDQhYm1mVXFu";

    #[test]
    fn ids_parse_and_reject() {
        assert!(Hotkey::parse(HOUSE).is_ok());
        assert!(Hotkey::parse("0OIl-bad").is_err());
        assert!(Hotkey::parse("short").is_err());
        let t = TournamentId::parse("tourn_0123456789abcdef_20261125").unwrap();
        assert_eq!(t, TournamentId::new(0x0123_4567_89ab_cdef, 2026, 11, 25));
        for bad in [
            "tourn_0123456789ABCDEF_20261125",
            "tourn_0123_20261125",
            "x_0123456789abcdef_20261125",
            "tourn_0123456789abcdef_2026112",
        ] {
            assert!(TournamentId::parse(bad).is_err(), "{bad}");
        }
        assert!(TaskId::parse("8c5e-11_aa").is_ok());
        assert!(TaskId::parse("a b").is_err());
        assert!(TaskId::parse("").is_err());
    }

    #[test]
    fn round_and_bracket_ids_follow_the_reference_format() {
        let t = TournamentId::parse("tourn_0123456789abcdef_20261125").unwrap();
        let r = t.round(2);
        assert_eq!(r.as_str(), "tourn_0123456789abcdef_20261125_round_002");
        assert_eq!(RoundId::parse(r.as_str()).unwrap(), r);
        assert_eq!(r.group(1), "tourn_0123456789abcdef_20261125_round_002_group_001");
        assert_eq!(r.pair(12), "tourn_0123456789abcdef_20261125_round_002_pair_012");
        assert!(RoundId::parse("tourn_0123456789abcdef_20261125_round_000").is_err());
    }

    #[test]
    fn expected_repo_name_uses_eight_hotkey_chars() {
        let t = TournamentId::parse("tourn_0123456789abcdef_20261125").unwrap();
        let task = TaskId::parse("task-1").unwrap();
        let h = Hotkey::parse(HOUSE).unwrap();
        assert_eq!(expected_repo_name(&t, &task, &h), "tournament-tourn_0123456789abcdef_20261125-task-1-5GU4Xkd3");
    }

    #[test]
    fn synthetic_hotkeys_are_valid_and_distinct() {
        let a = Hotkey::synthetic(0);
        assert_eq!(Hotkey::parse(a.as_str()).unwrap(), a);
        assert_eq!(a.as_str().len(), 48);
        assert_ne!(Hotkey::synthetic(57), Hotkey::synthetic(58));
        assert!(Hotkey::parse(Hotkey::synthetic(u64::MAX).as_str()).is_ok());
    }

    #[test]
    fn round_seed_is_stable() {
        let t = TournamentId::parse("tourn_0123456789abcdef_20261125").unwrap();
        assert_eq!(round_seed(&t, 1), round_seed(&t, 1));
        assert_ne!(round_seed(&t, 1), round_seed(&t, 2));
        assert_eq!(stable_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn a_training_key_is_task_slash_hotkey_both_ways() {
        let key = TrainingKey::new(TaskId::parse("task-1").unwrap(), Hotkey::synthetic(3));
        let text = key.to_string();
        assert_eq!(text, format!("task-1/{}", Hotkey::synthetic(3)));
        assert_eq!(TrainingKey::parse(&text).unwrap(), key);
        assert_eq!(serde_json::to_value(&key).unwrap(), serde_json::json!(text));
        for (bad, kind) in
            [("task-1", "training key"), ("task-1/short", "hotkey"), ("/x", "task id"), ("a b/c", "task id")]
        {
            let e = TrainingKey::parse(bad).unwrap_err();
            assert_eq!(e.kind, kind, "the error names the part that is wrong: {e}");
        }
    }

    #[test]
    fn node_ids_are_visible_ascii_without_slashes() {
        for good in ["gpu-1", "local", "127.0.0.1-8001", "sim-node-01"] {
            assert_eq!(NodeId::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", "a/b", "with space", "é", &"x".repeat(129)] {
            assert!(NodeId::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(NodeId::local(), "local");
    }
}
