//! The operator's round-sanity overrides on one task of the current round: retry its failed trainings,
//! replace it, or accept it as it ends. Checked against the stored tournament, persisted in one
//! transaction; the actor then reloads and carries on (trainers for retried trainings, the round's
//! decision once every task has ended).

use std::rc::Rc;

use crate::actors::Runtime;
use crate::actors::control::{ControlError, TaskAction};
use crate::domain::task_scores::EvalFacts;
use crate::domain::{RoundStatus, TaskId, TaskStatus, TrainingEvent, TrainingStatus};
use crate::store::{StatusChange, TaskSnapshot, TournamentSnapshot, TrainingUpdate};

/// What an override will do, once checked.
pub enum Plan {
    Retry(Vec<crate::store::Training>),
    Replace,
    Accept,
}

/// Checks the override against the stored state: the task must be in the current, undecided round and
/// not replaced; retry and replace need every training of the task ended (and no trainer of it still
/// reporting: `busy`), retry at least one failure.
pub fn check(
    snapshot: &TournamentSnapshot,
    task: &TaskId,
    action: TaskAction,
    busy: bool,
) -> Result<Plan, ControlError> {
    let conflict = |m: String| Err(ControlError::Conflict(m));
    let Some(round) = snapshot.rounds.last() else {
        return conflict("the tournament has no round yet".into());
    };
    let Some(found) = snapshot.rounds.iter().flat_map(|r| &r.tasks).find(|t| &t.task.id == task) else {
        return Err(ControlError::NotFound(format!("task {task} is not in tournament {}", snapshot.tournament.id)));
    };
    if !round.tasks.iter().any(|t| &t.task.id == task) || round.round.round.status == RoundStatus::Completed {
        return conflict(format!("task {task} belongs to a decided round"));
    }
    if found.task.status == TaskStatus::Replaced {
        return conflict(format!("task {task} was replaced already"));
    }
    let ended = !busy && found.trainings.iter().all(|t| t.status.is_finished());
    match action {
        TaskAction::Accept if found.task.status == TaskStatus::Accepted => {
            conflict(format!("task {task} is accepted already"))
        }
        TaskAction::Accept => Ok(Plan::Accept),
        _ if !ended => conflict(format!("task {task} is still training: wait until its trainings have ended")),
        TaskAction::Replace => Ok(Plan::Replace),
        TaskAction::Retry => retryable(found),
    }
}

fn retryable(found: &TaskSnapshot) -> Result<Plan, ControlError> {
    let failed: Vec<_> = found.trainings.iter().filter(|t| t.status == TrainingStatus::Failure).cloned().collect();
    if failed.is_empty() {
        return Err(ControlError::Conflict(format!("task {} has no failed training to retry", found.task.id)));
    }
    Ok(Plan::Retry(failed))
}

/// Persists a checked override; returns what was done, in words.
pub async fn apply(
    rt: Rc<Runtime>,
    snapshot: TournamentSnapshot,
    task: TaskId,
    plan: Plan,
) -> Result<String, crate::store::StoreError> {
    let at = rt.clock.now();
    match plan {
        Plan::Replace => {
            let cause = "replaced by an operator";
            super::steps::replace_tasks(rt, snapshot, vec![task.clone()], cause).await?;
            Ok(format!("task {task} replaced"))
        }
        Plan::Accept => {
            let id = task.clone();
            rt.db
                .run(move |s| {
                    let change = StatusChange::new(
                        TaskStatus::Active,
                        TaskStatus::Accepted,
                        "accepted by an operator: round sanity will not replace it",
                        at,
                    );
                    s.set_task_status(&id, &change)
                })
                .await?;
            Ok(format!("task {task} accepted as it ends"))
        }
        Plan::Retry(failed) => {
            let count = failed.len();
            let max = rt.rules.training.max_training_attempts;
            rt.db
                .write(move |tx| {
                    for t in &failed {
                        let current = crate::domain::TrainingState {
                            status: t.status,
                            attempts: t.attempts,
                            failure_reason: t.failure_reason.clone(),
                        };
                        let state = current
                            .step(&TrainingEvent::Retried, max)
                            .map_err(|e| crate::store::StoreError::Conflict(e.to_string()))?;
                        let update = TrainingUpdate {
                            from: t.status,
                            state,
                            test_loss: None,
                            synth_loss: None,
                            eval: EvalFacts::default(),
                            cause: "retried by an operator".into(),
                            at,
                        };
                        tx.update_training(&t.task_id, &t.hotkey, &update)?;
                    }
                    Ok(())
                })
                .await?;
            Ok(format!("{count} failed training(s) of task {task} will run again"))
        }
    }
}
