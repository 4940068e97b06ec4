use std::collections::HashSet;

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

use super::*;

fn hotkeys(n: usize) -> Vec<Hotkey> {
    (0..n as u64).map(Hotkey::synthetic).collect()
}

fn house() -> Hotkey {
    Hotkey::parse("5GU4Xkd3dCGTU3s8VLcHGc5wsD5M8XyxDca5yDQhYm1mVXFu").unwrap()
}

fn plan(n: usize, seed: u64) -> Bracket {
    organise(&hotkeys(n), &house(), &BracketRules::default(), &mut ChaCha8Rng::seed_from_u64(seed))
}

#[test]
fn group_counts_match_the_reference_examples() {
    let rules = BracketRules::default();
    for (n, groups) in [(15, 1), (39, 1), (40, 2), (64, 2), (65, 3), (96, 3), (97, 4), (128, 4), (129, 5)] {
        assert_eq!(group_count(n, &rules), groups, "{n} entrants");
    }
    let Bracket::Groups { groups } = plan(97, 1) else { panic!("97 entrants play groups") };
    let mut sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![24, 24, 24, 25]);
}

#[test]
fn house_fills_an_odd_knockout() {
    let bracket = plan(7, 3);
    assert_eq!(bracket.sizes(), vec![2, 2, 2, 2]);
    assert!(bracket.contains(&house()));
    assert!(!bracket.is_final());
}

#[test]
fn house_leaves_an_odd_knockout_it_is_in() {
    let mut field = hotkeys(4);
    field.push(house());
    let bracket = organise(&field, &house(), &BracketRules::default(), &mut ChaCha8Rng::seed_from_u64(9));
    assert_eq!(bracket.sizes(), vec![2, 2]);
    assert!(!bracket.contains(&house()));
}

#[test]
fn a_house_among_more_winners_than_a_knockout_takes_plays_the_group() {
    // The reference never removes the house from a group: 15 with it, or 16, play one group with it.
    for n in [15, 16, 31] {
        let mut field = hotkeys(n - 1);
        field.push(house());
        let bracket = organise(&field, &house(), &BracketRules::default(), &mut ChaCha8Rng::seed_from_u64(2));
        assert_eq!(bracket.kind(), RoundKind::Group, "{n}");
        assert_eq!(bracket.sizes(), vec![n], "{n}");
        assert!(bracket.contains(&house()), "{n}");
    }
    // The first round's field never holds the house, so it plays no group there.
    let bracket = organise(&hotkeys(30), &house(), &BracketRules::default(), &mut ChaCha8Rng::seed_from_u64(2));
    assert!(!bracket.contains(&house()));
}

#[test]
fn same_seed_same_bracket_other_seed_other_bracket() {
    assert_eq!(plan(50, 7), plan(50, 7));
    assert_ne!(plan(50, 7), plan(50, 8));
    assert_eq!(plan(10, 7), plan(10, 7));
}

#[test]
fn lone_winner_meets_the_house_in_the_boss_round() {
    let w = hotkeys(1);
    let next = advance(&w, &house(), &BracketRules::default(), &mut ChaCha8Rng::seed_from_u64(0));
    let Advance::Round { bracket } = next else { panic!("expected a boss round") };
    assert!(bracket.is_final());
    assert_eq!(bracket, Bracket::Knockout { pairs: vec![[w[0].clone(), house()]], is_final: true });
}

#[test]
fn winner_and_house_make_the_boss_round() {
    let w = vec![house(), hotkeys(1)[0].clone()];
    let Advance::Round { bracket } = advance(&w, &house(), &BracketRules::default(), &mut ChaCha8Rng::seed_from_u64(0))
    else {
        panic!("expected a boss round")
    };
    assert_eq!(bracket, Bracket::Knockout { pairs: vec![[w[1].clone(), house()]], is_final: true });
}

#[test]
fn endings_without_a_real_winner() {
    let rules = BracketRules::default();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    assert_eq!(advance(&[], &house(), &rules, &mut rng), Advance::ChampionRetains { reason: NoWinner::NoWinners });
    assert_eq!(
        advance(&[house()], &house(), &rules, &mut rng),
        Advance::ChampionRetains { reason: NoWinner::HouseIsLoneWinner }
    );
}

#[test]
fn two_real_winners_play_a_knockout_before_the_boss() {
    let Advance::Round { bracket } =
        advance(&hotkeys(2), &house(), &BracketRules::default(), &mut ChaCha8Rng::seed_from_u64(0))
    else {
        panic!("expected a round")
    };
    assert_eq!(bracket.sizes(), vec![2]);
    assert!(!bracket.is_final());
    assert!(!bracket.contains(&house()));
}

proptest! {
    #[test]
    fn every_entrant_plays_exactly_once(n in 1usize..200, seed: u64, with_house: bool) {
        let mut field = hotkeys(n);
        if with_house { field.push(house()); }
        let bracket = organise(&field, &house(), &BracketRules::default(), &mut ChaCha8Rng::seed_from_u64(seed));
        let players = bracket.players();
        let unique: HashSet<&Hotkey> = players.iter().copied().collect();
        prop_assert_eq!(unique.len(), players.len(), "nobody plays twice");
        for h in hotkeys(n) {
            prop_assert!(unique.contains(&h), "every miner plays");
        }
        if let Bracket::Knockout { pairs, .. } = &bracket {
            prop_assert!(pairs.iter().all(|[a, b]| a != b));
        }
    }

    #[test]
    fn groups_are_balanced_and_large_enough(n in 15usize..2000, seed: u64) {
        let bracket = plan(n, seed);
        let sizes = bracket.sizes();
        prop_assert_eq!(bracket.kind(), RoundKind::Group);
        prop_assert_eq!(sizes.iter().sum::<usize>(), n);
        let (min, max) = (*sizes.iter().min().unwrap(), *sizes.iter().max().unwrap());
        prop_assert!(max - min <= 1);
        if sizes.len() > 1 {
            prop_assert!(min >= 20, "groups of {min} with {} groups", sizes.len());
        }
    }

    #[test]
    fn advancing_always_terminates(n in 1usize..200, seed: u64) {
        // Play every round with the first player of each pair and the first half of each group winning.
        let rules = BracketRules::default();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut bracket = plan(n, seed);
        for _ in 0..32 {
            let winners: Vec<Hotkey> = match &bracket {
                Bracket::Groups { groups } => groups.iter().flat_map(|g| g.iter().take(8).cloned()).collect(),
                Bracket::Knockout { pairs, is_final: true } => { prop_assert_eq!(pairs.len(), 1); return Ok(()); }
                Bracket::Knockout { pairs, .. } => pairs.iter().map(|p| p[0].clone()).collect(),
            };
            match advance(&winners, &house(), &rules, &mut rng) {
                Advance::Round { bracket: next } => bracket = next,
                Advance::ChampionRetains { .. } => return Ok(()),
            }
        }
        prop_assert!(false, "no ending after 32 rounds");
    }
}
