//! What a training writes: the records of an attempt's end (with the GPUs freed), and of a training
//! abandoned because its tournament was cancelled. Each is one atomic write (group-committed). An
//! attempt's start is written by the broker with its GPU holders (`actors::attempts`).

use super::*;

/// The tournament ended (was cancelled) before this training could run: it fails, saying so.
pub(super) async fn abandon(rt: &Runtime, training: Training) -> Result<Training, StoreError> {
    let reason = "the tournament was cancelled before this training ran".to_owned();
    let current = TrainingState {
        status: training.status,
        attempts: training.attempts,
        failure_reason: training.failure_reason.clone(),
    };
    let state = current
        .step(&TrainingEvent::Abandoned { reason: reason.clone() }, rt.rules.training.max_training_attempts)
        .map_err(|e| StoreError::Conflict(e.to_string()))?;
    let at = rt.clock.now();
    let update = TrainingUpdate {
        from: training.status,
        state: state.clone(),
        test_loss: None,
        synth_loss: None,
        eval: EvalFacts::default(),
        cause: reason,
        at,
    };
    let (task, hotkey) = (training.task_id.clone(), training.hotkey.clone());
    rt.db.write(move |tx| tx.update_training(&task, &hotkey, &update)).await?;
    Ok(Training { status: state.status, failure_reason: state.failure_reason, updated_at: at, ..training })
}

/// Records how an attempt ended and frees its GPUs, in one transaction. `attempt` is `None` when a
/// restored training had no open attempt to close.
pub(super) async fn finish(
    rt: &Runtime,
    template: &JobTemplate,
    training: Training,
    attempt: Option<(u32, Placement)>,
    outcome: RunOutcome,
) -> Result<Training, StoreError> {
    let number = attempt.as_ref().map_or(training.attempts, |(n, _)| *n);
    let at = rt.clock.now();
    metrics::counter!("crucible_training_attempts_total", "outcome" => outcome.kind()).increment(1);
    let (scores, eval) = match &outcome {
        // The output's time decides exact duplicates; an executor that does not know it ended now.
        RunOutcome::Success { test_loss, synth_loss, eval: facts } => (
            (Some(*test_loss), *synth_loss),
            EvalFacts { collected_at: facts.collected_at.or(Some(at)), ..facts.clone() },
        ),
        _ => ((None, None), EvalFacts::default()),
    };
    let cause = match &outcome {
        RunOutcome::Success { .. } => format!("attempt {number} succeeded"),
        RunOutcome::Failed { reason, .. } => format!("attempt {number} failed: {reason}"),
        RunOutcome::NotStarted { reason } => format!("attempt {number} did not start: {reason}"),
        RunOutcome::Unfetchable { reason } => format!("repository unfetchable: {reason}"),
        RunOutcome::NodeUnreachable { reason, during_run: true } => {
            format!("attempt {number} lost with its node: {reason}")
        }
        RunOutcome::NodeUnreachable { reason, during_run: false } => {
            format!("attempt {number} did not start, node unreachable: {reason}")
        }
    };
    let event = outcome.training_event();
    let state = TrainingState {
        status: training.status,
        attempts: training.attempts,
        failure_reason: training.failure_reason.clone(),
    };
    let next =
        state.step(&event, rt.rules.training.max_training_attempts).map_err(|e| StoreError::Conflict(e.to_string()))?;
    let end = AttemptEnd {
        outcome: if matches!(outcome, RunOutcome::Success { .. }) { RunStatus::Success } else { RunStatus::Failure },
        reason: outcome.reason().map(str::to_owned),
        at,
        image: outcome.image().map(str::to_owned),
    };
    let update = TrainingUpdate {
        from: training.status,
        state: next.clone(),
        test_loss: scores.0,
        synth_loss: scores.1,
        eval: eval.clone(),
        cause,
        at,
    };
    let (task, hotkey) = (training.task_id.clone(), training.hotkey.clone());
    rt.db
        .write(move |tx| {
            if let Some((number, placement)) = &attempt {
                tx.finish_attempt(&task, &hotkey, *number, &end)?;
                tx.set_gpu_holders(placement.node_id.as_str(), &placement.gpu_indices, None, &update.cause, at)?;
            }
            tx.update_training(&task, &hotkey, &update)
        })
        .await?;
    let done = Training {
        status: next.status,
        attempts: next.attempts,
        failure_reason: next.failure_reason.clone(),
        test_loss: scores.0,
        synth_loss: scores.1,
        eval,
        updated_at: at,
        ..training
    };
    tracing::info!(status = %done.status, attempts = done.attempts, reason = ?done.failure_reason, "attempt ended");
    let _ = rt.events.send(Event::TrainingEnded {
        id: template.job.tournament_id.clone(),
        task: done.task_id.clone(),
        hotkey: done.hotkey.clone(),
        status: done.status,
        reason: done.failure_reason.clone(),
        test_loss: done.test_loss,
        at,
    });
    Ok(done)
}
