//! The weight computation (tournament-rules.md §8): the winner's emission per track (per type on the
//! reference's two default tracks) from its performance difference and streak, points for every task
//! won, the 0.3 decline over ranks (ties share the average rank), participation, and the burn that
//! makes the weights sum to 1.
//!
//! Points are counted in exact units (the sum of the round numbers of the tasks won) and the type's
//! base weight is applied at the end, so a tie never depends on the order of summation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::bundle::{ResultsBundle, TournamentRecord};
use super::ids::Hotkey;
use super::kinds::TournamentType;
use super::scoring::task_winner;
use super::standings;
use super::state::TournamentStatus;

/// Base and cap of one tournament type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeWeightRules {
    pub base: f64,
    pub cap: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightRules {
    pub text: TypeWeightRules,
    pub image: TypeWeightRules,
    /// Each rank gets this factor of the share of the rank above it.
    pub decline: f64,
    /// Performance differences up to this earn no increase.
    pub performance_threshold: f64,
    pub performance_multiplier: f64,
    /// Subtracted from the increase per consecutive win after the first.
    pub streak_penalty: f64,
    /// Given to every non-eliminated participant of an active tournament.
    pub participation: f64,
}

impl Default for WeightRules {
    fn default() -> Self {
        Self {
            text: TypeWeightRules { base: 0.15, cap: 0.6 },
            image: TypeWeightRules { base: 0.10, cap: 0.4 },
            decline: 0.3,
            performance_threshold: 0.05,
            performance_multiplier: 2.0,
            streak_penalty: 0.01,
            participation: 0.0001,
        }
    }
}

impl WeightRules {
    pub fn of(&self, tournament_type: TournamentType) -> &TypeWeightRules {
        match tournament_type {
            TournamentType::Text => &self.text,
            TournamentType::Image => &self.image,
        }
    }
}

/// One ranked hotkey of one tournament type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankEntry {
    pub hotkey: Hotkey,
    /// The sum of the round numbers of the tasks won, times the type's base weight (0 for the winner).
    pub points: f64,
    /// 1-based; tied hotkeys share the average of their ranks.
    pub rank: f64,
    pub share: f64,
    pub weight: f64,
}

/// How one track's emission was computed: every intermediate value, for auditors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeReport {
    pub tournament_type: TournamentType,
    /// The track (`domain::tracks`); a type's default track is named after the type.
    pub track: String,
    pub tournament_id: String,
    pub real_winner: Option<Hotkey>,
    pub changed: bool,
    pub performance_difference: f64,
    pub consecutive_wins: u32,
    /// `W_type`: what the real winner's share is multiplied by.
    pub winner_weight: f64,
    pub ranking: Vec<RankEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightReport {
    /// Every hotkey with a weight, the house (burn) included; the values sum to 1.
    pub weights: BTreeMap<Hotkey, f64>,
    pub burn: f64,
    /// `s = 1 − participation × participants`.
    pub scale: f64,
    pub participants: usize,
    pub types: Vec<TypeReport>,
}

/// One track's share of the weights, as the weight computation needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackShare {
    pub name: String,
    pub tournament_type: TournamentType,
    pub weight: TypeWeightRules,
}

/// Computes the weight vector from a results bundle, over the default tracks (one per type, as the
/// reference computes it).
pub fn compute(bundle: &ResultsBundle, rules: &WeightRules) -> WeightReport {
    let tracks: Vec<TrackShare> = TournamentType::ALL
        .iter()
        .map(|t| TrackShare { name: t.as_str().to_owned(), tournament_type: *t, weight: rules.of(*t).clone() })
        .collect();
    compute_tracks(bundle, rules, &tracks)
}

/// Computes the weight vector from a results bundle over `tracks`, each paying its share.
pub fn compute_tracks(bundle: &ResultsBundle, rules: &WeightRules, tracks: &[TrackShare]) -> WeightReport {
    let house = &bundle.house_hotkey;
    // Every distinct non-eliminated hotkey of the active tournaments, once however many it is in. The
    // house counts while it is in, as in the reference; its share is the burn's.
    let participants: std::collections::BTreeSet<Hotkey> = bundle
        .tournaments
        .iter()
        .filter(|t| t.status == TournamentStatus::Active)
        .flat_map(|t| t.participants.iter())
        .filter(|p| p.eliminated_in_round.is_none())
        .map(|p| p.hotkey.clone())
        .collect();
    let participant_count = participants.len();
    let scale = (1.0 - rules.participation * participant_count as f64).max(0.0);
    let participation = if participants.is_empty() { 0.0 } else { (1.0 - scale) / participant_count as f64 };

    let mut weights: BTreeMap<Hotkey, f64> = BTreeMap::new();
    let mut types = Vec::new();
    for track in tracks {
        if let Some(report) = type_report(bundle, track, rules, scale) {
            for entry in &report.ranking {
                *weights.entry(entry.hotkey.clone()).or_default() += entry.weight;
            }
            types.push(report);
        }
    }
    for hotkey in participants {
        *weights.entry(hotkey).or_default() += participation;
    }
    weights.remove(house);
    let burn = (1.0 - weights.values().sum::<f64>()).max(0.0);
    weights.insert(house.clone(), burn);
    WeightReport { weights, burn, scale, participants: participant_count, types }
}

fn type_report(bundle: &ResultsBundle, track: &TrackShare, rules: &WeightRules, scale: f64) -> Option<TypeReport> {
    let house = &bundle.house_hotkey;
    let history = bundle.completed(&track.name);
    let (latest, earlier) = history.split_last()?;
    let previous = earlier.last();
    // The defending champion when the house won for it, else the winner: the house itself when it won
    // with no champion (its rank-1 share then burns).
    let winner =
        standings::real_winner(latest.winner_hotkey.as_ref(), latest.base_winner_hotkey.as_ref(), house).cloned();
    let changed = match previous {
        None => true,
        Some(p) => latest.winner_hotkey != p.winner_hotkey && latest.winner_hotkey.as_ref() != Some(house),
    };
    let titles = history.iter().rev().map(|t| (t.winner_hotkey.as_ref(), t.base_winner_hotkey.as_ref()));
    let streak = winner.as_ref().map_or(0, |w| standings::title_streak(titles, w, house));
    let diff = if changed {
        latest.winning_performance_difference.unwrap_or(0.0)
    } else {
        history
            .iter()
            .rev()
            .find(|t| winner.is_some() && t.winner_hotkey == winner)
            .and_then(|t| t.winning_performance_difference)
            .unwrap_or(0.0)
    };
    let type_rules = &track.weight;
    let mut increase = if diff <= rules.performance_threshold {
        0.0
    } else {
        (diff - rules.performance_threshold) * rules.performance_multiplier
    };
    increase = (increase - rules.streak_penalty * f64::from(streak.saturating_sub(1))).max(0.0);
    let winner_weight = (type_rules.base + increase).min(type_rules.cap);

    let ranking = rank(latest, winner.as_ref(), house, type_rules.base, winner_weight, rules.decline, scale);
    Some(TypeReport {
        tournament_type: track.tournament_type,
        track: track.name.clone(),
        tournament_id: latest.id.to_string(),
        real_winner: winner,
        changed,
        performance_difference: diff,
        consecutive_wins: streak,
        winner_weight,
        ranking,
    })
}

/// Points per task won, then the ranking with the real winner first and ties sharing the average rank.
/// When nobody but the real winner has points, the type pays nobody: all of it burns.
fn rank(
    t: &TournamentRecord,
    winner: Option<&Hotkey>,
    house: &Hotkey,
    base: f64,
    winner_weight: f64,
    decline: f64,
    scale: f64,
) -> Vec<RankEntry> {
    let mut units: BTreeMap<Hotkey, u64> = BTreeMap::new();
    for round in &t.rounds {
        for task in &round.tasks {
            let Some(h) = task_winner(task.task_type, &task.reward_weights, &task.results) else { continue };
            let excluded = Some(&h) == winner || (&h == house && t.base_winner_hotkey.is_some());
            if !excluded {
                *units.entry(h).or_default() += u64::from(round.number);
            }
        }
    }
    if units.is_empty() {
        return Vec::new();
    }
    let mut others: Vec<(Hotkey, u64)> = units.into_iter().collect();
    others.sort_by(|(ha, a), (hb, b)| b.cmp(a).then_with(|| ha.cmp(hb)));

    let mut ranked: Vec<(Hotkey, u64, f64)> = Vec::new();
    if let Some(w) = winner {
        ranked.push((w.clone(), 0, 1.0));
    }
    let mut i = 0;
    while i < others.len() {
        let tied = others[i..].iter().take_while(|(_, p)| *p == others[i].1).count();
        let first = (ranked.len() + 1) as f64;
        let average = first + (tied as f64 - 1.0) / 2.0;
        for (h, p) in &others[i..i + tied] {
            ranked.push((h.clone(), *p, average));
        }
        i += tied;
    }
    let norm: f64 = (0..ranked.len()).map(|i| decline.powi(i as i32)).sum();
    ranked
        .into_iter()
        .map(|(hotkey, units, rank)| {
            let share = decline.powf(rank - 1.0) / norm;
            let factor = if Some(&hotkey) == winner { winner_weight } else { base };
            RankEntry { weight: share * factor * scale, points: units as f64 * base, hotkey, rank, share }
        })
        .collect()
}

#[cfg(test)]
#[path = "weights_tests.rs"]
mod tests;
