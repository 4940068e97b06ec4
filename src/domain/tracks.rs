//! Tracks: named tournament lines that run at the same time, each with its type, schedule, fee, its own
//! champion lineage and its own share of the weights.
//!
//! `Rules::tracks` resolves them. `text` and `image` are the default tracks, configured as the reference's two types are
//! (`schedule.interval_hours`, `registration.*_fee_rao`, `weights.text`/`weights.image`); they are what
//! runs when `rules.tracks` is empty. A configured track names its type and may set its own interval,
//! fee and weight share; what it leaves out is its type's.

use serde::{Deserialize, Serialize};

use super::kinds::TournamentType;
use super::weights::{TrackShare, TypeWeightRules};

/// The longest track name; names appear in URLs, ids of stalls and logs.
pub const MAX_NAME_LEN: usize = 64;

/// One track as configured (`[[rules.tracks]]`): only `name` and `type` are required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackConfig {
    pub name: String,
    #[serde(rename = "type")]
    pub tournament_type: TournamentType,
    /// Hours from one tournament's completion to the next one's creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_hours: Option<f64>,
    /// The entry fee, in rao.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee_rao: Option<u64>,
    /// The track's weight share: its winner's base weight and the cap of its increase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<TypeWeightRules>,
}

/// A track with every value resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Track {
    pub name: String,
    pub tournament_type: TournamentType,
    pub interval_hours: f64,
    pub fee_rao: u64,
    pub weight: TypeWeightRules,
}

impl Track {
    /// Whether this is the default track of its type, the one the reference's per-type API shows.
    pub fn is_default(&self) -> bool {
        self.name == self.tournament_type.as_str()
    }
}

impl From<&Track> for TrackShare {
    fn from(t: &Track) -> Self {
        Self { name: t.name.clone(), tournament_type: t.tournament_type, weight: t.weight.clone() }
    }
}

/// The default track of a type: named after it, with every value its type's.
pub fn default_config(tournament_type: TournamentType) -> TrackConfig {
    TrackConfig {
        name: tournament_type.as_str().to_owned(),
        tournament_type,
        interval_hours: None,
        fee_rao: None,
        weight: None,
    }
}

/// Whether `name` can name a track: 1 to 64 of `a-z`, `0-9`, `-` and `_`, starting with a letter or digit.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

/// The problems of the configured tracks (`resolved` as they run), each naming its key under
/// `rules.tracks`.
pub fn validate(configured: &[TrackConfig], resolved: &[Track]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, c) in configured.iter().enumerate() {
        let key = format!("rules.tracks[{i}]");
        if !valid_name(&c.name) {
            problems.push(format!(
                "{key}.name: {:?} must be 1 to {MAX_NAME_LEN} of a-z, 0-9, '-' and '_', starting with a letter or digit",
                c.name
            ));
        } else if !seen.insert(c.name.as_str()) {
            problems.push(format!("{key}.name: {:?} names two tracks", c.name));
        }
        if let Some(hours) = c.interval_hours
            && !(hours.is_finite() && hours > 0.0)
        {
            problems.push(format!("{key}.interval_hours: must be a positive number of hours"));
        }
        if let Some(w) = &c.weight
            && !((0.0..=1.0).contains(&w.base) && w.base <= w.cap && w.cap <= 1.0)
        {
            problems.push(format!("{key}.weight: needs 0 <= base <= cap <= 1"));
        }
    }
    if !configured.is_empty() {
        let caps: f64 = resolved.iter().map(|t| t.weight.cap).sum();
        if caps > 1.0 + 1e-9 {
            problems.push(format!("rules.tracks: the tracks' weight caps sum to {caps}, more than 1"));
        }
    }
    problems
}

#[cfg(test)]
#[path = "tracks_tests.rs"]
mod tests;
