use proptest::prelude::*;

use super::*;
use crate::domain::ids::stable_hash;

/// How a hotkey's training on the task at an index ends.
type Outcome<'a> = dyn Fn(&Hotkey, usize) -> (TrainingStatus, Option<f64>) + 'a;

fn rules() -> Rules {
    Rules { house_hotkey: Hotkey::synthetic(u64::MAX), ..Rules::default() }
}

fn tid() -> TournamentId {
    TournamentId::new(0xabc, 2026, 11, 25)
}

/// Builds the task views of a planned round, every training finished by `outcome`.
fn play(round: u32, bracket: &Bracket, specs: &[TaskSpec], outcome: &Outcome<'_>) -> Vec<TaskView> {
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| TaskView {
            id: task_id(&tid(), round, i, 0),
            slot: spec.slot,
            task_type: spec.task_type,
            is_replacement: false,
            replaced: false,
            reward_weights: Vec::new(),
            trainings: trainees(bracket, spec.slot)
                .into_iter()
                .map(|hotkey| {
                    let (status, test_loss) = outcome(&hotkey, i);
                    TrainingView { hotkey, status, test_loss, synth_loss: None, eval: Default::default(), reason: None }
                })
                .collect(),
        })
        .collect()
}

/// Loss from a per-hotkey skill: lower hotkey numbers train better.
fn skill(hotkey: &Hotkey, _task: usize) -> (TrainingStatus, Option<f64>) {
    let noise = (stable_hash(hotkey.as_str().as_bytes()) % 1000) as f64 / 1000.0;
    (TrainingStatus::Success, Some(1.0 + noise))
}

fn run_tournament(n: u64, outcome: &Outcome<'_>) -> (Completion, u32) {
    let rules = rules();
    let field: Vec<Hotkey> = (0..n).map(Hotkey::synthetic).collect();
    let mut step = first_round(&tid(), TournamentType::Text, &field, &rules);
    for _ in 0..20 {
        match step {
            NextStep::Complete(done) => return (done, 0),
            NextStep::Round { number, bracket, tasks, .. } => {
                let mut views = play(number, &bracket, &tasks, outcome);
                let result = loop {
                    match round_step(&bracket, &views, 1, &rules) {
                        RoundStep::Decided(result) => break result,
                        RoundStep::Wait => panic!("a fully played round does not wait"),
                        RoundStep::Replace { tasks: ids } => {
                            for id in ids {
                                let at = views.iter().position(|v| v.id == id).expect("replaced task exists");
                                assert!(!views[at].is_replacement, "a replacement is never replaced");
                                views[at].replaced = true;
                                let mut replacement = views[at].clone();
                                replacement.id = task_id(&tid(), number, at, 1);
                                replacement.replaced = false;
                                replacement.is_replacement = true;
                                for t in &mut replacement.trainings {
                                    (t.status, t.test_loss) = outcome(&t.hotkey, at + 100);
                                }
                                views.push(replacement);
                            }
                        }
                    }
                };
                for w in &result.winners {
                    assert!(bracket.contains(w), "winners come from the round");
                }
                if bracket.is_final() {
                    let NextStep::Complete(done) =
                        next_step(&tid(), TournamentType::Text, number, true, &result, &rules)
                    else {
                        panic!("the boss round completes the tournament")
                    };
                    return (done, number);
                }
                step = next_step(&tid(), TournamentType::Text, number, false, &result, &rules);
            }
        }
    }
    panic!("no completion after 20 rounds")
}

#[test]
fn a_full_tournament_ends_with_a_boss_round() {
    let (done, rounds) = run_tournament(40, &skill);
    assert!(rounds >= 3, "groups, knockouts, boss: {rounds} rounds");
    assert!(done.performance_difference.is_finite());
}

#[test]
fn nobody_valid_means_the_champion_retains() {
    let (done, _) = run_tournament(10, &|_, _| (TrainingStatus::Failure, None));
    assert_eq!(done.winner, rules().house_hotkey);
}

#[test]
fn unfinished_trainings_make_the_round_wait() {
    let rules = rules();
    let NextStep::Round { bracket, tasks, .. } =
        first_round(&tid(), TournamentType::Text, &[Hotkey::synthetic(1), Hotkey::synthetic(2)], &rules)
    else {
        panic!("two miners play a round")
    };
    let mut views = play(1, &bracket, &tasks, &skill);
    views[0].trainings[0].status = TrainingStatus::Training;
    assert_eq!(round_step(&bracket, &views, 1, &rules), RoundStep::Wait);
}

#[test]
fn a_mostly_failed_task_is_replaced_once() {
    let rules = rules();
    let field: Vec<Hotkey> = (0..20).map(Hotkey::synthetic).collect();
    let NextStep::Round { bracket, tasks, .. } = first_round(&tid(), TournamentType::Text, &field, &rules) else {
        panic!("a group round")
    };
    let failing = |h: &Hotkey, _| {
        if stable_hash(h.as_str().as_bytes()).is_multiple_of(4) { skill(h, 0) } else { (TrainingStatus::Failure, None) }
    };
    let mut views = play(1, &bracket, &tasks, &failing);
    assert_eq!(round_step(&bracket, &views, 1, &rules), RoundStep::Replace { tasks: vec![views[0].id.clone()] });
    // Only the failed task needs replacing, and it does even while another task of the round runs:
    // a task ending is enough to tell.
    assert!(needs_replacement(&views[0]));
    assert!(views[1..].iter().all(|v| !needs_replacement(v)));
    let mut running = views[0].clone();
    running.trainings[0].status = TrainingStatus::Training;
    assert!(!needs_replacement(&running));
    let mut replacement = views[0].clone();
    views[0].replaced = true;
    assert!(!needs_replacement(&views[0]), "a replaced task is not replaced again");
    replacement.id = task_id(&tid(), 1, 0, 1);
    replacement.is_replacement = true;
    views.push(replacement);
    let RoundStep::Decided(outcome) = round_step(&bracket, &views, 1, &rules) else {
        panic!("proceeds after one replacement")
    };
    assert!(outcome.winners.len() <= 8);
    assert_eq!(outcome.winners.len() + outcome.eliminated.len(), 20);
}

#[test]
fn the_champion_streak_raises_the_bar_in_the_boss_round() {
    let rules = rules();
    let house = rules.house_hotkey.clone();
    let challenger = Hotkey::synthetic(1);
    let bracket = Bracket::Knockout { pairs: vec![[challenger.clone(), house.clone()]], is_final: true };
    let specs: Vec<TaskSpec> = (0..6)
        .map(|_| TaskSpec { slot: Slot::Pair(0), task_type: TaskType::InstructText, params_b: None, hours: None })
        .collect();
    // The challenger is 9 % better everywhere: enough against a threshold of 8 %, not of 10 %.
    let views =
        play(3, &bracket, &specs, &|h, _| (TrainingStatus::Success, Some(if *h == house { 1.0 } else { 0.91 })));
    let decided = |wins| match round_step(&bracket, &views, wins, &rules) {
        RoundStep::Decided(o) => o.winners,
        other => panic!("{other:?}"),
    };
    assert_eq!(decided(1), vec![house.clone()]);
    assert_eq!(decided(2), vec![challenger]);
}

#[test]
fn task_ids_are_stable_and_distinct() {
    assert_eq!(task_id(&tid(), 1, 0, 0), task_id(&tid(), 1, 0, 0));
    assert_ne!(task_id(&tid(), 1, 0, 0), task_id(&tid(), 1, 0, 1));
    assert_ne!(task_id(&tid(), 1, 0, 0), task_id(&tid(), 2, 0, 0));
    assert_eq!(task_id(&tid(), 1, 0, 0).as_str().len(), 36);
}

proptest! {
    #[test]
    fn every_tournament_completes(n in 1u64..120, fail_one_in in 2u64..10) {
        let outcome = move |h: &Hotkey, task: usize| {
            if (stable_hash(h.as_str().as_bytes()) + task as u64).is_multiple_of(fail_one_in) { (TrainingStatus::Failure, None) } else { skill(h, task) }
        };
        let (done, _) = run_tournament(n, &outcome);
        prop_assert!(done.winner == rules().house_hotkey || (0..n).any(|i| Hotkey::synthetic(i) == done.winner));
    }
}
