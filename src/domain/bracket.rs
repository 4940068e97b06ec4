//! Round organisation (tournament-rules.md §4): groups or knockout pairs from a seeded generator, the
//! house filling or leaving odd brackets, the boss round, and the endings without a real winner.
//!
//! Every function takes the generator as an argument; callers seed it with [`super::ids::round_seed`]
//! so that any round can be re-derived from the tournament id and round number.

use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::ids::Hotkey;
use super::kinds::RoundKind;

/// The numbers that shape a bracket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BracketRules {
    /// Up to this many entrants play knockout pairs; more play groups.
    pub knockout_max_entrants: usize,
    /// Target largest group: the group count starts at `ceil(n / group_max_size)`.
    pub group_max_size: usize,
    /// A group count that would leave groups smaller than this is reduced by one.
    pub group_min_size: usize,
}

impl Default for BracketRules {
    fn default() -> Self {
        Self { knockout_max_entrants: 14, group_max_size: 32, group_min_size: 20 }
    }
}

/// The line-up of one round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Bracket {
    Groups { groups: Vec<Vec<Hotkey>> },
    Knockout { pairs: Vec<[Hotkey; 2]>, is_final: bool },
}

impl Bracket {
    pub fn kind(&self) -> RoundKind {
        match self {
            Bracket::Groups { .. } => RoundKind::Group,
            Bracket::Knockout { .. } => RoundKind::Knockout,
        }
    }

    /// True for the boss round: the last knockout, challenger against the house.
    pub fn is_final(&self) -> bool {
        matches!(self, Bracket::Knockout { is_final: true, .. })
    }

    /// The sizes of the groups, or of the pairs (always 2).
    pub fn sizes(&self) -> Vec<usize> {
        match self {
            Bracket::Groups { groups } => groups.iter().map(Vec::len).collect(),
            Bracket::Knockout { pairs, .. } => vec![2; pairs.len()],
        }
    }

    /// Every hotkey that plays this round, in bracket order.
    pub fn players(&self) -> Vec<&Hotkey> {
        match self {
            Bracket::Groups { groups } => groups.iter().flatten().collect(),
            Bracket::Knockout { pairs, .. } => pairs.iter().flatten().collect(),
        }
    }

    pub fn contains(&self, hotkey: &Hotkey) -> bool {
        self.players().contains(&hotkey)
    }
}

/// What follows a decided round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "next", rename_all = "snake_case")]
pub enum Advance {
    /// Another round with this line-up.
    Round { bracket: Bracket },
    /// No real winner is left: the tournament completes and the champion keeps the title.
    ChampionRetains { reason: NoWinner },
}

/// Why a tournament ended without a real winner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoWinner {
    /// Nobody produced a valid result in the last round.
    NoWinners,
    /// The house was the round's only winner (**Improvement**: the reference deadlocks here).
    HouseIsLoneWinner,
}

/// The number of groups for `n` entrants (more than `knockout_max_entrants`).
pub fn group_count(n: usize, rules: &BracketRules) -> usize {
    let mut g = n.div_ceil(rules.group_max_size.max(1)).max(1);
    if n < rules.group_min_size * g {
        g = (g - 1).max(1);
    }
    g
}

/// Organises a round for `entrants` (tournament-rules.md §4, `organise`).
///
/// Knockout (at most `knockout_max_entrants`): an odd field gets the house added, or removed when it is
/// already in; the field is shuffled, consecutive entries paired and the pairs shuffled. Groups: every
/// entrant plays, the house too when it is one (the first round's field never holds it, so it plays no
/// group then, but as a winner it is never removed from one, as in the reference); sizes differ by at
/// most one.
pub fn organise<R: Rng + ?Sized>(entrants: &[Hotkey], house: &Hotkey, rules: &BracketRules, rng: &mut R) -> Bracket {
    let mut field: Vec<Hotkey> = entrants.to_vec();
    field.dedup();
    field.shuffle(rng);
    if field.len() > rules.knockout_max_entrants {
        return groups(field, rules, rng);
    }
    if !field.len().is_multiple_of(2) {
        match field.iter().position(|h| h == house) {
            Some(at) => {
                field.remove(at);
            }
            None => field.push(house.clone()),
        }
    }
    field.shuffle(rng);
    let mut pairs: Vec<[Hotkey; 2]> = field.chunks_exact(2).map(|pair| [pair[0].clone(), pair[1].clone()]).collect();
    pairs.shuffle(rng);
    Bracket::Knockout { pairs, is_final: false }
}

fn groups<R: Rng + ?Sized>(field: Vec<Hotkey>, rules: &BracketRules, rng: &mut R) -> Bracket {
    let n = field.len();
    let g = group_count(n, rules);
    let mut rest = field.into_iter();
    let mut groups: Vec<Vec<Hotkey>> =
        (0..g).map(|i| rest.by_ref().take(n / g + usize::from(i < n % g)).collect()).collect();
    groups.shuffle(rng);
    Bracket::Groups { groups }
}

/// Decides what follows a round from its winners (tournament-rules.md §4).
pub fn advance<R: Rng + ?Sized>(winners: &[Hotkey], house: &Hotkey, rules: &BracketRules, rng: &mut R) -> Advance {
    let has_house = winners.contains(house);
    match winners.len() {
        0 => Advance::ChampionRetains { reason: NoWinner::NoWinners },
        1 if has_house => Advance::ChampionRetains { reason: NoWinner::HouseIsLoneWinner },
        1 => boss(winners[0].clone(), house.clone()),
        2 if has_house => {
            let challenger = winners.iter().find(|h| *h != house).cloned().unwrap_or_else(|| house.clone());
            boss(challenger, house.clone())
        }
        _ => Advance::Round { bracket: organise(winners, house, rules, rng) },
    }
}

fn boss(challenger: Hotkey, house: Hotkey) -> Advance {
    Advance::Round { bracket: Bracket::Knockout { pairs: vec![[challenger, house]], is_final: true } }
}

#[cfg(test)]
#[path = "bracket_tests.rs"]
mod tests;
