//! TrainerActor: one per (task, hotkey) training. Reserves GPUs through the broker, runs each attempt
//! through the executor, persists every start and end, and releases the GPUs the moment a run ends.
//!
//! Messages: none from outside; it reports `TrainingEnded` to its tournament once the training is
//! final (success or failure), or once its tournament has ended (cancelled) and it stops trying.
//!
//! Restart policy = the training retry policy: at most `max_training_attempts` real starts; a run that
//! could not start costs no attempt; an unfetchable repository fails at once. A node that does not
//! answer is fenced in the broker (`FenceNode`) before the GPUs are released, so the next attempt goes
//! elsewhere; a run lost with its node counts as a failed attempt, a start that never reached it does
//! not. A training found in
//! `training` after a validator restart is followed again through `Executor::reattach`, or counted as a
//! lost run when the executor cannot see it any more. A store failure restarts the whole drive from
//! the stored state after a pause.

use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;
use tracing::Instrument;

use super::Runtime;
use super::events::Event;
use super::gpu_broker::{FenceNode, GpuError, ReleaseGpus, RequestGpus};
use crate::domain::gpu::{Placement, requirement};
use crate::domain::{JobPriority, RunStatus, TrainingEvent, TrainingState, TrainingStatus};
use crate::exec::{RunOutcome, TrainingJob};
use crate::store::{AttemptEnd, NewAttempt, StoreError, Training, TrainingUpdate, Tx};

/// A training became final (or its tournament ended and it stopped trying).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct TrainingEnded {
    pub training: Training,
}

/// Everything of a job but the attempt and the GPUs.
#[derive(Debug, Clone)]
pub struct JobTemplate {
    pub job: TrainingJob,
    /// Orders this training among waiting ones (its task's creation, in ms).
    pub enqueued: i64,
}

pub struct TrainerActor {
    rt: Rc<Runtime>,
    template: JobTemplate,
    training: Training,
    owner: Recipient<TrainingEnded>,
}

/// How long to wait before asking again when no node can host the job, or the store failed.
const PAUSE: Duration = Duration::from_secs(600);

impl TrainerActor {
    pub fn new(rt: Rc<Runtime>, template: JobTemplate, training: Training, owner: Recipient<TrainingEnded>) -> Self {
        Self { rt, template, training, owner }
    }
}

impl Actor for TrainerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let (rt, template, training) = (self.rt.clone(), self.template.clone(), self.training.clone());
        let span = tracing::info_span!(
            "training",
            tournament = %template.job.tournament_id,
            task = %training.task_id,
            hotkey = %training.hotkey
        );
        let drive = drive_until_final(rt, template, training).instrument(span);
        ctx.spawn(drive.into_actor(self).map(|training, act, ctx| {
            act.owner.do_send(TrainingEnded { training });
            ctx.stop();
        }));
    }
}

fn key(t: &Training) -> String {
    format!("{}/{}", t.task_id, t.hotkey)
}

async fn drive_until_final(rt: Rc<Runtime>, template: JobTemplate, mut training: Training) -> Training {
    loop {
        match drive(&rt, &template, training.clone()).await {
            Ok(done) => return done,
            Err(e) => {
                tracing::error!(training = %key(&training), error = %e, "store failed; resuming from the stored state");
                tokio::time::sleep(PAUSE).await;
                let (task, hotkey) = (training.task_id.clone(), training.hotkey.clone());
                if let Ok(stored) = rt.db.run(move |s| s.get_training(&task, &hotkey)).await {
                    training = stored;
                }
            }
        }
    }
}

async fn drive(rt: &Runtime, template: &JobTemplate, mut training: Training) -> Result<Training, StoreError> {
    if training.status == TrainingStatus::Training {
        training = follow_restored(rt, template, training).await?;
    }
    while training.status == TrainingStatus::Pending {
        if !tournament_live(rt, template).await? {
            tracing::info!(training = %key(&training), "the tournament has ended: not starting");
            training = abandon(rt, training).await?;
            break;
        }
        let (placement, attempt, started) = match reserve(rt, template, &training).await {
            Ok(started) => started,
            // Cancelled while waiting: the loop's check abandons it at once.
            Err(GpuError::Withdrawn) => continue,
            Err(e) => {
                tracing::warn!(training = %key(&training), error = %e, "not started; asking again later");
                tokio::time::sleep(PAUSE).await;
                continue;
            }
        };
        training = started;
        // A store failure here is no reason to hold the GPUs: run as if still live.
        if !tournament_live(rt, template).await.unwrap_or(true) {
            // Cancelled while waiting for GPUs: the attempt never runs and its GPUs go back at once.
            let outcome = RunOutcome::NotStarted { reason: "the tournament was cancelled".into() };
            training = finish(rt, template, training, Some((attempt, placement)), outcome).await?;
            rt.broker.do_send(ReleaseGpus { key: key(&training) });
            continue;
        }
        let job = TrainingJob { attempt, placement: placement.clone(), ..template.job.clone() };
        let _ = rt.events.send(Event::TrainingStarted {
            id: job.tournament_id.clone(),
            task: training.task_id.clone(),
            hotkey: training.hotkey.clone(),
            attempt,
            node: placement.node_id.clone(),
            at: rt.clock.now(),
        });
        tracing::info!(attempt, node = %placement.node_id, gpus = ?placement.gpu_indices, "attempt started");
        let outcome = rt.executor.run(job).await;
        fence_if_unreachable(rt, &placement, &outcome);
        training = finish(rt, template, training, Some((attempt, placement)), outcome).await?;
        rt.broker.do_send(ReleaseGpus { key: key(&training) });
    }
    Ok(training)
}

/// The tournament ended (was cancelled) before this training could run: it fails, saying so.
async fn abandon(rt: &Runtime, training: Training) -> Result<Training, StoreError> {
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
        cause: reason,
        at,
    };
    let (task, hotkey) = (training.task_id.clone(), training.hotkey.clone());
    rt.db.run(move |s| s.update_training(&task, &hotkey, &update)).await?;
    Ok(Training { status: state.status, failure_reason: state.failure_reason, updated_at: at, ..training })
}

/// Whether the training's tournament is still pending or active (an operator may have cancelled it).
async fn tournament_live(rt: &Runtime, template: &JobTemplate) -> Result<bool, StoreError> {
    let id = template.job.tournament_id.clone();
    Ok(!rt.db.run(move |s| s.get_tournament(&id)).await?.status.is_finished())
}

/// A run that was going on when the validator stopped: follow it, or count it as lost.
async fn follow_restored(rt: &Runtime, template: &JobTemplate, training: Training) -> Result<Training, StoreError> {
    let (task, hotkey) = (training.task_id.clone(), training.hotkey.clone());
    let attempts = rt.db.run(move |s| s.attempts(&task, &hotkey)).await?;
    let Some(last) = attempts.into_iter().rev().find(|a| a.finished_at.is_none()) else {
        let lost = RunOutcome::Failed { reason: "lost: no open attempt was found after a restart".into() };
        return finish(rt, template, training, None, lost).await;
    };
    let placement = Placement { node_id: last.node_id.clone().unwrap_or_default(), gpu_indices: last.gpu_ids.clone() };
    let job = TrainingJob { attempt: last.attempt, placement: placement.clone(), ..template.job.clone() };
    let outcome = match rt.executor.reattach(job, last.started_at) {
        Some(run) => run.await,
        None => RunOutcome::Failed { reason: "lost: the run was gone after a validator restart".into() },
    };
    fence_if_unreachable(rt, &placement, &outcome);
    let training = finish(rt, template, training, Some((last.attempt, placement)), outcome).await?;
    rt.broker.do_send(ReleaseGpus { key: key(&training) });
    Ok(training)
}

/// Fences the node of an attempt whose node did not answer; the broker un-fences it when it answers.
fn fence_if_unreachable(rt: &Runtime, placement: &Placement, outcome: &RunOutcome) {
    if let RunOutcome::NodeUnreachable { reason, .. } = outcome {
        tracing::warn!(node = %placement.node_id, reason = %reason, "node unreachable: fenced");
        rt.broker.do_send(FenceNode { node_id: placement.node_id.clone(), fenced: true });
    }
}

/// Waits for GPUs; the broker starts the attempt (persisted with its GPU holders) when it places it.
async fn reserve(
    rt: &Runtime,
    template: &JobTemplate,
    training: &Training,
) -> Result<(Placement, u32, Training), GpuError> {
    let job = &template.job;
    let (reply, answer) = oneshot::channel();
    rt.broker.do_send(RequestGpus {
        key: key(training),
        tournament: job.tournament_id.clone(),
        training: training.clone(),
        priority: JobPriority::Tournament,
        enqueued: template.enqueued,
        requirement: requirement(job.task_type, job.model_params, &rt.rules.gpu),
        reply,
    });
    answer.await.unwrap_or(Err(GpuError::Stopped))
}

/// The records of an attempt starting on `placement` at `at`: the attempt row, the training's update,
/// and the training as it will be stored.
pub(super) fn start_records(
    training: &Training,
    placement: &Placement,
    max_attempts: u32,
    at: chrono::DateTime<chrono::Utc>,
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
pub(super) fn persist_start(tx: &mut Tx<'_>, new: &NewAttempt, update: &TrainingUpdate) -> Result<u32, StoreError> {
    let number = tx.start_attempt(new)?;
    tx.update_training(&new.task_id, &new.hotkey, update)?;
    let holder = format!("{}/{}", new.task_id, new.hotkey);
    let node = new.node_id.clone().unwrap_or_default();
    tx.set_gpu_holders(&node, &new.gpu_ids, Some(&holder), &update.cause, update.at)?;
    Ok(number)
}

/// Records how an attempt ended and frees its GPUs, in one transaction. `attempt` is `None` when a
/// restored training had no open attempt to close.
async fn finish(
    rt: &Runtime,
    template: &JobTemplate,
    training: Training,
    attempt: Option<(u32, Placement)>,
    outcome: RunOutcome,
) -> Result<Training, StoreError> {
    let number = attempt.as_ref().map_or(training.attempts, |(n, _)| *n);
    let at = rt.clock.now();
    metrics::counter!("crucible_training_attempts_total", "outcome" => outcome.kind()).increment(1);
    let (event, scores, cause) = match &outcome {
        RunOutcome::Success { test_loss, synth_loss } => {
            (TrainingEvent::Succeeded, (Some(*test_loss), *synth_loss), format!("attempt {number} succeeded"))
        }
        RunOutcome::Failed { reason } => (
            TrainingEvent::RunFailed { reason: reason.clone() },
            (None, None),
            format!("attempt {number} failed: {reason}"),
        ),
        RunOutcome::NotStarted { reason } => (
            TrainingEvent::StartFailed { reason: reason.clone() },
            (None, None),
            format!("attempt {number} did not start: {reason}"),
        ),
        RunOutcome::Unfetchable { reason } => (
            TrainingEvent::Unfetchable { reason: reason.clone() },
            (None, None),
            format!("repository unfetchable: {reason}"),
        ),
        RunOutcome::NodeUnreachable { reason, during_run: true } => (
            TrainingEvent::RunFailed { reason: reason.clone() },
            (None, None),
            format!("attempt {number} lost with its node: {reason}"),
        ),
        RunOutcome::NodeUnreachable { reason, during_run: false } => (
            TrainingEvent::StartFailed { reason: reason.clone() },
            (None, None),
            format!("attempt {number} did not start, node unreachable: {reason}"),
        ),
    };
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
    };
    let update = TrainingUpdate {
        from: training.status,
        state: next.clone(),
        test_loss: scores.0,
        synth_loss: scores.1,
        cause,
        at,
    };
    let (task, hotkey) = (training.task_id.clone(), training.hotkey.clone());
    rt.db
        .run(move |s| {
            s.transaction(|tx| {
                if let Some((number, placement)) = &attempt {
                    tx.finish_attempt(&task, &hotkey, *number, &end)?;
                    tx.set_gpu_holders(&placement.node_id, &placement.gpu_indices, None, &update.cause, at)?;
                }
                tx.update_training(&task, &hotkey, &update)
            })
        })
        .await?;
    let done = Training {
        status: next.status,
        attempts: next.attempts,
        failure_reason: next.failure_reason.clone(),
        test_loss: scores.0,
        synth_loss: scores.1,
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
