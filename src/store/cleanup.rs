//! Start-up bookkeeping for tournaments that ended (an operator cancelled them) while trainings were
//! running or waiting, then the validator stopped: nobody follows those trainings any more (only live
//! tournaments are restored). Their open attempts are closed and their GPUs freed, which would
//! otherwise stay held for ever, and trainings still waiting fail with the reason.
//!
//! A closed attempt's run may still be going on: the local executor's start-up reap removes its
//! container (no open attempt claims it any more); a remote node finishes it, and refuses starts on its
//! GPUs until then (those starts cost no attempt).

use chrono::{DateTime, Utc};

use super::{AttemptEnd, StoreError, TrainingUpdate, Tx};
use crate::domain::task_scores::EvalFacts;
use crate::domain::{RunStatus, TrainingEvent, TrainingState, TrainingStatus};

impl Tx<'_> {
    /// Ends every open attempt of a finished tournament as failed, frees its GPUs and fails its
    /// training with the reason; fails its trainings still waiting. Returns how many it closed.
    pub fn close_attempts_of_ended_tournaments(&mut self, at: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut closed = 0;
        for attempt in self.open_attempts()? {
            let task = self.get_task(&attempt.task_id)?;
            let tournament = self.get_tournament(&task.tournament_id)?;
            if !tournament.status.is_finished() {
                continue;
            }
            let reason = format!("the tournament was {} while this attempt ran", tournament.status);
            let end = AttemptEnd { outcome: RunStatus::Failure, reason: Some(reason.clone()), at, image: None };
            self.finish_attempt(&attempt.task_id, &attempt.hotkey, attempt.attempt, &end)?;
            if let Some(node) = &attempt.node_id {
                self.set_gpu_holders(node.as_str(), &attempt.gpu_ids, None, &reason, at)?;
            }
            let training = self.get_training(&attempt.task_id, &attempt.hotkey)?;
            if training.status == TrainingStatus::Training {
                let update = TrainingUpdate {
                    from: training.status,
                    state: TrainingState {
                        status: TrainingStatus::Failure,
                        attempts: training.attempts,
                        failure_reason: Some(reason.clone()),
                    },
                    test_loss: None,
                    synth_loss: None,
                    eval: EvalFacts::default(),
                    cause: reason,
                    at,
                };
                self.update_training(&attempt.task_id, &attempt.hotkey, &update)?;
            }
            closed += 1;
        }
        let mut ended: std::collections::HashMap<crate::domain::TournamentId, bool> = Default::default();
        for training in self.trainings_in(TrainingStatus::Pending)? {
            let tournament = self.get_task(&training.task_id)?.tournament_id;
            let finished = match ended.get(&tournament) {
                Some(finished) => *finished,
                None => {
                    let finished = self.get_tournament(&tournament)?.status.is_finished();
                    ended.insert(tournament, finished);
                    finished
                }
            };
            if !finished {
                continue;
            }
            let reason = "the tournament ended before this training ran".to_owned();
            let current = TrainingState { status: training.status, attempts: training.attempts, failure_reason: None };
            let state = current
                .step(&TrainingEvent::Abandoned { reason: reason.clone() }, u32::MAX)
                .map_err(|e| StoreError::Conflict(e.to_string()))?;
            let update = TrainingUpdate {
                from: training.status,
                state,
                test_loss: None,
                synth_loss: None,
                eval: EvalFacts::default(),
                cause: reason,
                at,
            };
            self.update_training(&training.task_id, &training.hotkey, &update)?;
            closed += 1;
        }
        Ok(closed)
    }
}
