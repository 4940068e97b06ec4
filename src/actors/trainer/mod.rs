//! TrainerActor: one per (task, hotkey) training. Reserves GPUs through the broker, runs each attempt
//! through the executor, persists every start and end, and releases the GPUs the moment a run ends.
//!
//! Messages: none from outside; it reports `TrainingEnded` to its tournament once the training is
//! final (success or failure), or once its tournament has ended (cancelled) and it stops trying.
//!
//! Restart policy = the training retry policy: at most `max_training_attempts` real starts; a run that
//! could not start costs no attempt and is asked again after [`START_RETRY`]; an unfetchable repository
//! fails at once. A node that does not
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
use crate::domain::task_scores::EvalFacts;
use crate::domain::{JobPriority, RunStatus, TrainingEvent, TrainingKey, TrainingState, TrainingStatus};
use crate::exec::{RunOutcome, TrainingJob};
use crate::store::{AttemptEnd, StoreError, Training, TrainingUpdate};

mod records;

use records::{abandon, finish};

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

/// How long to wait before starting again after a start was refused (a node's 4xx, a missing image):
/// the reference's 60 s, where asking again at once would loop as fast as the refusals come.
pub const START_RETRY: Duration = Duration::from_secs(60);

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

fn key(t: &Training) -> TrainingKey {
    TrainingKey::new(t.task_id.clone(), t.hotkey.clone())
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
        let refused = matches!(outcome, RunOutcome::NotStarted { .. });
        training = finish(rt, template, training, Some((attempt, placement)), outcome).await?;
        rt.broker.do_send(ReleaseGpus { key: key(&training) });
        if refused && training.status == TrainingStatus::Pending {
            tokio::time::sleep(START_RETRY).await;
        }
    }
    Ok(training)
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
    let open = attempts.into_iter().rev().find(|a| a.finished_at.is_none());
    let Some((last, node_id)) = open.and_then(|a| a.node_id.clone().map(|node| (a, node))) else {
        let lost = RunOutcome::failed("lost: no open attempt on a node was found after a restart".into());
        return finish(rt, template, training, None, lost).await;
    };
    let placement = Placement { node_id, gpu_indices: last.gpu_ids.clone() };
    let job = TrainingJob { attempt: last.attempt, placement: placement.clone(), ..template.job.clone() };
    let outcome = match rt.executor.reattach(job, last.started_at) {
        Some(run) => run.await,
        None => RunOutcome::failed("lost: the run was gone after a validator restart".into()),
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
