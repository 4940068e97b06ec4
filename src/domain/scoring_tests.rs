use proptest::prelude::*;

use super::*;

fn r(n: u64, status: RunStatus, loss: Option<f64>) -> TrainingResult {
    TrainingResult::new(Hotkey::synthetic(n), status, loss)
}

fn ok(n: u64, loss: f64) -> TrainingResult {
    r(n, RunStatus::Success, Some(loss))
}

#[test]
fn best_eight_valid_results_advance_from_a_group() {
    let mut results: Vec<TrainingResult> = (0..12).map(|i| ok(i, 1.0 + i as f64)).collect();
    results.push(r(20, RunStatus::Failure, Some(0.1)));
    results.push(r(21, RunStatus::Success, None));
    results.push(ok(22, f64::NAN));
    let winners = group_winners(TaskType::InstructText, &[], &results, &ScoringRules::default());
    assert_eq!(winners, (0..8).map(Hotkey::synthetic).collect::<Vec<_>>());
    let failed: Vec<TrainingResult> = (0..5).map(|i| r(i, RunStatus::Failure, None)).collect();
    assert!(group_winners(TaskType::InstructText, &[], &failed, &ScoringRules::default()).is_empty());
}

#[test]
fn grpo_ranks_higher_rewards_first() {
    let results = [ok(1, 0.2), ok(2, 0.9)];
    assert_eq!(pair_winner(TaskType::Grpo, &[], &results), Some(Hotkey::synthetic(2)));
    assert_eq!(pair_winner(TaskType::Dpo, &[], &results), Some(Hotkey::synthetic(1)));
}

#[test]
fn knockout_pair_outcomes() {
    let t = TaskType::InstructText;
    assert_eq!(pair_winner(t, &[], &[ok(1, 0.5), r(2, RunStatus::Failure, None)]), Some(Hotkey::synthetic(1)));
    assert_eq!(pair_winner(t, &[], &[r(1, RunStatus::Failure, None), r(2, RunStatus::Failure, None)]), None);
}

#[test]
fn threshold_decays_with_the_streak_to_a_floor() {
    let rules = ScoringRules::default();
    let table = [(0, 0.10), (1, 0.10), (2, 0.08), (3, 0.064), (4, 0.0512), (6, 0.03277), (7, 0.03), (50, 0.03)];
    for (k, want) in table {
        assert!((boss_threshold(k, &rules) - want).abs() < 1e-5, "k={k}: {}", boss_threshold(k, &rules));
    }
}

fn boss(t: TaskType, house: Option<f64>, challenger: Option<f64>) -> BossTask {
    let status = |v: Option<f64>| if v.is_some() { RunStatus::Success } else { RunStatus::Failure };
    BossTask { task_type: t, house, challenger, house_status: status(house), challenger_status: status(challenger) }
}

#[test]
fn boss_task_winners() {
    let i = TaskType::InstructText;
    let table = [
        // Loss: the challenger must be at least 10 % better.
        (boss(i, Some(1.0), Some(0.95)), Side::House),
        (boss(i, Some(1.0), Some(0.90)), Side::Challenger),
        (boss(i, Some(1.0), Some(0.85)), Side::Challenger),
        // GRPO reward: the challenger must be at least 10 % higher.
        (boss(TaskType::Grpo, Some(1.0), Some(1.05)), Side::House),
        (boss(TaskType::Grpo, Some(1.0), Some(1.10)), Side::Challenger),
        (boss(i, None, Some(5.0)), Side::Challenger),
        (boss(i, Some(5.0), None), Side::House),
        (boss(i, None, None), Side::House),
    ];
    for (task, want) in table {
        assert_eq!(task.winner(0.10), Some(want), "{task:?}");
    }
    // Both trained, neither has a valid value (say both diverged to NaN): the task decides nothing.
    let both_trained = trained_without_values(i);
    assert_eq!(both_trained.winner(0.10), None);
    // One trained without a value, the other failed to train: neither has a value, the house holds.
    let one_trained = BossTask { challenger_status: RunStatus::Failure, ..both_trained };
    assert_eq!(one_trained.winner(0.10), Some(Side::House));
}

fn trained_without_values(t: TaskType) -> BossTask {
    BossTask {
        task_type: t,
        house: None,
        challenger: None,
        house_status: RunStatus::Success,
        challenger_status: RunStatus::Success,
    }
}

#[test]
fn the_majority_is_over_the_decided_tasks() {
    let rules = ScoringRules::default();
    let i = TaskType::InstructText;
    let win = boss(i, Some(1.0), Some(0.5));
    let lose = boss(i, Some(1.0), Some(1.0));
    // Two wins, one loss and three tasks that decide nothing: 2 of 3 decided is a majority.
    let tasks =
        [win.clone(), win, lose, trained_without_values(i), trained_without_values(i), trained_without_values(i)];
    let d = decide_boss(1, &tasks, &rules);
    assert_eq!((d.winner, d.challenger_wins, d.decided), (Side::Challenger, 2, 3));
    // Nothing decided: the house keeps the title.
    let d = decide_boss(1, &tasks[3..], &rules);
    assert_eq!((d.winner, d.challenger_wins, d.decided), (Side::House, 0, 0));
}

#[test]
fn a_boss_task_read_from_results_knows_who_trained() {
    let house = Hotkey::synthetic(0);
    let nan = |h: Hotkey| TrainingResult::new(h, RunStatus::Success, Some(f64::NAN));
    let task = boss_task(TaskType::Dpo, &[], &[nan(house.clone()), nan(Hotkey::synthetic(1))], &house);
    assert_eq!((task.house_status, task.challenger_status), (RunStatus::Success, RunStatus::Success));
    assert_eq!(task.winner(0.1), None);
    let failed = TrainingResult::new(Hotkey::synthetic(1), RunStatus::Failure, None);
    let task = boss_task(TaskType::Dpo, &[], &[nan(house.clone()), failed], &house);
    assert_eq!(task.winner(0.1), Some(Side::House));
}

#[test]
fn challenger_needs_a_strict_majority() {
    let rules = ScoringRules::default();
    let win = boss(TaskType::InstructText, Some(1.0), Some(0.5));
    let lose = boss(TaskType::InstructText, Some(1.0), Some(1.0));
    let three = [win.clone(), win.clone(), win.clone(), lose.clone(), lose.clone(), lose.clone()];
    let d = decide_boss(1, &three, &rules);
    assert_eq!((d.winner, d.challenger_wins, d.decided), (Side::House, 3, 6));
    let mut four = three.to_vec();
    four[3] = win;
    let d = decide_boss(1, &four, &rules);
    assert_eq!((d.winner, d.challenger_wins), (Side::Challenger, 4));
    assert_eq!(decide_boss(1, &[], &rules).winner, Side::House);
}

#[test]
fn performance_difference_is_the_median_relative_improvement() {
    let tasks = [
        boss(TaskType::InstructText, Some(1.2), Some(1.0)), // 0.2
        boss(TaskType::Grpo, Some(1.0), Some(1.1)),         // 0.1
        boss(TaskType::Dpo, Some(1.0), Some(2.0)),          // -0.5
        boss(TaskType::Dpo, None, Some(2.0)),               // not counted
        boss(TaskType::InstructText, Some(1.5), Some(1.0)), // 0.5
    ];
    assert!((performance_difference(&tasks) - 0.15).abs() < 1e-12);
    assert_eq!(performance_difference(&tasks[3..4]), 0.0);
}

#[test]
fn a_divisor_that_is_not_positive_gives_no_difference() {
    // The reference counts such a task as 0 in the median: never 1.0, never negative.
    let table = [
        (boss(TaskType::Grpo, Some(0.0), Some(2.0)), 0.0),
        (boss(TaskType::Grpo, Some(-1.0), Some(2.0)), 0.0),
        (boss(TaskType::InstructText, Some(0.5), Some(0.0)), 0.0),
        (boss(TaskType::Dpo, Some(0.5), Some(-0.1)), 0.0),
        (boss(TaskType::Grpo, Some(2.0), Some(3.0)), 0.5),
    ];
    for (task, want) in &table {
        assert_eq!(task.improvement(), Some(*want), "{task:?}");
    }
    let tasks: Vec<BossTask> = table.iter().map(|(t, _)| t.clone()).collect();
    assert_eq!(performance_difference(&tasks), 0.0);
}

#[test]
fn sanity_replaces_a_task_once() {
    use RunStatus::*;
    assert_eq!(task_sanity(&[Failure, Failure, Success], false), Sanity::Replace);
    assert_eq!(task_sanity(&[Failure, Failure, Success], true), Sanity::Proceed);
    assert_eq!(task_sanity(&[Failure, Success], false), Sanity::Proceed);
    assert_eq!(task_sanity(&[], false), Sanity::Proceed);
}

proptest! {
    #[test]
    fn boss_threshold_never_goes_under_three_percent(k in 0u32..10_000) {
        let t = boss_threshold(k, &ScoringRules::default());
        prop_assert!((0.03..=0.10).contains(&t));
    }

    #[test]
    fn group_winners_are_distinct_valid_and_at_most_eight(losses in proptest::collection::vec(proptest::option::of(0.0f64..10.0), 0..40)) {
        let results: Vec<TrainingResult> = losses.iter().enumerate().map(|(i, l)| r(i as u64, if i % 3 == 0 { RunStatus::Failure } else { RunStatus::Success }, *l)).collect();
        let winners = group_winners(TaskType::InstructText, &[], &results, &ScoringRules::default());
        // Exactly equal values with no output time are all duplicates: none of them ranks.
        let unique = |r: &TrainingResult| results.iter().filter(|o| o.valid_value().is_some() && o.test_loss == r.test_loss).count() == 1;
        let valid = results.iter().filter(|r| r.valid_value().is_some() && unique(r)).count();
        prop_assert_eq!(winners.len(), valid.min(8));
        let worst_winner = winners.iter().map(|w| results.iter().find(|r| &r.hotkey == w).unwrap().test_loss.unwrap()).fold(f64::MIN, f64::max);
        for r in results.iter().filter(|r| r.valid_value().is_some() && unique(r) && !winners.contains(&r.hotkey)) {
            prop_assert!(r.test_loss.unwrap() >= worst_winner, "a better result was left behind");
        }
    }
}

fn grpo(n: u64, provisional: f64, rewards: &[f64], kl: f64) -> TrainingResult {
    let mut result = ok(n, provisional);
    result.eval.rewards = rewards.to_vec();
    result.eval.kl_divergence = Some(kl);
    result
}

#[test]
fn grpo_values_are_normalised_across_the_task_before_ranking() {
    // Provisional values say 1 is better; normalised across the two (weights 0.5/0.5, each reward
    // divided by the task's best) minus half the KL, 2 wins: 1 → 0.5·1 + 0.5·0.25 − 0.4 = 0.225,
    // 2 → 0.5·0.5 + 0.5·1 − 0.05 = 0.7.
    let results = [grpo(1, 0.9, &[1.0, 0.5], 0.8), grpo(2, 0.1, &[0.5, 2.0], 0.1)];
    let scores = score_task(TaskType::Grpo, &[0.5, 0.5], &results);
    assert!((scores[0].value.unwrap() - 0.225).abs() < 1e-12, "{scores:?}");
    assert!((scores[1].value.unwrap() - 0.7).abs() < 1e-12, "{scores:?}");
    assert_eq!(pair_winner(TaskType::Grpo, &[0.5, 0.5], &results), Some(Hotkey::synthetic(2)));
    // Without every repository's rewards, the provisional values stand.
    let partial = [grpo(1, 0.9, &[1.0, 0.5], 0.8), ok(2, 0.1)];
    assert_eq!(pair_winner(TaskType::Grpo, &[0.5, 0.5], &partial), Some(Hotkey::synthetic(1)));
}

#[test]
fn every_invalid_result_says_why() {
    let mut failed = r(1, RunStatus::Failure, None);
    failed.reason = Some("evaluation failed: no model at /output".into());
    let mut copy = ok(2, 0.3);
    copy.eval.is_finetune = Some(false);
    let scores = score_task(TaskType::InstructText, &[], &[failed, copy, ok(3, f64::NAN), ok(4, 0.9)]);
    let reasons: Vec<Option<&str>> = scores.iter().map(|s| s.reason.as_deref()).collect();
    assert_eq!(
        reasons,
        [
            Some("Evaluation failed: evaluation failed: no model at /output"),
            Some("Non-finetuned submission"),
            Some("Invalid test loss"),
            None
        ]
    );
    assert_eq!(scores.iter().map(|s| s.score).collect::<Vec<_>>(), [-1.0, -1.0, -1.0, 3.0]);
}

#[test]
fn a_boss_side_that_duplicates_the_other_later_has_no_value() {
    let at = |minute: i64| Some(chrono::DateTime::from_timestamp(1_800_000_000 + minute * 60, 0).unwrap());
    let house = Hotkey::synthetic(0);
    let mut h = TrainingResult::new(house.clone(), RunStatus::Success, Some(0.5));
    h.eval.collected_at = at(1);
    let mut c = ok(1, 0.5);
    c.eval.collected_at = at(2);
    let task = boss_task(TaskType::Dpo, &[], &[h, c], &house);
    assert_eq!((task.house, task.challenger), (Some(0.5), None));
    assert_eq!(task.winner(0.1), Some(Side::House));
}
