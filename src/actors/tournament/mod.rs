//! TournamentActor: owns one live tournament: registration, its rounds and tasks, the trainers of every
//! training, scoring and advancing, and completion.
//!
//! Messages: `TrainingEnded` from its trainers; `CancelTournament`, `OverrideTask` and
//! `ConfirmTournament` from operators. Level-triggered: after every persisted change it asks
//! the progression rules what the stored state calls for (wait, replace a task, decide the round), so a
//! restarted actor that reloads the same state takes the same next step.
//!
//! Restart policy: rebuilt from the store (`tournament_snapshot`); unfinished trainings get their
//! TrainerActors back, registration resumes at the time derived from its last logged attempt.

mod admission;
mod confirm;
mod overrides;
mod plan;
mod steps;

use std::collections::HashMap;
use std::rc::Rc;

use actix::prelude::*;
use tracing::Instrument;

use super::Runtime;
use super::control::{CancelTournament, ControlError, OverrideTask, Resume, RetryStalled};
use super::trainer::{CancelTraining, JobTemplate, TrainerActor, TrainingEnded};
use crate::domain::backoff::{self, AfterFailure, RetryPolicy};
use crate::domain::ids::stable_hash;
use crate::domain::progress::{RoundStep, needs_replacement, round_step};
use crate::domain::{TaskStatus, TournamentId, TournamentStatus, TournamentType, TrainingKey};
use crate::store::{StoreError, TournamentSnapshot};

pub use admission::{AdmissionSummary, cancel, refund_all};

/// A store-changing step in flight.
type Step = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), StoreError>>>>;

/// Sent to the supervisor when the tournament is completed or cancelled.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct TournamentEnded {
    pub id: TournamentId,
    pub tournament_type: TournamentType,
    pub track: String,
    pub status: TournamentStatus,
}

pub struct TournamentActor {
    rt: Rc<Runtime>,
    id: TournamentId,
    snapshot: Option<TournamentSnapshot>,
    trainers: HashMap<TrainingKey, Addr<TrainerActor>>,
    supervisor: Recipient<TournamentEnded>,
    registering: bool,
    /// Failures in a row of its steps or registration.
    failures: u32,
    /// Failed beyond its retry budget: waits for an operator's `RetryStalled`.
    stalled: bool,
}

impl TournamentActor {
    pub fn new(rt: Rc<Runtime>, id: TournamentId, supervisor: Recipient<TournamentEnded>) -> Self {
        Self {
            rt,
            id,
            snapshot: None,
            trainers: HashMap::new(),
            supervisor,
            registering: false,
            failures: 0,
            stalled: false,
        }
    }

    /// A failed step or registration: `again` after a backoff, or a stall once the retry budget is
    /// spent or retrying cannot mend it.
    fn failed(&mut self, ctx: &mut Context<Self>, e: StoreError, again: fn(&mut Self, &mut Context<Self>)) {
        self.failures += 1;
        let hash = stable_hash(format!("{}#{}", self.id, self.failures).as_bytes());
        match RetryPolicy::ACTORS.after(self.failures, e.can_mend(), backoff::jitter_of(hash)) {
            AfterFailure::RetryIn(pause) => {
                tracing::error!(tournament = %self.id, error = %e, failures = self.failures, retry_in = ?pause, "store failed; reloading and trying again");
                ctx.run_later(pause, again);
            }
            AfterFailure::Stall => {
                let at = self.rt.clock.now();
                tracing::error!(tournament = %self.id, error = %e, failures = self.failures, "tournament stalled: waiting for an operator to retry it");
                self.rt.stalls.tournament(&self.id, e.to_string(), self.failures, at);
                let _ = self.rt.events.send(crate::actors::Event::Stalled {
                    id: self.id.clone(),
                    kind: "tournament".into(),
                    subject: self.id.to_string(),
                    reason: e.to_string(),
                    at,
                });
                self.stalled = true;
            }
        }
    }

    /// Runs a store-changing step, reloads the snapshot, and decides again.
    fn step(
        &mut self,
        ctx: &mut Context<Self>,
        work: impl std::future::Future<Output = Result<(), StoreError>> + 'static,
    ) {
        self.step_boxed(ctx, Box::pin(work));
    }

    fn step_boxed(&mut self, ctx: &mut Context<Self>, work: Step) {
        let (db, id) = (self.rt.db.clone(), self.id.clone());
        let round = self.snapshot.as_ref().and_then(|s| s.rounds.last()).map_or(0, |r| r.round.round.number);
        let span = tracing::info_span!("tournament", id = %self.id, round);
        let began = std::time::Instant::now();
        let previous = self.snapshot.clone();
        let fut = async move {
            work.await?;
            let snapshot = match previous {
                // Its completed rounds are not read again.
                Some(previous) => db.run(move |s| s.refresh_snapshot(&previous)).await,
                None => db.run(move |s| s.tournament_snapshot(&id)).await,
            };
            // From the decision to act to the persisted state being read back: the reaction latency.
            metrics::histogram!("crucible_reaction_seconds").record(began.elapsed().as_secs_f64());
            snapshot
        }
        .instrument(span);
        ctx.wait(fut.into_actor(self).map(|result, act, ctx| match result {
            Ok(snapshot) => {
                act.failures = 0;
                act.snapshot = Some(snapshot);
                act.reconcile(ctx);
            }
            Err(e) => act.failed(ctx, e, |act, ctx| act.step_boxed(ctx, Box::pin(async { Ok(()) }))),
        }));
    }

    fn reconcile(&mut self, ctx: &mut Context<Self>) {
        if self.stalled {
            return;
        }
        let Some(snapshot) = &self.snapshot else { return };
        match snapshot.tournament.status {
            TournamentStatus::Pending => self.register(ctx),
            TournamentStatus::Active => self.progress(ctx),
            status @ (TournamentStatus::Completed | TournamentStatus::Cancelled) => {
                let t = &snapshot.tournament;
                self.supervisor.do_send(TournamentEnded {
                    id: t.id.clone(),
                    tournament_type: t.tournament_type,
                    track: t.track.clone(),
                    status,
                });
                ctx.stop();
            }
        }
    }

    fn register(&mut self, ctx: &mut Context<Self>) {
        if self.registering {
            return;
        }
        let Some(snapshot) = &self.snapshot else { return };
        self.registering = true;
        let span = tracing::info_span!("tournament", id = %self.id, round = 0);
        let fut = steps::registration(self.rt.clone(), snapshot.tournament.clone()).instrument(span);
        let (db, id) = (self.rt.db.clone(), self.id.clone());
        let fut = async move {
            fut.await?;
            db.run(move |s| s.tournament_snapshot(&id)).await
        };
        ctx.spawn(fut.into_actor(self).map(|result, act, ctx| {
            act.registering = false;
            match result {
                Ok(snapshot) => {
                    act.failures = 0;
                    act.snapshot = Some(snapshot);
                    act.reconcile(ctx);
                }
                Err(e) => act.failed(ctx, e, Self::reconcile),
            }
        }));
    }

    fn progress(&mut self, ctx: &mut Context<Self>) {
        // Taken out while trainers are spawned, put back before any step; a step gets its own copy.
        let Some(snapshot) = self.snapshot.take() else { return };
        let next = self.next_step(ctx, &snapshot);
        self.snapshot = Some(snapshot);
        if let Some(work) = next {
            self.step_boxed(ctx, work);
        }
    }

    /// What the tournament does next from `snapshot`, once its trainings have their trainers.
    fn next_step(&mut self, ctx: &mut Context<Self>, snapshot: &TournamentSnapshot) -> Option<Step> {
        if confirm::awaiting(&snapshot.tournament) {
            // Decided; `ConfirmTournament` completes it.
            return None;
        }
        let Some(round) = snapshot.rounds.last() else {
            return Some(Box::pin(steps::first_round(self.rt.clone(), snapshot.clone())));
        };
        self.spawn_trainers(ctx, snapshot);
        let bracket = plan::bracket_of(&round.round);
        let views = plan::task_views(round);
        match round_step(&bracket, &views, snapshot.tournament.champion_wins, &self.rt.rules) {
            RoundStep::Wait => None,
            RoundStep::Replace { tasks } => {
                let cause = "round sanity: more than half of the trainings failed";
                Some(Box::pin(steps::replace_tasks(self.rt.clone(), snapshot.clone(), tasks, cause)))
            }
            RoundStep::Decided(outcome) => {
                Some(Box::pin(steps::decide_round(self.rt.clone(), snapshot.clone(), outcome)))
            }
        }
    }

    /// Every unfinished training of the current round's live tasks gets a TrainerActor.
    fn spawn_trainers(&mut self, ctx: &mut Context<Self>, snapshot: &TournamentSnapshot) {
        let Some(round) = snapshot.rounds.last() else { return };
        let participants: HashMap<&crate::domain::Hotkey, &crate::store::Participant> =
            snapshot.participants.iter().map(|p| (&p.hotkey, p)).collect();
        for t in round.tasks.iter().filter(|t| t.task.status != TaskStatus::Replaced) {
            for training in t.trainings.iter().filter(|tr| !tr.status.is_finished()) {
                let key = TrainingKey::new(t.task.id.clone(), training.hotkey.clone());
                if self.trainers.contains_key(&key) {
                    continue;
                }
                let Some(participant) = participants.get(&training.hotkey).copied() else {
                    tracing::error!(tournament = %self.id, hotkey = %training.hotkey, "a training has no participant");
                    continue;
                };
                let template = JobTemplate {
                    job: plan::job_for(&t.task, &plan::name_root(round, &t.task), participant),
                    enqueued: t.task.created_at.timestamp_millis(),
                };
                let trainer = TrainerActor::new(self.rt.clone(), template, training.clone(), ctx.address().recipient());
                self.trainers.insert(key, trainer.start());
            }
        }
    }
}

impl Actor for TournamentActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.step(ctx, async { Ok(()) });
    }
}

impl Handler<CancelTournament> for TournamentActor {
    type Result = AtomicResponse<Self, Result<(), ControlError>>;

    /// Persists the cancellation (atomically: no other message is handled meanwhile, so no step starts
    /// from the state before it) with its refunds, then reloads: the tournament ends and the actor stops
    /// (a registration in flight is dropped with it).
    fn handle(&mut self, msg: CancelTournament, _ctx: &mut Context<Self>) -> Self::Result {
        let (db, id, at) = (self.rt.db.clone(), msg.id.clone(), self.rt.clock.now());
        let reason = format!("cancelled by an operator: {}", msg.reason);
        let cause = reason.clone();
        let persist = async move {
            db.write(move |tx| {
                let t = tx.get_tournament(&id)?;
                if t.status.is_finished() {
                    return Ok(Err(t.status));
                }
                cancel(tx, &t, &cause, at).map(Ok)
            })
            .await
        };
        AtomicResponse::new(Box::pin(persist.into_actor(self).map(move |result, act, ctx| match result {
            Ok(Ok(())) => {
                tracing::info!(tournament = %act.id, reason = %reason, "tournament cancelled");
                let _ =
                    act.rt.events.send(crate::actors::Event::TournamentCancelled { id: act.id.clone(), reason, at });
                // Its trainings waiting for GPUs stop waiting: none is placed for a cancelled tournament;
                // its running attempts are stopped and their GPUs freed at once.
                act.rt.broker.do_send(crate::actors::gpu_broker::Withdraw { tournament: act.id.clone() });
                for trainer in act.trainers.values() {
                    trainer.do_send(CancelTraining);
                }
                // A stalled tournament that is cancelled ends like any other.
                if act.stalled {
                    act.stalled = false;
                    act.failures = 0;
                    act.rt.stalls.clear("tournament", act.id.as_str());
                }
                act.step(ctx, async { Ok(()) });
                Ok(())
            }
            Ok(Err(status)) => Err(ControlError::Conflict(format!("tournament {} is already {status}", act.id))),
            Err(e) => Err(e.into()),
        })))
    }
}

impl Handler<OverrideTask> for TournamentActor {
    type Result = AtomicResponse<Self, Result<String, ControlError>>;

    /// Checks the override against the stored tournament, read afresh (the cached snapshot may not hold
    /// yet what registration or a step has just written), persists it, then reloads and decides again;
    /// the mailbox waits throughout, so nothing changes between the check and the write.
    fn handle(&mut self, msg: OverrideTask, _ctx: &mut Context<Self>) -> Self::Result {
        if self.snapshot.is_none() {
            let loading = Err(ControlError::Unavailable("the tournament is still loading; try again".into()));
            return AtomicResponse::new(Box::pin(actix::fut::ready(loading)));
        }
        let (rt, id) = (self.rt.clone(), self.id.clone());
        let task = msg.task.clone();
        let checked = async move {
            let snapshot = rt.db.run(move |s| s.tournament_snapshot(&id)).await?;
            Ok::<_, ControlError>((rt, snapshot))
        };
        let applied = checked.into_actor(self).then(move |read, act, _| {
            // A trainer that has not reported its end yet still counts as training.
            let busy = act.trainers.keys().any(|k| k.task == task);
            let planned = read.and_then(|(rt, snapshot)| {
                let plan = overrides::check(&snapshot, &task, msg.action, busy)?;
                Ok((rt, snapshot, plan))
            });
            async move {
                let (rt, snapshot, plan) = planned?;
                Ok::<_, ControlError>(overrides::apply(rt, snapshot, task, plan).await?)
            }
            .into_actor(act)
        });
        AtomicResponse::new(Box::pin(applied.map(move |result, act, ctx| {
            if let Ok(done) = &result {
                tracing::info!(tournament = %act.id, task = %msg.task, action = msg.action.as_str(), "{done}");
                act.step(ctx, async { Ok(()) });
            }
            result
        })))
    }
}

impl Handler<RetryStalled> for TournamentActor {
    type Result = Result<String, ControlError>;

    /// Resumes the stalled tournament, or tells the stalled training to, from the stored state with a
    /// fresh retry budget.
    fn handle(&mut self, msg: RetryStalled, ctx: &mut Context<Self>) -> Self::Result {
        match msg.training {
            None if self.stalled => {
                self.stalled = false;
                self.failures = 0;
                self.rt.stalls.clear("tournament", self.id.as_str());
                tracing::info!(tournament = %self.id, "retried by an operator");
                self.step(ctx, async { Ok(()) });
                Ok(format!("tournament {} resumed", self.id))
            }
            None => Err(ControlError::Conflict(format!("tournament {} has not stalled", self.id))),
            Some(key) => {
                let trainer = self.trainers.get(&key);
                match trainer {
                    // Cleared here, as the answer is given, so a second retry finds nothing stalled.
                    Some(trainer) if self.rt.stalls.clear("training", &key.to_string()) => {
                        trainer.do_send(Resume);
                        Ok(format!("training {key} resumed"))
                    }
                    Some(_) => Err(ControlError::Conflict(format!("training {key} has not stalled"))),
                    None => {
                        Err(ControlError::NotFound(format!("training {key} is not running in tournament {}", self.id)))
                    }
                }
            }
        }
    }
}

impl Handler<TrainingEnded> for TournamentActor {
    type Result = ();

    fn handle(&mut self, msg: TrainingEnded, ctx: &mut Context<Self>) {
        let t = msg.training;
        self.trainers.remove(&TrainingKey::new(t.task_id.clone(), t.hotkey.clone()));
        // Only a task whose trainings have all ended can be replaced or decide its round: until then
        // there is nothing to decide (and deciding reads the whole round, for every ending). Nor is
        // there when other tasks of its round still run and this one needs no replacement.
        let mut decide = true;
        if let Some(snapshot) = &mut self.snapshot {
            let found = snapshot.rounds.iter_mut().rev().find_map(|r| {
                let at = r.tasks.iter().position(|task| task.task.id == t.task_id)?;
                Some((r, at))
            });
            if let Some((round, at)) = found {
                let task = &mut round.tasks[at];
                if let Some(stored) = task.trainings.iter_mut().find(|tr| tr.hotkey == t.hotkey) {
                    *stored = t;
                }
                let task = &round.tasks[at];
                decide = task.trainings.iter().all(|tr| tr.status.is_finished()) && {
                    let others_run = round.tasks.iter().any(|other| {
                        other.task.status != TaskStatus::Replaced
                            && other.trainings.iter().any(|tr| !tr.status.is_finished())
                    });
                    !others_run || plan::task_view(round, task).is_some_and(|view| needs_replacement(&view))
                };
            }
        }
        if decide {
            self.reconcile(ctx);
        }
    }
}
