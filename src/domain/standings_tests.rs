use super::*;
use crate::domain::RunStatus;

fn r(n: u64, status: RunStatus, loss: Option<f64>) -> TrainingResult {
    TrainingResult::new(Hotkey::synthetic(n), status, loss)
}

fn ok(n: u64, loss: f64) -> TrainingResult {
    r(n, RunStatus::Success, Some(loss))
}

fn scores(task_type: TaskType, results: &[TrainingResult]) -> Vec<f64> {
    quality_scores(task_type, &[], results).into_iter().map(|s| s.score).collect()
}

#[test]
fn the_lowest_loss_ranks_first_and_a_failure_is_penalised() {
    let results = [ok(1, 0.8), ok(2, 0.5), r(3, RunStatus::Failure, None), ok(4, 0.9)];
    let got = quality_scores(TaskType::InstructText, &[], &results);
    assert_eq!(got.iter().map(|s| s.score).collect::<Vec<_>>(), [0.0, 3.0, -1.0, 0.0]);
    assert_eq!(got[1].reason.as_deref(), Some("Ranked 1st by test_loss"));
    assert_eq!(got[0].reason.as_deref(), Some("Ranked below top 1 by test_loss"));
    assert_eq!(got[2].reason, None, "a failed run keeps its own reason");
    assert_eq!(got[2].hotkey, Hotkey::synthetic(3));
}

#[test]
fn grpo_ranks_the_highest_reward_first() {
    let results = [ok(1, 0.2), ok(2, 0.9), ok(3, 0.5)];
    let got = quality_scores(TaskType::Grpo, &[], &results);
    assert_eq!(got.iter().map(|s| s.score).collect::<Vec<_>>(), [0.0, 3.0, 0.0]);
    assert_eq!(got[1].reason.as_deref(), Some("Ranked 1st by GRPO score (bigger is better)"));
    assert_eq!(scores(TaskType::Dpo, &results), [3.0, 0.0, 0.0], "DPO ranks by loss");
}

#[test]
fn with_no_valid_result_every_score_is_zero() {
    let results =
        [r(1, RunStatus::Failure, None), r(2, RunStatus::Success, Some(f64::NAN)), r(3, RunStatus::Success, None)];
    let got = quality_scores(TaskType::InstructText, &[], &results);
    assert_eq!(got.iter().map(|s| s.score).collect::<Vec<_>>(), [0.0, 0.0, 0.0]);
    assert_eq!(got[1].reason.as_deref(), Some("Invalid test loss"));
    assert!(quality_scores(TaskType::Image, &[], &[]).is_empty());
}

#[test]
fn eight_valid_results_have_no_bottom_quarter() {
    let results: Vec<TrainingResult> = (1..=8).map(|i| ok(i, i as f64)).collect();
    assert_eq!(scores(TaskType::Chat, &results), [3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
}

#[test]
fn above_eight_valid_results_the_bottom_quarter_is_penalised() {
    // 9 valid: ⌊9/4⌋ = 2 penalised (places 8 and 9); 12 valid: 3 penalised; the invalid one as well.
    let nine: Vec<TrainingResult> = (1..=9).map(|i| ok(i, i as f64 / 10.0)).collect();
    assert_eq!(scores(TaskType::InstructText, &nine), [3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, -1.0]);
    let got = quality_scores(TaskType::InstructText, &[], &nine);
    assert_eq!(got[8].reason.as_deref(), Some("Bottom 25% ranked by test_loss"));
    let mut twelve: Vec<TrainingResult> = (1..=12).rev().map(|i| ok(i, i as f64)).collect();
    twelve.push(r(13, RunStatus::Success, Some(f64::INFINITY)));
    let want = [-1.0, -1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0, -1.0];
    assert_eq!(scores(TaskType::InstructText, &twelve), want);
}

#[test]
fn exactly_equal_results_are_one_submission_kept_by_the_earliest_output() {
    let at = |minute: i64| Some(chrono::DateTime::from_timestamp(1_800_000_000 + minute * 60, 0).unwrap());
    let mut early = ok(2, 0.5);
    early.eval.collected_at = at(1);
    let mut late = ok(1, 0.5);
    late.eval.collected_at = at(2);
    let got = quality_scores(TaskType::InstructText, &[], &[early, late, ok(3, 0.7)]);
    assert_eq!(got.iter().map(|s| s.score).collect::<Vec<_>>(), [3.0, -1.0, 0.0]);
    assert_eq!(got[1].reason.as_deref(), Some("Duplicated submission"));
    // With no output time known, every member of the group is a duplicate (as the reference does).
    assert_eq!(scores(TaskType::InstructText, &[ok(2, 0.5), ok(1, 0.5)]), [0.0, 0.0]);
}

#[test]
fn a_non_finetuned_result_is_invalid_but_keeps_its_value() {
    let mut copy = ok(1, 0.2);
    copy.eval.is_finetune = Some(false);
    let got = quality_scores(TaskType::InstructText, &[], &[copy.clone(), ok(2, 0.4)]);
    assert_eq!(got.iter().map(|s| s.score).collect::<Vec<_>>(), [-1.0, 3.0]);
    assert_eq!(got[0].reason.as_deref(), Some("Non-finetuned submission"));
    // A group still ranks it (the tournament assumes is_finetune there); a knockout never gives it the task.
    let ranked = crate::domain::scoring::ranking(TaskType::InstructText, &[], &[copy.clone(), ok(2, 0.4)]);
    assert_eq!(ranked.first().map(|(h, _)| h.clone()), Some(Hotkey::synthetic(1)));
    let winner = crate::domain::scoring::pair_winner(TaskType::InstructText, &[], &[copy, ok(2, 0.4)]);
    assert_eq!(winner, Some(Hotkey::synthetic(2)));
}

#[test]
fn the_real_winner_is_the_champion_the_house_stood_in_for() {
    let (house, a, b) = (Hotkey::synthetic(0), Hotkey::synthetic(1), Hotkey::synthetic(2));
    assert_eq!(real_winner(Some(&house), Some(&a), &house), Some(&a));
    assert_eq!(real_winner(Some(&house), None, &house), Some(&house));
    assert_eq!(real_winner(Some(&b), Some(&a), &house), Some(&b));
    assert_eq!(real_winner(None, Some(&a), &house), None);
}

#[test]
fn final_scores_weigh_rounds_and_leave_out_the_winner() {
    let (house, a, b, c) = (Hotkey::synthetic(0), Hotkey::synthetic(1), Hotkey::synthetic(2), Hotkey::synthetic(3));
    let wins = [(1, &b), (1, &a), (1, &c), (2, &a), (2, &house), (3, &b), (4, &house)];
    // The winner a earns nothing; with no champion, the house scores like anyone else.
    let got = final_scores(wins, Some(&a), None, &house, 0.15);
    let want = [(b.clone(), 0.15 + 3.0 * 0.15), (c.clone(), 0.15), (house.clone(), 2.0 * 0.15 + 4.0 * 0.15)];
    assert_eq!(got.len(), want.len());
    for ((h, s), (wh, ws)) in got.iter().zip(&want) {
        assert_eq!(h, wh);
        assert!((s - ws).abs() < 1e-12, "{h}: {s} vs {ws}");
    }
    // The house defended for champion b: b and the house earn nothing.
    let got = final_scores(wins, Some(&house), Some(&b), &house, 0.10);
    assert_eq!(got.iter().map(|(h, _)| h.clone()).collect::<Vec<_>>(), [a.clone(), c.clone()]);
    assert!((got[0].1 - 0.3).abs() < 1e-12 && (got[1].1 - 0.1).abs() < 1e-12, "{got:?}");
    // A challenger took the title from champion b: the house's wins still earn nothing.
    let got = final_scores(wins, Some(&c), Some(&b), &house, 0.10);
    assert_eq!(got.iter().map(|(h, _)| h.clone()).collect::<Vec<_>>(), [b, a]);
}

#[test]
fn the_next_champion_and_its_streak_follow_the_titles() {
    let (house, x, y) = (Hotkey::synthetic(999), Hotkey::synthetic(1), Hotkey::synthetic(2));
    // Newest first, as (winner, base_winner).
    type Titles<'a> = Vec<(Option<&'a Hotkey>, Option<&'a Hotkey>)>;
    let table: Vec<(Titles<'_>, Option<&Hotkey>, u32)> = vec![
        (vec![], None, 0),
        // The house won the first tournament: it is the champion the next one records.
        (vec![(Some(&house), None)], Some(&house), 1),
        // ... and held again for itself.
        (vec![(Some(&house), Some(&house)), (Some(&house), None)], Some(&house), 2),
        // A challenger took the title from the house.
        (vec![(Some(&x), Some(&house)), (Some(&house), None)], Some(&x), 1),
        // The house held for x, then x won again as a challenger: three titles in a row.
        (vec![(Some(&x), Some(&x)), (Some(&house), Some(&x)), (Some(&x), None)], Some(&x), 3),
        // y ends x's run.
        (vec![(Some(&y), Some(&x)), (Some(&house), Some(&x)), (Some(&x), None)], Some(&y), 1),
    ];
    for (titles, champion, wins) in table {
        let got = next_champion(titles.iter().copied(), &house);
        assert_eq!(got, (champion.cloned(), wins), "{titles:?}");
    }
}
