//! The remote executor: runs a training on a trainer node through the trainer API (trainer-node-api.md),
//! whether the node is `crucible trainer-node` or the reference's Python one.
//!
//! A run is `POST /v1/trainer/start_training` (the job's wire fields, `gpu_ids` from its placement),
//! then `GET /v1/trainer/{task_id}?hotkey=` every `poll_interval_secs` until `success` or `failure`
//! (the protocol has no push). How answers become outcomes:
//!
//! * a start that cannot reach the node, or that the node answers with something other than the
//!   protocol (HTTP 5xx, garbage, access refused) → [`RunOutcome::NodeUnreachable`] before the run:
//!   no attempt consumed, node fenced by the trainer until the health loop (`actors::health`) sees it answer again;
//! * "Error cloning github repository" → [`RunOutcome::Unfetchable`]; a 409 for this very attempt,
//!   already training (a start whose answer was lost, repeated) → followed; another refusal (409 GPU
//!   held, 422, 400) → [`RunOutcome::NotStarted`];
//! * `lost_after_polls` polls in a row without a readable answer → `NodeUnreachable` during the run: a
//!   lost run (the attempt is consumed), node fenced; a node that no longer knows the task (404) → a
//!   lost run too, without fencing (it answers);
//! * `success` with a `test_loss` (our node evaluates and adds it) → [`RunOutcome::Success`].
//!   **A success without `test_loss`** (the reference's nodes upload the model instead of scoring it)
//!   is evaluated by the validator itself ([`evaluation`]: the model fetched from the hub, scored by
//!   the validator's evaluator image); without an evaluation backend it is a `Failed` run whose reason
//!   says why;
//! * `failure` → the kind our node reports (`failure_kind`), else `Unfetchable` when a log line carries
//!   the clone error, else `Failed` with the last log line.
//!
//! `reattach` (after a validator restart) simply resumes following the task.
//!
//! `cancel` (its tournament was cancelled) asks the node to stop the attempt with
//! `POST /v1/trainer/cancel_training`, crucible's extension of the protocol: our node kills the run
//! and frees its GPUs. A reference node has no such route (it answers 405): its run goes on
//! until its hours, and its GPUs answer busy until then. A node that does not answer is asked again
//! every `poll_interval_secs`, `lost_after_polls` times in all.

pub mod client;
pub mod evaluation;
pub mod settings;
pub mod wire;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Executor, RunFuture, RunOutcome, TrainingJob};
use crate::domain::{NodeFailure, NodeId, NodeTaskStatus};
use client::{NodeClient, RemoteNode};
use settings::{PollingSettings, RemoteNodeSettings};
use wire::{GpuInfo, StartAnswer, TaskReport};

pub const START_PATH: &str = "/v1/trainer/start_training";
pub const AVAILABILITY_PATH: &str = "/v1/trainer/get_gpu_availability";
pub const CANCEL_PATH: &str = "/v1/trainer/cancel_training";

pub struct RemoteExecutor {
    inner: Rc<Inner>,
}

struct Inner {
    client: NodeClient,
    /// The configured nodes and those an operator added; changed only between awaits.
    nodes: RefCell<HashMap<String, RemoteNode>>,
    /// Nodes being removed: kept fenced whatever they answer.
    draining: RefCell<std::collections::HashSet<String>>,
    poll: Duration,
    lost_after: u32,
    /// How long past its hours a run may still be reported as training.
    margin: Duration,
    /// Scores runs that a node reports as successes without a score; without it they cannot be scored.
    evaluation: Option<evaluation::RemoteEvaluation>,
}

impl RemoteExecutor {
    pub fn new(nodes: &[RemoteNodeSettings], polling: &PollingSettings) -> Result<Self, reqwest::Error> {
        let nodes = nodes.iter().map(|n| (n.id.to_string(), RemoteNode::from(n))).collect();
        let inner = Inner {
            client: NodeClient::new(polling)?,
            nodes: RefCell::new(nodes),
            draining: RefCell::default(),
            poll: Duration::from_secs_f64(polling.poll_interval_secs),
            lost_after: polling.lost_after_polls.max(1),
            margin: Duration::from_secs_f64(polling.follow_margin_secs.max(0.0)),
            evaluation: None,
        };
        Ok(Self { inner: Rc::new(inner) })
    }

    /// Evaluates, with `evaluation`, the runs nodes report as successes without a score.
    pub fn with_evaluation(mut self, evaluation: evaluation::RemoteEvaluation) -> Self {
        if let Some(inner) = Rc::get_mut(&mut self.inner) {
            inner.evaluation = Some(evaluation);
        }
        self
    }

    /// The ids of the nodes it reaches (configured and added), sorted.
    pub fn node_ids(&self) -> Vec<NodeId> {
        let mut ids: Vec<NodeId> = self.inner.nodes.borrow().values().map(|n| n.id.clone()).collect();
        ids.sort();
        ids
    }

    /// A node's base URL, if the executor knows the node.
    pub fn url_of(&self, node_id: &str) -> Option<String> {
        self.inner.nodes.borrow().get(node_id).map(|n| n.url.clone())
    }

    /// The node with this id or base URL, if known.
    pub fn find(&self, id_or_url: &str) -> Option<NodeId> {
        let url = id_or_url.trim_end_matches('/');
        self.inner.nodes.borrow().values().find(|n| n.id.as_str() == id_or_url || n.url == url).map(|n| n.id.clone())
    }

    /// Reaches one more node from now on (an operator's `add_trainer`); `false` when its id or URL is
    /// taken.
    pub fn add_node(&self, node: &RemoteNodeSettings) -> bool {
        let node = RemoteNode::from(node);
        let mut nodes = self.inner.nodes.borrow_mut();
        if nodes.values().any(|n| n.id == node.id || n.url == node.url) {
            return false;
        }
        nodes.insert(node.id.to_string(), node);
        true
    }

    /// Stops reaching a node; runs already following it keep their copy of its address.
    pub fn remove_node(&self, node_id: &str) -> bool {
        self.inner.draining.borrow_mut().remove(node_id);
        self.inner.nodes.borrow_mut().remove(node_id).is_some()
    }

    /// Keeps a node fenced whatever it answers (it is being removed); runs on it still end normally.
    pub fn set_draining(&self, node_id: &str) {
        self.inner.draining.borrow_mut().insert(node_id.to_owned());
    }

    pub fn is_draining(&self, node_id: &str) -> bool {
        self.inner.draining.borrow().contains(node_id)
    }

    /// A node's GPUs as `get_gpu_availability` lists them; `Err` says why the node did not answer.
    pub async fn availability(&self, node_id: &str) -> Result<Vec<GpuInfo>, String> {
        let node = self.inner.node(node_id)?;
        let answer = self.inner.client.get(&node, AVAILABILITY_PATH, &[]).await?;
        if answer.status != 200 {
            return Err(format!("HTTP {}: {}", answer.status, answer.error_text()));
        }
        serde_json::from_slice(&answer.body).map_err(|e| format!("the GPU list is unreadable: {e}"))
    }
}

impl Inner {
    fn node(&self, id: &str) -> Result<RemoteNode, String> {
        self.nodes.borrow().get(id).cloned().ok_or_else(|| {
            format!("no trainer node {id:?} is configured in validator.nodes or added through the control API")
        })
    }

    async fn run(&self, job: TrainingJob) -> RunOutcome {
        let node = match self.node(job.placement.node_id.as_str()) {
            Ok(node) => node,
            Err(reason) => return RunOutcome::NotStarted { reason },
        };
        let unreachable = |reason: String| RunOutcome::NodeUnreachable {
            reason: format!("node {} at {}: {reason}", node.id, node.url),
            during_run: false,
        };
        let answer = match self.client.post(&node, START_PATH, &wire::start_body(&job)).await {
            Ok(answer) => answer,
            Err(e) => return unreachable(e),
        };
        match answer.status {
            200 => match wire::parse_start_answer(&answer.body) {
                Ok(StartAnswer::Started) => self.follow(&node, &job).await,
                Ok(StartAnswer::CloneError(error)) => RunOutcome::Unfetchable { reason: error },
                Err(e) => unreachable(format!("start_training answered outside the protocol: {e}")),
            },
            401 | 403 => unreachable(format!("access refused (HTTP {}): {}", answer.status, answer.error_text())),
            // A repeat of a start the node already took (its answer was lost): follow that run.
            409 if self.already_running(&node, &job).await => self.follow(&node, &job).await,
            400..=499 => RunOutcome::NotStarted {
                reason: format!("node {} refused the start (HTTP {}): {}", node.id, answer.status, answer.error_text()),
            },
            status => unreachable(format!("start_training answered HTTP {status}: {}", answer.error_text())),
        }
    }

    /// Whether the node's record of the job's task is this very attempt, still training (our node
    /// reports the attempt; a reference node's record cannot be told apart, so it is not followed).
    async fn already_running(&self, node: &RemoteNode, job: &TrainingJob) -> bool {
        let path = format!("/v1/trainer/{}", job.task_id);
        match self.client.get(node, &path, &[("hotkey", job.hotkey.as_str())]).await {
            Ok(answer) if answer.status == 200 => wire::parse_task_report(&answer.body)
                .is_ok_and(|r| r.status == NodeTaskStatus::Training && r.attempt == Some(job.attempt)),
            _ => false,
        }
    }

    /// Polls the task until it ends, or until the node has not answered `lost_after` polls in a row.
    async fn follow(&self, node: &RemoteNode, job: &TrainingJob) -> RunOutcome {
        let path = format!("/v1/trainer/{}", job.task_id);
        let mut missed = 0;
        let hours = Duration::from_secs_f64((job.hours_to_complete.max(0.0) * 3600.0).min(1e9));
        let deadline = tokio::time::Instant::now() + hours + self.margin;
        loop {
            tokio::time::sleep(self.poll).await;
            let failure = match self.client.get(node, &path, &[("hotkey", job.hotkey.as_str())]).await {
                Ok(answer) if answer.status == 200 => match wire::parse_task_report(&answer.body) {
                    Ok(report) if report.attempt.is_some_and(|a| a != job.attempt) => {
                        return RunOutcome::failed(format!(
                            "lost: node {} now holds attempt {} of task {} of {}, not attempt {}",
                            node.id,
                            report.attempt.unwrap_or_default(),
                            job.task_id,
                            job.hotkey,
                            job.attempt
                        ));
                    }
                    Ok(report) if report.status == NodeTaskStatus::Training => {
                        if tokio::time::Instant::now() >= deadline {
                            return RunOutcome::failed(format!(
                                "lost: node {} still reports training {} s past the task's {} hours",
                                node.id,
                                self.margin.as_secs(),
                                job.hours_to_complete
                            ));
                        }
                        None
                    }
                    Ok(report) => return self.ended(node, job, report).await,
                    Err(e) => Some(format!("unreadable task record: {e}")),
                },
                Ok(answer) if answer.status == 404 => {
                    return RunOutcome::failed(format!(
                        "lost: node {} no longer knows task {} of {}",
                        node.id, job.task_id, job.hotkey
                    ));
                }
                Ok(answer) => Some(format!("HTTP {}: {}", answer.status, answer.error_text())),
                Err(e) => Some(e),
            };
            match failure {
                None => missed = 0,
                Some(last) => {
                    missed += 1;
                    tracing::warn!(node = %node.id, task = %job.task_id, missed, error = %last, "poll not answered");
                    if missed >= self.lost_after {
                        return RunOutcome::NodeUnreachable {
                            reason: format!(
                                "lost: node {} did not answer {missed} polls in a row (last: {last})",
                                node.id
                            ),
                            during_run: true,
                        };
                    }
                }
            }
        }
    }
}

impl Inner {
    /// Asks the node to stop `job`'s attempt; logs what came of it.
    async fn cancel(&self, job: TrainingJob) {
        let node = match self.node(job.placement.node_id.as_str()) {
            Ok(node) => node,
            Err(reason) => return tracing::warn!(task = %job.task_id, "the run cannot be stopped: {reason}"),
        };
        let span = tracing::info_span!("cancel", node = %node.id, task = %job.task_id, hotkey = %job.hotkey, attempt = job.attempt);
        let body = wire::cancel_body(&job);
        let mut last = String::new();
        for asked in 1..=self.lost_after {
            if asked > 1 {
                tokio::time::sleep(self.poll).await;
            }
            let answer = match self.client.post(&node, CANCEL_PATH, &body).await {
                Ok(answer) => answer,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            let text = answer.error_text();
            match answer.status {
                200 => return tracing::info!(parent: &span, "the node stopped the run"),
                // The run ended already (409), or the node never took the start (404, once asked again).
                409 => return tracing::info!(parent: &span, "nothing to stop: {text}"),
                404 if asked == self.lost_after => return tracing::info!(parent: &span, "nothing to stop: {text}"),
                405 => {
                    return tracing::warn!(
                        parent: &span,
                        "the node cannot stop runs (a reference node): the run goes on until its hours, its GPUs busy"
                    );
                }
                401 | 403 | 422 => {
                    return tracing::warn!(parent: &span, "the node refused to stop the run (HTTP {}): {text}", answer.status);
                }
                status => last = format!("HTTP {status}: {text}"),
            }
        }
        tracing::warn!(parent: &span, "the node was not told to stop the run; it goes on until its hours (last: {last})");
    }

    /// The outcome of a task record that is no longer `training`; a success without a score is
    /// evaluated here when the executor can.
    async fn ended(&self, node: &RemoteNode, job: &TrainingJob, report: TaskReport) -> RunOutcome {
        match (&report.status, report.test_loss, &self.evaluation) {
            (NodeTaskStatus::Success, None, Some(evaluation)) => evaluation.evaluate(job).await,
            _ => ended(node, report),
        }
    }
}

/// The outcome of a task record that is no longer `training`.
fn ended(node: &RemoteNode, report: TaskReport) -> RunOutcome {
    let last = report.logs.last().cloned();
    match report.status {
        NodeTaskStatus::Success => match report.test_loss {
            Some(test_loss) => RunOutcome::Success { test_loss, synth_loss: report.synth_loss, eval: report.eval },
            None => RunOutcome::failed(format!(
                "node {} reported success without a test_loss and this validator evaluates no uploaded \
                     models (no Docker engine for its evaluator), so the run cannot be scored",
                node.id
            )),
        },
        _ => {
            let reason = last.unwrap_or_else(|| format!("node {} reported failure without a log line", node.id));
            match report.failure {
                Some(NodeFailure::Unfetchable) => RunOutcome::Unfetchable { reason },
                Some(NodeFailure::NotStarted) => RunOutcome::NotStarted { reason },
                Some(NodeFailure::Failed) => RunOutcome::Failed { reason, image: report.eval.image },
                None => match report.logs.iter().find(|l| l.contains(wire::CLONE_ERROR)) {
                    Some(line) => RunOutcome::Unfetchable { reason: line.clone() },
                    None => RunOutcome::failed(reason),
                },
            }
        }
    }
}

impl Executor for RemoteExecutor {
    fn name(&self) -> &'static str {
        "remote"
    }

    fn run(&self, job: TrainingJob) -> RunFuture {
        let inner = self.inner.clone();
        Box::pin(async move { inner.run(job).await })
    }

    fn cancel(&self, job: TrainingJob) -> super::CancelFuture {
        let inner = self.inner.clone();
        Box::pin(async move { inner.cancel(job).await })
    }

    fn reattach(&self, job: TrainingJob, _: DateTime<Utc>) -> Option<RunFuture> {
        let inner = self.inner.clone();
        Some(Box::pin(async move {
            match inner.node(job.placement.node_id.as_str()) {
                Ok(node) => inner.follow(&node, &job).await,
                Err(reason) => RunOutcome::failed(format!("lost: {reason}")),
            }
        }))
    }
}
