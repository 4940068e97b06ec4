//! Start-up bookkeeping: attempts still open for tournaments that have ended. An operator cancelled
//! the tournament while they ran, then the validator stopped before they finished; nobody follows them
//! any more (only live tournaments are restored), so their GPUs would stay held for ever.

use chrono::{DateTime, Utc};

use super::{AttemptEnd, StoreError, TrainingUpdate, Tx};
use crate::domain::{RunStatus, TrainingState, TrainingStatus};

impl Tx<'_> {
    /// Ends every open attempt of a finished tournament as failed, frees its GPUs and fails its
    /// training with the reason. Returns how many attempts it closed.
    pub fn close_attempts_of_ended_tournaments(&mut self, at: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut closed = 0;
        for attempt in self.open_attempts()? {
            let task = self.get_task(&attempt.task_id)?;
            let tournament = self.get_tournament(&task.tournament_id)?;
            if !tournament.status.is_finished() {
                continue;
            }
            let reason = format!("the tournament was {} while this attempt ran", tournament.status);
            let end = AttemptEnd { outcome: RunStatus::Failure, reason: Some(reason.clone()), at };
            self.finish_attempt(&attempt.task_id, &attempt.hotkey, attempt.attempt, &end)?;
            if let Some(node) = &attempt.node_id {
                self.set_gpu_holders(node, &attempt.gpu_ids, None, &reason, at)?;
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
                    cause: reason,
                    at,
                };
                self.update_training(&attempt.task_id, &attempt.hotkey, &update)?;
            }
            closed += 1;
        }
        Ok(closed)
    }
}
