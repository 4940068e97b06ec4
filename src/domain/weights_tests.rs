use chrono::{TimeZone, Utc};
use proptest::prelude::*;

use super::*;
use crate::domain::bundle::{BUNDLE_FORMAT, ParticipantRecord, RoundRecord, TaskRecord};
use crate::domain::ids::{TaskId, TournamentId};
use crate::domain::kinds::{RoundKind, RunStatus, TaskType};
use crate::domain::scoring::TrainingResult;

fn h(n: u64) -> Hotkey {
    Hotkey::synthetic(n)
}

fn house() -> Hotkey {
    h(999)
}

/// A task won by `winner` (loss 1.0) against `loser` (loss 2.0).
fn task(id: &str, winner: u64, loser: u64) -> TaskRecord {
    let result = |n, loss| TrainingResult::new(h(n), RunStatus::Success, Some(loss));
    TaskRecord {
        id: TaskId::parse(id).unwrap(),
        task_type: TaskType::InstructText,
        reward_weights: Vec::new(),
        results: vec![result(winner, 1.0), result(loser, 2.0)],
    }
}

fn tournament(
    n: u64,
    winner: Option<u64>,
    base: Option<u64>,
    diff: f64,
    rounds: Vec<Vec<TaskRecord>>,
) -> TournamentRecord {
    TournamentRecord {
        id: TournamentId::new(n, 2026, 11, 1),
        tournament_type: TournamentType::Text,
        track: None,
        status: TournamentStatus::Completed,
        base_winner_hotkey: base.map(h),
        winner_hotkey: winner.map(h),
        winning_performance_difference: Some(diff),
        created_at: Utc.timestamp_opt(n as i64 * 1000, 0).unwrap(),
        completed_at: Some(Utc.timestamp_opt(n as i64 * 1000 + 500, 0).unwrap()),
        participants: vec![],
        rounds: rounds
            .into_iter()
            .enumerate()
            .map(|(i, tasks)| RoundRecord { number: i as u32 + 1, kind: RoundKind::Knockout, is_final: false, tasks })
            .collect(),
    }
}

fn bundle(tournaments: Vec<TournamentRecord>) -> ResultsBundle {
    ResultsBundle { format: BUNDLE_FORMAT.into(), house_hotkey: house(), exported_at: None, tournaments }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

fn assert_sums_to_one(r: &WeightReport) {
    let total: f64 = r.weights.values().sum();
    assert!(close(total, 1.0), "weights sum to {total}");
    assert!(r.weights.values().all(|w| *w >= 0.0));
}

#[test]
fn new_champion_takes_the_boosted_share_and_points_rank_the_rest() {
    // Round 1: 1 beats 2, 3 beats 4; round 2: 1 beats 3 (1 is the winner and excluded from points).
    let t = tournament(1, Some(1), None, 0.15, vec![vec![task("a", 1, 2), task("b", 3, 4)], vec![task("c", 1, 3)]]);
    let r = compute(&bundle(vec![t]), &WeightRules::default());
    let text = &r.types[0];
    assert!(text.changed);
    assert_eq!(text.consecutive_wins, 1);
    assert!(close(text.winner_weight, 0.15 + 0.2));
    let norm = 1.0 + 0.3;
    assert!(close(r.weights[&h(1)], 0.35 / norm));
    assert!(close(r.weights[&h(3)], 0.15 * 0.3 / norm));
    assert!(!r.weights.contains_key(&h(2)));
    assert!(close(r.burn, 1.0 - 0.35 / norm - 0.045 / norm));
    assert_sums_to_one(&r);
}

#[test]
fn tied_points_share_the_average_rank() {
    let t = tournament(1, Some(1), None, 0.0, vec![vec![task("a", 2, 1), task("b", 3, 4)]]);
    let r = compute(&bundle(vec![t]), &WeightRules::default());
    let ranks: Vec<(Hotkey, f64)> = r.types[0].ranking.iter().map(|e| (e.hotkey.clone(), e.rank)).collect();
    assert_eq!(ranks, vec![(h(1), 1.0), (h(2), 2.5), (h(3), 2.5)]);
    assert!(close(r.weights[&h(2)], r.weights[&h(3)]));
    let norm = 1.0 + 0.3 + 0.09;
    assert!(close(r.weights[&h(2)], 0.3f64.powf(1.5) / norm * 0.15));
    assert_sums_to_one(&r);
}

#[test]
fn retained_title_uses_the_difference_of_the_winning_tournament_minus_the_streak() {
    let won = tournament(1, Some(7), None, 0.20, vec![]);
    let kept = tournament(2, Some(999), Some(7), 0.0, vec![vec![task("a", 3, 4)]]);
    let r = compute(&bundle(vec![won, kept]), &WeightRules::default());
    let text = &r.types[0];
    assert_eq!(text.real_winner, Some(h(7)));
    assert!(!text.changed);
    assert_eq!(text.consecutive_wins, 2);
    assert!(close(text.performance_difference, 0.20));
    assert!(close(text.winner_weight, 0.15 + 0.30 - 0.01));
    assert!(close(r.weights[&h(7)], text.winner_weight / 1.3));
    assert!(close(r.weights[&h(3)], 0.15 * 0.3 / 1.3));
}

#[test]
fn a_title_won_again_as_a_challenger_continues_the_streak() {
    // 7 won, the house held for 7, then 7 re-registered and beat the house as a challenger.
    let won = tournament(1, Some(7), None, 0.20, vec![]);
    let held = tournament(2, Some(999), Some(7), 0.0, vec![]);
    let again = tournament(3, Some(7), Some(7), 0.30, vec![vec![task("a", 3, 4)]]);
    let r = compute(&bundle(vec![won, held, again]), &WeightRules::default());
    assert_eq!(r.types[0].consecutive_wins, 3);
    let titles = [(Some(h(7)), Some(h(7))), (Some(house()), Some(h(7))), (Some(h(7)), None), (Some(h(2)), None)];
    let newest_first = titles.iter().map(|(w, b)| (w.as_ref(), b.as_ref()));
    assert_eq!(crate::domain::standings::title_streak(newest_first, &h(7), &house()), 3);
}

#[test]
fn boost_is_capped_and_small_differences_earn_nothing() {
    let r = compute(&bundle(vec![tournament(1, Some(1), None, 1.0, vec![])]), &WeightRules::default());
    assert!(close(r.types[0].winner_weight, 0.6));
    let r = compute(&bundle(vec![tournament(1, Some(1), None, 0.05, vec![])]), &WeightRules::default());
    assert!(close(r.types[0].winner_weight, 0.15));
}

#[test]
fn house_win_without_a_champion_takes_rank_one_and_its_share_burns() {
    let t = tournament(1, Some(999), None, 0.0, vec![vec![task("a", 999, 2), task("b", 3, 4)], vec![task("c", 5, 6)]]);
    let r = compute(&bundle(vec![t]), &WeightRules::default());
    let text = &r.types[0];
    assert_eq!(text.real_winner, Some(house()));
    let ranks: Vec<(Hotkey, f64)> = text.ranking.iter().map(|e| (e.hotkey.clone(), e.rank)).collect();
    assert_eq!(ranks, vec![(house(), 1.0), (h(5), 2.0), (h(3), 3.0)]);
    // The losing finalist is paid as rank 2, not as rank 1.
    let norm = 1.0 + 0.3 + 0.09;
    assert!(close(r.weights[&h(5)], 0.15 * 0.3 / norm));
    assert!(close(r.weights[&h(3)], 0.15 * 0.09 / norm));
    assert!(close(r.burn, 1.0 - 0.15 * 0.39 / norm));
    assert_sums_to_one(&r);
}

#[test]
fn a_type_where_only_the_real_winner_scored_pays_nobody() {
    // 1 won every task it played and nobody else won one: all of the type burns.
    let t = tournament(1, Some(1), None, 0.5, vec![vec![task("a", 1, 2)], vec![task("b", 1, 3)]]);
    let r = compute(&bundle(vec![t]), &WeightRules::default());
    assert!(r.types[0].ranking.is_empty());
    assert!(close(r.types[0].winner_weight, 0.6));
    assert_eq!(r.weights.len(), 1);
    assert!(close(r.burn, 1.0));
}

#[test]
fn points_are_exact_and_do_not_depend_on_the_order_of_rounds() {
    // 2 wins rounds 1, 2 and 3 (0.15 + 0.3 + 0.45 in floating point is not 0.9); 3 wins round 6 once.
    let rounds = vec![
        vec![task("a", 2, 4)],
        vec![task("b", 2, 5)],
        vec![task("c", 2, 6)],
        vec![task("d", 1, 7)],
        vec![task("e", 1, 8)],
        vec![task("f", 3, 9)],
    ];
    let t = tournament(1, Some(1), None, 0.0, rounds);
    let mut reversed = t.clone();
    reversed.rounds.reverse();
    for t in [t, reversed] {
        let r = compute(&bundle(vec![t]), &WeightRules::default());
        let ranks: Vec<(Hotkey, f64)> = r.types[0].ranking.iter().map(|e| (e.hotkey.clone(), e.rank)).collect();
        assert_eq!(ranks, vec![(h(1), 1.0), (h(2), 2.5), (h(3), 2.5)]);
        assert_eq!(r.weights[&h(2)], r.weights[&h(3)]);
    }
}

#[test]
fn active_participants_earn_participation_and_scale_the_rest() {
    let mut active = tournament(5, None, None, 0.0, vec![]);
    active.status = TournamentStatus::Active;
    active.completed_at = None;
    active.participants = [(1, None), (2, None), (3, Some(1)), (999, None)]
        .into_iter()
        .map(|(n, eliminated_in_round)| ParticipantRecord { hotkey: h(n), eliminated_in_round })
        .collect();
    // A second live tournament (the other type) with 2 in it again: 2 counts once.
    let mut image = active.clone();
    image.id = TournamentId::new(6, 2026, 11, 1);
    image.tournament_type = TournamentType::Image;
    image.participants = vec![ParticipantRecord { hotkey: h(2), eliminated_in_round: None }];
    let done = tournament(1, Some(1), None, 0.0, vec![vec![task("a", 4, 5)]]);
    let r = compute(&bundle(vec![done, active, image]), &WeightRules::default());
    // 1, 2 and the house, which counts while it is in (its share is the burn's).
    assert_eq!(r.participants, 3);
    assert!(close(r.scale, 0.9997));
    assert!(close(r.weights[&h(2)], 0.0001));
    assert!(close(r.weights[&h(1)], 0.15 / 1.3 * 0.9997 + 0.0001));
    assert!(!r.weights.contains_key(&h(3)));
    assert_sums_to_one(&r);
}

#[test]
fn nothing_completed_burns_everything() {
    let r = compute(&bundle(vec![]), &WeightRules::default());
    assert_eq!(r.weights.len(), 1);
    assert!(close(r.weights[&house()], 1.0));
}

proptest! {
    #[test]
    fn weights_are_non_negative_and_sum_to_one(
        winners in proptest::collection::vec((0u64..12, 0u64..12, 0.0f64..2.0), 1..6),
        tasks in proptest::collection::vec((0u64..12, 0u64..12), 0..30),
        active in proptest::collection::vec((0u64..12, proptest::option::of(1u32..4)), 0..20),
    ) {
        let mut ts: Vec<TournamentRecord> = winners.iter().enumerate().map(|(i, (w, b, d))| {
            let winner = if *w == 11 { 999 } else { *w };
            let round: Vec<TaskRecord> = tasks.iter().enumerate().map(|(j, (a, b))| task(&format!("t{i}x{j}"), *a, *b)).collect();
            tournament(i as u64 + 1, Some(winner), (*b != 11).then_some(*b), *d, vec![round.clone(), round])
        }).collect();
        let mut live = tournament(100, None, None, 0.0, vec![]);
        live.status = TournamentStatus::Active;
        live.participants = active.iter().map(|(n, e)| ParticipantRecord { hotkey: h(*n), eliminated_in_round: *e }).collect();
        ts.push(live);
        let r = compute(&bundle(ts), &WeightRules::default());
        let total: f64 = r.weights.values().sum();
        prop_assert!((total - 1.0).abs() < 1e-9, "sum {}", total);
        prop_assert!(r.weights.values().all(|w| *w >= 0.0));
    }

    #[test]
    fn the_weights_do_not_depend_on_the_order_of_rounds_or_tasks(
        rounds in proptest::collection::vec(proptest::collection::vec((0u64..8, 0u64..8), 1..4), 1..6),
        winner in 0u64..8,
        rotate in 0usize..6,
    ) {
        let rounds: Vec<Vec<TaskRecord>> = rounds.iter().enumerate().map(|(i, tasks)| {
            tasks.iter().enumerate().map(|(j, (a, b))| task(&format!("t{i}x{j}"), *a, *b)).collect()
        }).collect();
        let t = tournament(1, Some(winner), None, 0.3, rounds);
        let mut shuffled = t.clone();
        let n = shuffled.rounds.len();
        shuffled.rounds.rotate_left(rotate % n);
        for round in &mut shuffled.rounds {
            round.tasks.reverse();
        }
        let (a, b) = (compute(&bundle(vec![t]), &WeightRules::default()), compute(&bundle(vec![shuffled]), &WeightRules::default()));
        prop_assert_eq!(a.weights, b.weights);
    }
}
