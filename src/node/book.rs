//! TaskBook: the actor that owns a trainer node's running tasks and the GPUs they hold, starts each
//! accepted task on the node's executor, and records how it ended.
//!
//! Messages: `StartTraining` (answered once the task's record is stored, before the executor fetches
//! anything), `CancelTraining` (answered once the run is stopped, what it made removed, its end
//! recorded and its GPUs free), `ListGpus`. Reads of task records do not come here: the API reads the
//! store directly.
//!
//! Every decision about a start (a repeat of a running task or a GPU held → 409, an unknown GPU → 422) is taken here, one
//! message at a time, and the GPUs are reserved in memory before the record is written, so two
//! concurrent starts can never both get a GPU.
//!
//! Restart policy: rebuilt from the store before the first message is handled. Every record still
//! `training` is handed to `Executor::reattach`: followed when the executor still sees the run, marked
//! `failure` with the reason [`LOST`] otherwise.

use std::collections::HashMap;
use std::rc::Rc;

use actix::prelude::*;
use chrono::{DateTime, Utc};

use super::answers::{Issue, NodeError};
use super::inventory::NodeGpu;
use super::wire::{self, CancelRequest, GpuInfo, StartRequest};
use crate::domain::task_scores::EvalFacts;
use crate::domain::{Hotkey, NodeFailure, NodeTaskStatus, TaskId};
use crate::exec::{Executor, RunFuture, RunOutcome, TrainingJob};
use crate::http::error::ApiError;
use crate::store::{Db, NodeTask, NodeTaskEnd, StoreError};

/// The failure reason of a task that was training when the node stopped and that the executor cannot
/// find any more.
pub const LOST: &str = "lost: the node restarted and the run was not found";

type Key = (TaskId, Hotkey);

struct Running {
    gpu_ids: Vec<u32>,
    until: DateTime<Utc>,
    /// The attempt running; `None` while its start is being recorded.
    attempt: Option<u32>,
    /// The job the run was given, for the executor to stop it.
    job: Option<TrainingJob>,
    /// The run being followed; `None` once it has ended or is being stopped (its end is being recorded).
    run: Option<SpawnHandle>,
}

pub struct TaskBook {
    db: Db,
    executor: Rc<dyn Executor>,
    gpus: Vec<NodeGpu>,
    running: HashMap<Key, Running>,
}

/// The reference's answer (409) when a requested GPU is held by a running training.
pub const GPU_CONFLICT: &str = "GPU conflict detected. Requested GPUs are already in use by running training tasks.";

/// Start a task; refused with 409 while the same task runs or a requested GPU is held.
#[derive(Message)]
#[rtype(result = "Result<(), NodeError>")]
pub struct StartTraining(pub StartRequest);

/// Stop a running task: its run is stopped by the executor (containers killed, what it made removed),
/// then its end is recorded as a failure saying so and its GPUs are freed. 404 for a task the node
/// does not know, 409 for one that is not training (or whose running attempt is another).
#[derive(Message)]
#[rtype(result = "Result<(), NodeError>")]
pub struct CancelTraining(pub CancelRequest);

/// The node's GPUs and whether each is free.
#[derive(Message)]
#[rtype(result = "Vec<GpuInfo>")]
pub struct ListGpus;

impl TaskBook {
    pub fn new(db: Db, executor: Rc<dyn Executor>, gpus: Vec<NodeGpu>) -> Self {
        Self { db, executor, gpus, running: HashMap::new() }
    }

    /// Refuses GPUs this node does not have and repeated ones (422), and ones a running task holds
    /// (409, the reference's sentence, then which task holds which GPU).
    fn check_gpus(&self, wanted: &[u32]) -> Result<(), NodeError> {
        for (i, id) in wanted.iter().enumerate() {
            let loc = vec![serde_json::json!("body"), serde_json::json!("gpu_ids"), serde_json::json!(i)];
            if !self.gpus.iter().any(|g| g.index == *id) {
                let have: Vec<u32> = self.gpus.iter().map(|g| g.index).collect();
                let msg = format!("Value error, GPU {id} does not exist on this node (it has {have:?})");
                return Err(NodeError::Invalid(vec![Issue::new("value_error", loc, msg, serde_json::json!(id))]));
            }
            if wanted[..i].contains(id) {
                let msg = format!("Value error, GPU {id} is named twice");
                return Err(NodeError::Invalid(vec![Issue::new("value_error", loc, msg, serde_json::json!(id))]));
            }
            if let Some(((task, hotkey), _)) = self.running.iter().find(|(_, r)| r.gpu_ids.contains(id)) {
                let held = format!("{GPU_CONFLICT} (GPU {id} is held by task {task} of hotkey {hotkey})");
                return Err(ApiError::Conflict(held).into());
            }
        }
        Ok(())
    }

    /// Runs `run` in the background and records its end.
    fn follow(&mut self, key: Key, attempt: u32, run: RunFuture, ctx: &mut Context<Self>) {
        let ended = key.clone();
        let handle = ctx.spawn(run.into_actor(self).map(move |outcome, act, ctx| {
            if let Some(running) = act.running.get_mut(&ended) {
                running.run = None;
            }
            ctx.spawn(act.finish(ended, attempt, outcome));
        }));
        if let Some(running) = self.running.get_mut(&key) {
            running.run = Some(handle);
        }
    }

    /// Records how a run ended, then frees its GPUs.
    fn finish(&mut self, key: Key, attempt: u32, outcome: RunOutcome) -> impl ActorFuture<Self, Output = ()> + use<> {
        let end = end_of(&outcome, Utc::now());
        let (task, hotkey) = key.clone();
        let write = self.db.clone();
        async move { write.run(move |s| s.finish_node_task(&task, &hotkey, attempt, &end)).await }.into_actor(self).map(
            move |result, act, _| {
                match result {
                    Ok(done) => tracing::info!(task = %key.0, hotkey = %key.1, status = %done.status, "task ended"),
                    Err(e) => tracing::error!(task = %key.0, hotkey = %key.1, error = %e, "the end of a task could not be stored"),
                }
                act.running.remove(&key);
            },
        )
    }

    /// Follows a task found `training` after a restart, or records it as lost.
    fn restore(&mut self, task: NodeTask, ctx: &mut Context<Self>) {
        let key = (task.task_id.clone(), task.hotkey.clone());
        let (job, run) = match wire::parse_start_object(task.request.clone()) {
            Ok(request) => {
                let job = TrainingJob { attempt: task.attempt, ..request.job };
                (Some(job.clone()), self.executor.reattach(job, task.started_at))
            }
            Err(e) => {
                let e = super::answers::describe(&e);
                tracing::error!(task = %key.0, error = %e, "a stored request no longer parses");
                (None, None)
            }
        };
        let hours = task.request.get("training_data").and_then(|d| d.get("hours_to_complete"));
        let until = task.started_at + hours_duration(hours.and_then(serde_json::Value::as_f64).unwrap_or(0.0));
        let running = Running { gpu_ids: task.gpu_ids.clone(), until, attempt: Some(task.attempt), job, run: None };
        self.running.insert(key.clone(), running);
        match run {
            Some(run) => {
                tracing::info!(task = %key.0, hotkey = %key.1, "following a task again after a restart");
                self.follow(key, task.attempt, run, ctx);
            }
            None => {
                tracing::warn!(task = %key.0, hotkey = %key.1, "{LOST}");
                let lost = RunOutcome::failed(LOST.into());
                ctx.spawn(self.finish(key, task.attempt, lost));
            }
        }
    }
}

fn hours_duration(hours: f64) -> chrono::Duration {
    chrono::Duration::milliseconds((hours.max(0.0) * 3_600_000.0).min(1e15) as i64)
}

/// The record of how a run ended.
fn end_of(outcome: &RunOutcome, at: DateTime<Utc>) -> NodeTaskEnd {
    let failure = |kind, line: String| NodeTaskEnd {
        status: NodeTaskStatus::Failure,
        at,
        logs: vec![line],
        test_loss: None,
        synth_loss: None,
        eval: EvalFacts::default(),
        failure: Some(kind),
    };
    match outcome {
        RunOutcome::Success { test_loss, synth_loss, eval } => NodeTaskEnd {
            status: NodeTaskStatus::Success,
            at,
            logs: vec![format!("training succeeded; evaluated test_loss {test_loss}")],
            test_loss: Some(*test_loss),
            synth_loss: *synth_loss,
            eval: EvalFacts { collected_at: eval.collected_at.or(Some(at)), ..eval.clone() },
            failure: None,
        },
        RunOutcome::Failed { reason, image } => NodeTaskEnd {
            // The image that ran, which the validator keeps with the attempt.
            eval: EvalFacts { image: image.clone(), ..EvalFacts::default() },
            ..failure(NodeFailure::Failed, reason.clone())
        },
        RunOutcome::NotStarted { reason } => failure(NodeFailure::NotStarted, format!("not started: {reason}")),
        RunOutcome::Unfetchable { reason } => {
            failure(NodeFailure::Unfetchable, format!("{}: {reason}", wire::CLONE_ERROR))
        }
        RunOutcome::NodeUnreachable { reason, during_run } => {
            failure(if *during_run { NodeFailure::Failed } else { NodeFailure::NotStarted }, reason.clone())
        }
    }
}

impl Actor for TaskBook {
    type Context = Context<Self>;

    /// Restores the running tasks before any message is handled.
    fn started(&mut self, ctx: &mut Context<Self>) {
        let read = self.db.clone();
        let restore = async move { read.run(|s| s.node_tasks_in(NodeTaskStatus::Training)).await };
        ctx.wait(restore.into_actor(self).map(|result, act, ctx| match result {
            Ok(tasks) => tasks.into_iter().for_each(|task| act.restore(task, ctx)),
            Err(e) => tracing::error!(error = %e, "cannot read the tasks to restore; they stay `training` until the next start"),
        }));
    }
}

impl Handler<StartTraining> for TaskBook {
    type Result = ResponseActFuture<Self, Result<(), NodeError>>;

    fn handle(&mut self, msg: StartTraining, _: &mut Context<Self>) -> Self::Result {
        let StartRequest { raw, job, attempt } = msg.0;
        let key = (job.task_id.clone(), job.hotkey.clone());
        if let Some(running) = self.running.get(&key) {
            // The reference answers a repeat on the same GPUs with its GPU conflict; crucible also
            // refuses a second run of a running task on other GPUs instead of starting it twice.
            let held = format!(
                "{GPU_CONFLICT} (task {} of hotkey {} is already training on GPUs {:?})",
                key.0, key.1, running.gpu_ids
            );
            return Box::pin(fut::ready(Err(ApiError::Conflict(held).into())));
        }
        let gpu_ids = job.placement.gpu_indices.clone();
        if let Err(e) = self.check_gpus(&gpu_ids) {
            return Box::pin(fut::ready(Err(e)));
        }
        let now = Utc::now();
        let until = now + hours_duration(job.hours_to_complete);
        // The attempt and the job are set once the record is stored; until then a cancel is asked to wait.
        self.running
            .insert(key.clone(), Running { gpu_ids: gpu_ids.clone(), until, attempt: None, job: None, run: None });
        let record = NodeTask {
            task_id: job.task_id.clone(),
            hotkey: job.hotkey.clone(),
            attempt: attempt.unwrap_or(1),
            request: raw,
            gpu_ids,
            status: NodeTaskStatus::Training,
            started_at: now,
            finished_at: None,
            logs: vec![format!("accepted; running on the {} executor", self.executor.name())],
            test_loss: None,
            synth_loss: None,
            eval: EvalFacts::default(),
            failure: None,
        };
        let db = self.db.clone();
        let write = async move {
            db.run(move |s| {
                s.transaction(|tx| {
                    let mut record = record.clone();
                    if attempt.is_none() {
                        // The reference sends no attempt: count the node's own runs of this task.
                        match tx.get_node_task(&record.task_id, &record.hotkey) {
                            Ok(previous) => record.attempt = previous.attempt + 1,
                            Err(StoreError::NotFound { .. }) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    tx.start_node_task(&record)?;
                    Ok(record.attempt)
                })
            })
            .await
        };
        Box::pin(write.into_actor(self).map(move |stored, act, ctx| match stored {
            Ok(attempt) => {
                tracing::info!(task = %key.0, hotkey = %key.1, attempt, "task started");
                let job = TrainingJob { attempt, ..job };
                if let Some(running) = act.running.get_mut(&key) {
                    (running.attempt, running.job) = (Some(attempt), Some(job.clone()));
                }
                let run = act.executor.run(job);
                act.follow(key, attempt, run, ctx);
                Ok(())
            }
            Err(e) => {
                act.running.remove(&key);
                Err(ApiError::Unavailable(format!("the task could not be recorded: {e}")).into())
            }
        }))
    }
}

impl Handler<CancelTraining> for TaskBook {
    type Result = ResponseActFuture<Self, Result<(), NodeError>>;

    fn handle(&mut self, msg: CancelTraining, ctx: &mut Context<Self>) -> Self::Result {
        let CancelRequest { task_id, hotkey, attempt } = msg.0;
        let key = (task_id, hotkey);
        let Some(running) = self.running.get_mut(&key) else {
            return Box::pin(self.not_training(key, attempt).into_actor(self));
        };
        let Some(running_attempt) = running.attempt else {
            let message =
                format!("task {} of hotkey {} is starting (its record is being written): ask again", key.0, key.1);
            return Box::pin(fut::ready(Err(ApiError::Unavailable(message).into())));
        };
        if let Some(wanted) = attempt.filter(|a| *a != running_attempt) {
            let message =
                format!("task {} of hotkey {} is training attempt {running_attempt}, not {wanted}", key.0, key.1);
            return Box::pin(fut::ready(Err(ApiError::Conflict(message).into())));
        }
        let Some(handle) = running.run.take() else {
            let message = format!("task {} of hotkey {} is already ending", key.0, key.1);
            return Box::pin(fut::ready(Err(ApiError::Conflict(message).into())));
        };
        ctx.cancel_future(handle);
        let attempt = running_attempt;
        tracing::info!(task = %key.0, hotkey = %key.1, attempt, "stopping the task: the validator cancelled it");
        let stop = running.job.clone().map(|job| self.executor.cancel(job));
        let stopped = async move {
            if let Some(stop) = stop {
                stop.await;
            }
        };
        let cancelled = RunOutcome::failed(wire::CANCELLED.into());
        Box::pin(
            stopped.into_actor(self).then(move |(), act, _| act.finish(key, attempt, cancelled)).map(|(), _, _| Ok(())),
        )
    }
}

impl TaskBook {
    /// The answer to a cancel of a task that is not running: 404 when the node never had it, else 409
    /// saying how it ended.
    fn not_training(&self, key: Key, attempt: Option<u32>) -> impl Future<Output = Result<(), NodeError>> + use<> {
        let db = self.db.clone();
        async move {
            let (task, hotkey) = key.clone();
            match db.run(move |s| s.get_node_task(&task, &hotkey)).await {
                Ok(record) if attempt.is_some_and(|a| a > record.attempt) => Err(ApiError::NotFound(format!(
                    "Task with ID '{}' and hotkey '{}' has no attempt {}.",
                    key.0,
                    key.1,
                    attempt.unwrap_or_default()
                ))
                .into()),
                Ok(record) => Err(ApiError::Conflict(format!(
                    "task {} of hotkey {} is not training: attempt {} ended {}",
                    key.0, key.1, record.attempt, record.status
                ))
                .into()),
                Err(StoreError::NotFound { .. }) => {
                    Err(ApiError::NotFound(format!("Task with ID '{}' and hotkey '{}' not found.", key.0, key.1))
                        .into())
                }
                Err(e) => Err(ApiError::Unavailable(format!("the task records cannot be read: {e}")).into()),
            }
        }
    }
}

impl Handler<ListGpus> for TaskBook {
    type Result = MessageResult<ListGpus>;

    fn handle(&mut self, _: ListGpus, _: &mut Context<Self>) -> Self::Result {
        let gpus = self.gpus.iter().map(|gpu| {
            let holder = self.running.values().find(|r| r.gpu_ids.contains(&gpu.index));
            GpuInfo {
                gpu_id: gpu.index,
                gpu_type: gpu.class.to_string(),
                vram_gb: gpu.vram_gb,
                available: holder.is_none(),
                used_until: holder.map(|r| r.until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            }
        });
        MessageResult(gpus.collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_run_reports_the_image_it_ran_and_its_reason() {
        let at = Utc::now();
        let failed = RunOutcome::Failed { reason: "exit 1".into(), image: Some("sha256:0d5c".into()) };
        let end = end_of(&failed, at);
        assert_eq!(
            (end.status, end.failure, end.logs),
            (NodeTaskStatus::Failure, Some(NodeFailure::Failed), vec!["exit 1".to_owned()])
        );
        assert_eq!(end.eval, EvalFacts { image: Some("sha256:0d5c".into()), ..EvalFacts::default() });
        let refused = end_of(&RunOutcome::NotStarted { reason: "no GPU".into() }, at);
        assert_eq!(refused.eval, EvalFacts::default());
    }
}
