//! How a tournament moves forward (tournament-rules.md §4, §5, §7): given what is known of a round, decide
//! what happens next. Level-triggered: the decision depends only on the current state, so an actor
//! restarted from the store asks again and gets the same answer.

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::bracket::{Advance, Bracket, advance};
use super::ids::{Hotkey, TaskId, TournamentId, round_seed};
use super::kinds::{RunStatus, TaskType, TournamentType};
use super::rules::Rules;
use super::scoring::{
    BossDecision, BossTask, Sanity, Side, TrainingResult, boss_task, decide_boss, group_winners, pair_winner,
    task_sanity,
};
use super::state::TrainingStatus;
use super::task_scores::EvalFacts;
use super::tasks::{Slot, TaskSpec, plan_round};

/// One training as progression sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingView {
    pub hotkey: Hotkey,
    pub status: TrainingStatus,
    pub test_loss: Option<f64>,
    pub synth_loss: Option<f64>,
    #[serde(default)]
    pub eval: EvalFacts,
    /// Why the training failed, when it did.
    #[serde(default)]
    pub reason: Option<String>,
}

impl TrainingView {
    fn result(&self) -> Option<TrainingResult> {
        let status = self.status.outcome()?;
        Some(TrainingResult {
            hotkey: self.hotkey.clone(),
            status,
            test_loss: self.test_loss,
            synth_loss: self.synth_loss,
            eval: self.eval.clone(),
            reason: self.reason.clone(),
        })
    }
}

/// One task of a round; a replaced task stays in the view but no longer counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskView {
    pub id: TaskId,
    pub slot: Slot,
    pub task_type: TaskType,
    /// This task replaces an earlier one (round sanity replaces a task at most once).
    pub is_replacement: bool,
    /// This task was superseded by a replacement.
    pub replaced: bool,
    /// GRPO: the weights of the task's reward functions, in order.
    #[serde(default)]
    pub reward_weights: Vec<f64>,
    pub trainings: Vec<TrainingView>,
}

impl TaskView {
    fn finished(&self) -> bool {
        self.trainings.iter().all(|t| t.status.is_finished())
    }

    fn results(&self) -> Vec<TrainingResult> {
        self.trainings.iter().filter_map(TrainingView::result).collect()
    }
}

/// What the round's live tasks say now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum RoundStep {
    /// Trainings are still running.
    Wait,
    /// These finished tasks failed round sanity: give each a replacement of the same type and slot.
    Replace { tasks: Vec<TaskId> },
    /// Every live task is finished: the round is decided.
    Decided(RoundOutcome),
}

/// A decided round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundOutcome {
    /// Who advances, in bracket order.
    pub winners: Vec<Hotkey>,
    /// Players of the round who did not advance.
    pub eliminated: Vec<Hotkey>,
    /// Knockout rounds: the winner of each pair, by pair index.
    pub pair_winners: Vec<Option<Hotkey>>,
    /// The boss round's decision.
    pub boss: Option<BossDecision>,
}

/// Whether a live task has finished and failed round sanity: [`round_step`] replaces it. A task that
/// ends while others of its round still run and needs no replacement leaves the round waiting.
pub fn needs_replacement(task: &TaskView) -> bool {
    if task.replaced || !task.finished() {
        return false;
    }
    let statuses: Vec<RunStatus> = task.results().iter().map(|r| r.status).collect();
    task_sanity(&statuses, task.is_replacement) == Sanity::Replace
}

/// Decides the step of a round from its bracket and tasks.
/// `champion_wins` is the defending champion's streak, which sets the boss-round threshold.
pub fn round_step(bracket: &Bracket, tasks: &[TaskView], champion_wins: u32, rules: &Rules) -> RoundStep {
    let house = &rules.house_hotkey;
    let live: Vec<&TaskView> = tasks.iter().filter(|t| !t.replaced).collect();
    let to_replace: Vec<TaskId> = live.iter().filter(|t| needs_replacement(t)).map(|t| t.id.clone()).collect();
    if !to_replace.is_empty() {
        return RoundStep::Replace { tasks: to_replace };
    }
    if !live.iter().all(|t| t.finished()) {
        return RoundStep::Wait;
    }
    let on_slot = |slot: Slot| live.iter().filter(move |t| t.slot == slot);
    let (winners, pair_winners, boss) = match bracket {
        Bracket::Groups { groups } => {
            let winners = (0..groups.len())
                .flat_map(|i| {
                    on_slot(Slot::Group(i))
                        .flat_map(|t| group_winners(t.task_type, &t.reward_weights, &t.results(), &rules.scoring))
                })
                .fold(Vec::new(), |mut all, h| {
                    if !all.contains(&h) {
                        all.push(h);
                    }
                    all
                });
            (winners, Vec::new(), None)
        }
        Bracket::Knockout { pairs, is_final: true } => {
            let [a, b] = &pairs[0];
            let challenger = if a == house { b } else { a };
            let boss_tasks: Vec<BossTask> = on_slot(Slot::Pair(0))
                .map(|t| boss_task(t.task_type, &t.reward_weights, &t.results(), house))
                .collect();
            let decision = decide_boss(champion_wins, &boss_tasks, &rules.scoring);
            let winner = match decision.winner {
                Side::House => house.clone(),
                Side::Challenger => challenger.clone(),
            };
            (vec![winner.clone()], vec![Some(winner)], Some(decision))
        }
        Bracket::Knockout { pairs, .. } => {
            let pair_winners: Vec<Option<Hotkey>> = (0..pairs.len())
                .map(|i| on_slot(Slot::Pair(i)).find_map(|t| pair_winner(t.task_type, &t.reward_weights, &t.results())))
                .collect();
            (pair_winners.iter().flatten().cloned().collect(), pair_winners, None)
        }
    };
    let eliminated = bracket.players().into_iter().filter(|h| !winners.contains(h)).cloned().collect();
    RoundStep::Decided(RoundOutcome { winners, eliminated, pair_winners, boss })
}

/// How the tournament ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// The challenger who took the title, or the house when the champion keeps it.
    pub winner: Hotkey,
    pub performance_difference: f64,
}

/// What follows a decided round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "next", rename_all = "snake_case")]
pub enum NextStep {
    Round { number: u32, seed: u64, bracket: Bracket, tasks: Vec<TaskSpec> },
    Complete(Completion),
}

/// The step after round `number` with `outcome`: the boss round's decision completes the tournament,
/// otherwise the winners advance into a new round drawn from that round's stored seed.
pub fn next_step(
    tournament: &TournamentId,
    tournament_type: TournamentType,
    number: u32,
    was_final: bool,
    outcome: &RoundOutcome,
    rules: &Rules,
) -> NextStep {
    let house = &rules.house_hotkey;
    if was_final {
        let (winner, difference) = match &outcome.boss {
            Some(d) => (outcome.winners.first().cloned().unwrap_or_else(|| house.clone()), d.performance_difference),
            None => (house.clone(), 0.0),
        };
        return NextStep::Complete(Completion { winner, performance_difference: difference });
    }
    let next = number + 1;
    let seed = round_seed(tournament, next);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    match advance(&outcome.winners, house, &rules.bracket, &mut rng) {
        Advance::ChampionRetains { .. } => {
            NextStep::Complete(Completion { winner: house.clone(), performance_difference: 0.0 })
        }
        Advance::Round { bracket } => {
            let tasks = plan_round(tournament_type, &bracket, &rules.tasks, &mut rng);
            NextStep::Round { number: next, seed, bracket, tasks }
        }
    }
}

/// The first round for the admitted miners.
pub fn first_round(
    tournament: &TournamentId,
    tournament_type: TournamentType,
    admitted: &[Hotkey],
    rules: &Rules,
) -> NextStep {
    let seed = round_seed(tournament, 1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let bracket = super::bracket::organise(admitted, &rules.house_hotkey, &rules.bracket, &mut rng);
    let tasks = plan_round(tournament_type, &bracket, &rules.tasks, &mut rng);
    NextStep::Round { number: 1, seed, bracket, tasks }
}

/// The id of the task at `index` of round `round`; `generation` counts replacements (0 for the
/// original), so a replayed tournament gets the same ids.
pub fn task_id(tournament: &TournamentId, round: u32, index: usize, generation: u32) -> TaskId {
    TaskId::derived(&format!("{tournament}/{round}/{index}/{generation}"))
}

/// Who trains on a task in `slot` of `bracket`: the group's members, the pair, or (boss) both sides.
pub fn trainees(bracket: &Bracket, slot: Slot) -> Vec<Hotkey> {
    match (bracket, slot) {
        (Bracket::Groups { groups }, Slot::Group(i)) => groups.get(i).cloned().unwrap_or_default(),
        (Bracket::Knockout { pairs, .. }, Slot::Pair(i)) => pairs.get(i).map(|p| p.to_vec()).unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
#[path = "progress_tests.rs"]
mod tests;
