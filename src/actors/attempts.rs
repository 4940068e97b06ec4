//! The records of an attempt's start, in one place for the two actors that write them: the GPU broker
//! writes them when it places a training (with the GPUs' holders, in the same transaction), and the
//! trainer reads the training as they leave it.

use chrono::{DateTime, Utc};

use crate::domain::gpu::Placement;
use crate::domain::task_scores::EvalFacts;
use crate::domain::{TrainingEvent, TrainingKey, TrainingState};
use crate::store::{NewAttempt, StoreError, Training, TrainingUpdate, Tx};

/// The records of an attempt starting on `placement` at `at`: the attempt row, the training's update,
/// and the training as it will be stored.
pub fn start_records(
    training: &Training,
    placement: &Placement,
    max_attempts: u32,
    at: DateTime<Utc>,
) -> Result<(NewAttempt, TrainingUpdate, Training), StoreError> {
    let state = TrainingState {
        status: training.status,
        attempts: training.attempts,
        failure_reason: training.failure_reason.clone(),
    };
    let next = state.step(&TrainingEvent::Started, max_attempts).map_err(|e| StoreError::Conflict(e.to_string()))?;
    let new = NewAttempt {
        task_id: training.task_id.clone(),
        hotkey: training.hotkey.clone(),
        node_id: Some(placement.node_id.clone()),
        gpu_ids: placement.gpu_indices.clone(),
        started_at: at,
    };
    let update = TrainingUpdate {
        from: training.status,
        state: next.clone(),
        test_loss: None,
        synth_loss: None,
        eval: EvalFacts::default(),
        cause: format!("attempt {} started on {} GPUs {:?}", next.attempts, placement.node_id, placement.gpu_indices),
        at,
    };
    let started = Training {
        status: next.status,
        attempts: next.attempts,
        failure_reason: next.failure_reason,
        updated_at: at,
        ..training.clone()
    };
    Ok((new, update, started))
}

/// Writes the start of an attempt with its GPU holders; returns the attempt's number.
pub fn persist_start(tx: &mut Tx<'_>, new: &NewAttempt, update: &TrainingUpdate) -> Result<u32, StoreError> {
    let number = tx.start_attempt(new)?;
    tx.update_training(&new.task_id, &new.hotkey, update)?;
    if let Some(node) = &new.node_id {
        let holder = TrainingKey::new(new.task_id.clone(), new.hotkey.clone());
        tx.set_gpu_holders(node.as_str(), &new.gpu_ids, Some(&holder), &update.cause, update.at)?;
    }
    Ok(number)
}
