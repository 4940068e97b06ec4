use chrono::TimeZone;

use super::*;

fn at(minute: u32) -> Option<DateTime<Utc>> {
    Some(Utc.with_ymd_and_hms(2026, 11, 29, 12, minute, 0).unwrap())
}

fn eval(n: u64, value: Result<f64, &str>, collected: Option<DateTime<Utc>>) -> Evaluation {
    Evaluation {
        hotkey: Hotkey::synthetic(n),
        value: value.map_err(str::to_owned),
        is_finetune: true,
        collected_at: collected,
    }
}

fn by_hotkey(scores: &[TaskScore], n: u64) -> &TaskScore {
    scores.iter().find(|s| s.hotkey == Hotkey::synthetic(n)).unwrap()
}

#[test]
fn the_best_loss_takes_three_the_other_valid_zero_and_the_invalid_minus_one() {
    let evaluations = vec![
        eval(1, Ok(0.9), at(1)),
        eval(2, Ok(0.4), at(2)),
        eval(3, Err("no model at the path"), at(3)),
        Evaluation { is_finetune: false, ..eval(4, Ok(0.1), at(4)) },
        eval(5, Ok(f64::NAN), at(5)),
    ];
    let scores = task_scores(TaskType::InstructText, &evaluations);
    assert_eq!(by_hotkey(&scores, 2).score, 3.0);
    assert_eq!(by_hotkey(&scores, 1).score, 0.0);
    assert_eq!(by_hotkey(&scores, 3).reason.as_deref(), Some("Evaluation failed: no model at the path"));
    assert_eq!(by_hotkey(&scores, 4).reason.as_deref(), Some("Non-finetuned submission"));
    assert_eq!(by_hotkey(&scores, 5).reason.as_deref(), Some("Invalid test loss"));
    for n in [3, 4, 5] {
        assert_eq!(by_hotkey(&scores, n).score, -1.0, "hotkey {n}");
    }
}

#[test]
fn with_no_valid_result_nobody_is_penalised() {
    let scores = task_scores(TaskType::Dpo, &[eval(1, Err("oom"), None), eval(2, Ok(f64::INFINITY), None)]);
    assert!(scores.iter().all(|s| s.score == 0.0 && !s.is_valid()));
}

#[test]
fn grpo_ranks_the_highest_reward_first_and_negative_rewards_are_valid() {
    let scores = task_scores(TaskType::Grpo, &[eval(1, Ok(-0.5), at(1)), eval(2, Ok(-0.1), at(2))]);
    assert_eq!(by_hotkey(&scores, 2).score, 3.0);
    assert_eq!(by_hotkey(&scores, 1).score, 0.0);
}

#[test]
fn exact_duplicates_are_decided_by_the_earliest_output() {
    let evaluations = vec![
        eval(1, Ok(0.5), at(9)),
        eval(2, Ok(0.5), at(3)),
        eval(3, Ok(0.5), None),
        eval(4, Ok(0.6), at(1)),
        eval(5, Ok(0.5000001), at(1)),
    ];
    let scores = task_scores(TaskType::InstructText, &evaluations);
    assert_eq!(by_hotkey(&scores, 2).score, 3.0, "the earliest of the equal losses keeps it and wins");
    for n in [1, 3] {
        let s = by_hotkey(&scores, n);
        assert_eq!((s.score, s.value, s.reason.as_deref()), (-1.0, None, Some("Duplicated submission")));
    }
    assert!(by_hotkey(&scores, 5).is_valid(), "only exact equality is a duplicate");
    // Nobody's output time known: all members are duplicates.
    let scores = task_scores(TaskType::InstructText, &[eval(1, Ok(0.5), None), eval(2, Ok(0.5), None)]);
    assert!(scores.iter().all(|s| s.reason.as_deref() == Some("Duplicated submission") && s.score == 0.0));
}

#[test]
fn above_eight_valid_results_the_bottom_quarter_is_penalised() {
    let evaluations: Vec<Evaluation> = (0..9).map(|n| eval(n, Ok(1.0 + n as f64), at(n as u32))).collect();
    let scores = task_scores(TaskType::InstructText, &evaluations);
    assert_eq!(scores.iter().map(|s| s.score).collect::<Vec<_>>(), [3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, -1.0]);
    let evaluations: Vec<Evaluation> = (0..12).map(|n| eval(n, Ok(1.0 + n as f64), at(n as u32))).collect();
    let penalised = task_scores(TaskType::InstructText, &evaluations).iter().filter(|s| s.score == -1.0).count();
    assert_eq!(penalised, 3, "int(0.25 × 12)");
    let evaluations: Vec<Evaluation> = (0..8).map(|n| eval(n, Ok(1.0 + n as f64), at(n as u32))).collect();
    assert!(task_scores(TaskType::InstructText, &evaluations).iter().all(|s| s.score >= 0.0), "8 valid: no penalty");
}

#[test]
fn the_order_results_arrive_in_does_not_change_the_scores() {
    let evaluations = vec![eval(1, Ok(0.3), at(2)), eval(2, Ok(0.3), at(2)), eval(3, Ok(0.2), at(1))];
    let mut reversed = evaluations.clone();
    reversed.reverse();
    let mut a = task_scores(TaskType::InstructText, &evaluations);
    let mut b = task_scores(TaskType::InstructText, &reversed);
    a.sort_by(|x, y| x.hotkey.cmp(&y.hotkey));
    b.sort_by(|x, y| x.hotkey.cmp(&y.hotkey));
    assert_eq!(a, b);
}

fn raw(n: u64, rewards: &[f64], kl: f64) -> GrpoRaw {
    GrpoRaw { hotkey: Hotkey::synthetic(n), rewards: rewards.to_vec(), kl_divergence: kl }
}

#[test]
fn grpo_rewards_are_normalised_across_repositories_weighted_and_lose_half_the_kl() {
    // Function 0: [2, 4, 1] / 4 → [0.5, 1, 0.25]; function 1: [-1, 1, 3] shifted by 1 → [0, 2, 4] / 4.
    let raws = [raw(1, &[2.0, -1.0], 0.2), raw(2, &[4.0, 1.0], 0.0), raw(3, &[1.0, 3.0], 1.0)];
    let values = grpo_values(&raws, &[0.75, 0.25]);
    let expected = [0.75 * 0.5 + 0.25 * 0.0 - 0.1, 0.75 * 1.0 + 0.25 * 0.5, 0.75 * 0.25 + 0.25 * 1.0 - 0.5];
    for ((hotkey, value), (n, want)) in values.iter().zip([1, 2, 3].into_iter().zip(expected)) {
        assert_eq!(*hotkey, Hotkey::synthetic(n));
        assert!((value - want).abs() < 1e-12, "{n}: {value} vs {want}");
    }
}

#[test]
fn two_repositories_with_a_negative_reward_get_a_quarter_and_three_quarters() {
    let values = grpo_values(&[raw(1, &[-3.0], 0.0), raw(2, &[-1.0], 0.0)], &[1.0]);
    assert_eq!(values.iter().map(|(_, v)| *v).collect::<Vec<_>>(), [0.25, 0.75]);
    // All zero rewards: everyone 1.0 (nothing to divide by).
    let values = grpo_values(&[raw(1, &[0.0], 0.0), raw(2, &[0.0], 0.0), raw(3, &[0.0], 0.0)], &[1.0]);
    assert!(values.iter().all(|(_, v)| *v == 1.0));
}
