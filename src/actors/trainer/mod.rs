//! TrainerActor: one per (task, hotkey) training. Reserves GPUs through the broker, runs each attempt
//! through the executor, persists every start and end, and releases the GPUs the moment a run ends.
//!
//! Messages: `CancelTraining` from its tournament (cancelled: a running attempt is stopped, the
//! executor told to kill what it made, and its GPUs freed at once); `Granted` (the broker's answer to
//! its request for GPUs) and `RunEnded` (how an attempt ended) from the futures it spawns; `Next` when it
//! is time to decide again. It reports `TrainingEnded` to its tournament once the training is final
//! (success or failure), or once its tournament has ended and it stops trying.
//!
//! Restart policy = the training retry policy ([`RunOutcome::training_event`]): at most
//! `max_training_attempts` real starts; a run that could not start costs no attempt and is asked again
//! after [`START_RETRY`]; an unfetchable repository fails at once. A node that does not answer is fenced
//! in the broker (`FenceNode`) before the GPUs are released, so the next attempt goes elsewhere; a run
//! lost with its node counts as a failed attempt, a start that never reached it does not. A training
//! found in `training` after a validator restart is followed again through `Executor::reattach`, or
//! counted as a lost run when the executor cannot see it any more. A store failure is transient: the
//! training is read back from the store and decided again after a capped exponential backoff with
//! jitter ([`crate::domain::backoff`]).

use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;
use tracing::Instrument;

use super::Runtime;
use super::control::Resume;
use super::events::Event;
use super::gpu_broker::{FenceNode, GpuError, ReleaseGpus, RequestGpus, Started};
use crate::domain::backoff::{self, AfterFailure, RetryPolicy};
use crate::domain::gpu::{Placement, requirement};
use crate::domain::ids::stable_hash;
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

/// The training's tournament was cancelled: stop now.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct CancelTraining;

/// The broker's answer to the request for GPUs.
#[derive(Message)]
#[rtype(result = "()")]
struct Granted(Started);

/// How an attempt ended.
#[derive(Message)]
#[rtype(result = "()")]
struct RunEnded {
    attempt: Option<(u32, Placement)>,
    outcome: RunOutcome,
}

/// Decide what to do next from the training's state.
#[derive(Message)]
#[rtype(result = "()")]
struct Next;

/// Everything of a job but the attempt and the GPUs.
#[derive(Debug, Clone)]
pub struct JobTemplate {
    pub job: TrainingJob,
    /// Orders this training among waiting ones (its task's creation, in ms).
    pub enqueued: i64,
}

/// Where the training is.
enum Stage {
    /// Deciding (a store call in flight, or a timer set).
    Idle,
    /// Asked the broker for GPUs.
    Waiting,
    /// An attempt runs.
    Running { job: Box<TrainingJob>, handle: SpawnHandle },
    /// Failed beyond its retry budget: waits for an operator's `Resume`.
    Stalled,
    /// Reported its end.
    Done,
}

pub struct TrainerActor {
    rt: Rc<Runtime>,
    template: JobTemplate,
    training: Training,
    owner: Recipient<TrainingEnded>,
    stage: Stage,
    cancelled: bool,
    /// Store failures in a row.
    failures: u32,
    span: tracing::Span,
}

/// How long to wait before asking again when no node can host the job.
const PAUSE: Duration = Duration::from_secs(600);

/// How long to wait before starting again after a start was refused (a node's 4xx, a missing image):
/// the reference's 60 s, where asking again at once would loop as fast as the refusals come.
pub const START_RETRY: Duration = Duration::from_secs(60);

impl TrainerActor {
    pub fn new(rt: Rc<Runtime>, template: JobTemplate, training: Training, owner: Recipient<TrainingEnded>) -> Self {
        let span = tracing::info_span!(
            "training",
            tournament = %template.job.tournament_id,
            task = %training.task_id,
            hotkey = %training.hotkey
        );
        Self { rt, template, training, owner, stage: Stage::Idle, cancelled: false, failures: 0, span }
    }

    fn key(&self) -> TrainingKey {
        key(&self.training)
    }

    /// Runs `work` with the mailbox closed, then `then` with its result (a store failure is retried).
    fn wait<T: 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        work: impl std::future::Future<Output = Result<T, StoreError>> + 'static,
        then: impl FnOnce(&mut Self, &mut Context<Self>, T) + 'static,
    ) {
        let work = work.instrument(self.span.clone());
        ctx.wait(work.into_actor(self).map(move |result, act, ctx| match result {
            Ok(value) => {
                act.failures = 0;
                then(act, ctx, value);
            }
            Err(e) => act.store_failed(ctx, e),
        }));
    }

    /// A store failure: read the training back and decide again after a backoff, or stall once the
    /// retry budget is spent or retrying cannot mend it.
    fn store_failed(&mut self, ctx: &mut Context<Self>, e: StoreError) {
        self.failures += 1;
        let hash = stable_hash(format!("{}#{}", self.key(), self.failures).as_bytes());
        let pause = match RetryPolicy::ACTORS.after(self.failures, e.can_mend(), backoff::jitter_of(hash)) {
            AfterFailure::RetryIn(pause) => pause,
            AfterFailure::Stall => return self.stall(e),
        };
        tracing::error!(parent: &self.span, error = %e, failures = self.failures, retry_in = ?pause, "store failed; resuming from the stored state");
        self.stage = Stage::Idle;
        ctx.run_later(pause, |act, ctx| act.reload(ctx));
    }

    /// Stops retrying: the training waits, visible with its reason, for an operator.
    fn stall(&mut self, e: StoreError) {
        let (tournament, key, at) = (self.template.job.tournament_id.clone(), self.key(), self.rt.clock.now());
        tracing::error!(parent: &self.span, error = %e, failures = self.failures, "training stalled: waiting for an operator to retry it");
        self.rt.stalls.training(&tournament, &key, e.to_string(), self.failures, at);
        let _ = self.rt.events.send(Event::Stalled {
            id: tournament,
            kind: "training".into(),
            subject: key.to_string(),
            reason: e.to_string(),
            at,
        });
        self.stage = Stage::Stalled;
    }

    /// Reads the training back from the store and decides again.
    fn reload(&mut self, ctx: &mut Context<Self>) {
        self.stage = Stage::Idle;
        let (db, task, hotkey) = (self.rt.db.clone(), self.training.task_id.clone(), self.training.hotkey.clone());
        let read = async move { db.run(move |s| s.get_training(&task, &hotkey)).await };
        self.wait(ctx, read, |act, ctx, stored| {
            act.training = stored;
            ctx.notify(Next);
        });
    }

    /// Reports the training's end to its tournament and stops.
    fn report(&mut self, ctx: &mut Context<Self>) {
        self.stage = Stage::Done;
        self.owner.do_send(TrainingEnded { training: self.training.clone() });
        ctx.stop();
    }

    /// Gives up a pending training whose tournament has ended.
    fn give_up(&mut self, ctx: &mut Context<Self>) {
        tracing::info!(parent: &self.span, "the tournament has ended: not starting");
        let (rt, training) = (self.rt.clone(), self.training.clone());
        self.wait(ctx, async move { abandon(&rt, training).await }, |act, ctx, training| {
            act.training = training;
            act.report(ctx);
        });
    }

    /// Records how an attempt ended (freeing its GPUs), then decides again.
    fn ended(&mut self, ctx: &mut Context<Self>, attempt: Option<(u32, Placement)>, outcome: RunOutcome) {
        self.stage = Stage::Idle;
        if let Some((_, placement)) = &attempt {
            fence_if_unreachable(&self.rt, placement, &outcome);
        }
        let refused = matches!(outcome, RunOutcome::NotStarted { .. });
        let (rt, template, training) = (self.rt.clone(), self.template.clone(), self.training.clone());
        let record = async move { finish(&rt, &template, training, attempt, outcome).await };
        self.wait(ctx, record, move |act, ctx, training| {
            act.rt.broker.do_send(ReleaseGpus { key: key(&training) });
            act.training = training;
            if refused && act.training.status == TrainingStatus::Pending && !act.cancelled {
                ctx.notify_later(Next, START_RETRY);
            } else {
                ctx.notify(Next);
            }
        });
    }

    /// Runs `run` (attempt `attempt` of `job`) and hears how it ended.
    fn running(&mut self, ctx: &mut Context<Self>, job: TrainingJob, run: crate::exec::RunFuture) {
        let attempt = Some((job.attempt, job.placement.clone()));
        let run = run.instrument(self.span.clone());
        let handle =
            ctx.spawn(run.into_actor(self).map(move |outcome, _, ctx| ctx.notify(RunEnded { attempt, outcome })));
        self.stage = Stage::Running { job: Box::new(job), handle };
    }

    fn start(&mut self, ctx: &mut Context<Self>, placement: Placement, attempt: u32) {
        let job = TrainingJob { attempt, placement: placement.clone(), ..self.template.job.clone() };
        let _ = self.rt.events.send(Event::TrainingStarted {
            id: job.tournament_id.clone(),
            task: self.training.task_id.clone(),
            hotkey: self.training.hotkey.clone(),
            attempt,
            node: placement.node_id.clone(),
            at: self.rt.clock.now(),
        });
        tracing::info!(parent: &self.span, attempt, node = %placement.node_id, gpus = ?placement.gpu_indices, "attempt started");
        let run = self.rt.executor.run(job.clone());
        self.running(ctx, job, run);
    }

    /// A run that was going on when the validator stopped: follow it, or count it as lost.
    fn restore(&mut self, ctx: &mut Context<Self>) {
        let (db, task, hotkey) = (self.rt.db.clone(), self.training.task_id.clone(), self.training.hotkey.clone());
        let read = async move { db.run(move |s| s.attempts(&task, &hotkey)).await };
        self.wait(ctx, read, |act, ctx, attempts| {
            let open = attempts.into_iter().rev().find(|a| a.finished_at.is_none());
            let Some((last, node_id)) = open.and_then(|a| a.node_id.clone().map(|node| (a, node))) else {
                let lost = RunOutcome::failed("lost: no open attempt on a node was found after a restart".into());
                return act.ended(ctx, None, lost);
            };
            let placement = Placement { node_id, gpu_indices: last.gpu_ids.clone() };
            let job = TrainingJob { attempt: last.attempt, placement: placement.clone(), ..act.template.job.clone() };
            match act.rt.executor.reattach(job.clone(), last.started_at) {
                Some(run) => act.running(ctx, job, run),
                None => {
                    let lost = RunOutcome::failed("lost: the run was gone after a validator restart".into());
                    act.ended(ctx, Some((last.attempt, placement)), lost);
                }
            }
        });
    }
}

impl Actor for TrainerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.training.status == TrainingStatus::Training {
            self.restore(ctx);
        } else {
            ctx.notify(Next);
        }
    }
}

impl Handler<Next> for TrainerActor {
    type Result = ();

    fn handle(&mut self, _: Next, ctx: &mut Context<Self>) {
        if !matches!(self.stage, Stage::Idle) {
            return;
        }
        match self.training.status {
            status if status.is_finished() => self.report(ctx),
            TrainingStatus::Training => self.restore(ctx),
            _ if self.cancelled => self.give_up(ctx),
            _ => {
                let (rt, template) = (self.rt.clone(), self.template.clone());
                let live = async move { tournament_live(&rt, &template).await };
                self.wait(ctx, live, |act, ctx, live| {
                    if !live || act.cancelled {
                        return act.give_up(ctx);
                    }
                    act.stage = Stage::Waiting;
                    let asked = reserve(&act.rt, &act.template, &act.training);
                    ctx.spawn(asked.into_actor(act).map(|started, _, ctx| ctx.notify(Granted(started))));
                });
            }
        }
    }
}

impl Handler<Granted> for TrainerActor {
    type Result = ();

    fn handle(&mut self, Granted(answer): Granted, ctx: &mut Context<Self>) {
        self.stage = Stage::Idle;
        let (placement, attempt, started) = match answer {
            Ok(started) => started,
            // Cancelled while waiting: deciding again gives it up.
            Err(GpuError::Withdrawn) => return ctx.notify(Next),
            Err(e) => {
                tracing::warn!(parent: &self.span, error = %e, "not started; asking again later");
                ctx.notify_later(Next, PAUSE);
                return;
            }
        };
        self.training = started;
        if self.cancelled {
            // Placed as the tournament was cancelled: the attempt never runs and its GPUs go back at once.
            let outcome = RunOutcome::NotStarted { reason: "the tournament was cancelled".into() };
            return self.ended(ctx, Some((attempt, placement)), outcome);
        }
        // A cancellation after this point arrives as `CancelTraining` and stops the running attempt.
        self.start(ctx, placement, attempt);
    }
}

impl Handler<RunEnded> for TrainerActor {
    type Result = ();

    fn handle(&mut self, msg: RunEnded, ctx: &mut Context<Self>) {
        self.ended(ctx, msg.attempt, msg.outcome);
    }
}

impl Handler<Resume> for TrainerActor {
    type Result = ();

    /// An operator retries the stalled training (its tournament has cleared the stall): from the stored
    /// state, with a fresh retry budget.
    fn handle(&mut self, _: Resume, ctx: &mut Context<Self>) {
        if matches!(self.stage, Stage::Stalled) {
            self.failures = 0;
            tracing::info!(parent: &self.span, "retried by an operator");
            self.reload(ctx);
        }
    }
}

impl Handler<CancelTraining> for TrainerActor {
    type Result = ();

    /// A running attempt stops now: its future is dropped, the executor removes what it made, and the
    /// attempt ends (its GPUs freed) before the training is given up. A training waiting for GPUs is
    /// answered by the broker (the tournament withdrew its requests) and gives up then.
    fn handle(&mut self, _: CancelTraining, ctx: &mut Context<Self>) {
        self.cancelled = true;
        match std::mem::replace(&mut self.stage, Stage::Idle) {
            Stage::Running { job, handle } => {
                ctx.cancel_future(handle);
                tracing::info!(parent: &self.span, attempt = job.attempt, "stopping the attempt: its tournament was cancelled");
                let attempt = Some((job.attempt, job.placement.clone()));
                actix::spawn(self.rt.executor.cancel(*job));
                self.ended(ctx, attempt, RunOutcome::failed("stopped: its tournament was cancelled".into()));
            }
            Stage::Stalled => {
                // Nobody retries the work of a cancelled tournament: it is given up instead.
                self.rt.stalls.clear("training", &self.key().to_string());
                self.failures = 0;
                ctx.notify(Next);
            }
            other => self.stage = other,
        }
    }
}

fn key(t: &Training) -> TrainingKey {
    TrainingKey::new(t.task_id.clone(), t.hotkey.clone())
}

/// Whether the training's tournament is still pending or active (an operator may have cancelled it).
async fn tournament_live(rt: &Runtime, template: &JobTemplate) -> Result<bool, StoreError> {
    let id = template.job.tournament_id.clone();
    Ok(!rt.db.run(move |s| s.tournament_status(&id)).await?.is_finished())
}

/// Fences the node of an attempt whose node did not answer; the broker un-fences it when it answers.
fn fence_if_unreachable(rt: &Runtime, placement: &Placement, outcome: &RunOutcome) {
    if let RunOutcome::NodeUnreachable { reason, .. } = outcome {
        tracing::warn!(node = %placement.node_id, reason = %reason, "node unreachable: fenced");
        rt.broker.do_send(FenceNode { node_id: placement.node_id.clone(), fenced: true });
    }
}

/// Asks the broker for GPUs; the answer comes when it places the training (the attempt's start is
/// persisted with its GPU holders then) or gives up on it.
fn reserve(
    rt: &Runtime,
    template: &JobTemplate,
    training: &Training,
) -> impl std::future::Future<Output = Started> + use<> {
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
    async move { answer.await.unwrap_or(Err(GpuError::Stopped)) }
}
