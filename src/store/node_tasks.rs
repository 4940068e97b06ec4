//! A trainer node's own task records (trainer-node-api.md): the start_training request as received,
//! the GPUs it holds, its status `training → success|failure`, its log lines and, when the node's
//! executor scored the run, its losses. One record per (task, hotkey): a new run of a finished task
//! replaces it. Every status change is logged in the transition log as [`EntityKind::NodeTask`].
//!
//! What it must not do: decide whether a start is allowed (the node's task book does, in one place),
//! or hold the validator's trainings (those are `trainings`; a validator and a node may share a
//! database without their records meeting).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::{Map, Value};

use super::convert::{from_db, from_db_opt, gpu_ids_from_db, gpu_ids_to_db, parse, parse_opt, signed, to_db, unsigned};
use super::schema::node_tasks;
use super::transitions::{EntityKind, log};
use super::{StoreError, Tx};
use crate::domain::task_scores::EvalFacts;
use crate::domain::{Hotkey, NodeFailure, NodeTaskStatus, TaskId};

/// One task on this node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeTask {
    pub task_id: TaskId,
    pub hotkey: Hotkey,
    /// The validator's attempt number, when it sent one; otherwise counted by the node from 1.
    pub attempt: u32,
    /// The start_training request as received (a JSON object), extra fields included.
    pub request: Map<String, Value>,
    pub gpu_ids: Vec<u32>,
    pub status: NodeTaskStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub logs: Vec<String>,
    pub test_loss: Option<f64>,
    pub synth_loss: Option<f64>,
    /// What the evaluation said beside the value.
    pub eval: EvalFacts,
    /// Set with `failure`: whether the run failed, never started, or could not fetch the repository.
    pub failure: Option<NodeFailure>,
}

/// How a task ended.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeTaskEnd {
    /// `success` or `failure`.
    pub status: NodeTaskStatus,
    pub at: DateTime<Utc>,
    /// Lines appended to the task's log; the last one is the cause in the transition log.
    pub logs: Vec<String>,
    pub test_loss: Option<f64>,
    pub synth_loss: Option<f64>,
    pub eval: EvalFacts,
    pub failure: Option<NodeFailure>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = node_tasks)]
struct NodeTaskRow {
    task_id: String,
    hotkey: String,
    attempt: i32,
    request: String,
    gpu_ids: String,
    status: String,
    started_at: NaiveDateTime,
    finished_at: Option<NaiveDateTime>,
    logs: String,
    test_loss: Option<f64>,
    synth_loss: Option<f64>,
    failure_kind: Option<String>,
    evaluation: Option<String>,
}

const TABLE: &str = "node_tasks";

fn corrupt(column: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt { table: TABLE, detail: format!("{column}: {e}") }
}

impl NodeTaskRow {
    fn from_record(task: &NodeTask) -> Result<Self, StoreError> {
        Ok(Self {
            task_id: task.task_id.to_string(),
            hotkey: task.hotkey.to_string(),
            attempt: signed("attempt", task.attempt)?,
            request: to_json(&task.request)?,
            gpu_ids: gpu_ids_to_db(&task.gpu_ids),
            status: task.status.as_str().to_owned(),
            started_at: to_db(task.started_at),
            finished_at: task.finished_at.map(to_db),
            logs: to_json(&task.logs)?,
            test_loss: task.test_loss,
            synth_loss: task.synth_loss,
            failure_kind: task.failure.map(|f| f.as_str().to_owned()),
            evaluation: if task.eval == EvalFacts::default() { None } else { Some(to_json(&task.eval)?) },
        })
    }

    fn into_record(self) -> Result<NodeTask, StoreError> {
        Ok(NodeTask {
            task_id: parse(TABLE, "task_id", &self.task_id)?,
            hotkey: parse(TABLE, "hotkey", &self.hotkey)?,
            attempt: unsigned(TABLE, "attempt", self.attempt)?,
            request: serde_json::from_str(&self.request).map_err(|e| corrupt("request", e))?,
            gpu_ids: gpu_ids_from_db(TABLE, &self.gpu_ids)?,
            status: parse(TABLE, "status", &self.status)?,
            started_at: from_db(self.started_at),
            finished_at: from_db_opt(self.finished_at),
            logs: serde_json::from_str(&self.logs).map_err(|e| corrupt("logs", e))?,
            test_loss: self.test_loss,
            synth_loss: self.synth_loss,
            failure: parse_opt(TABLE, "failure_kind", self.failure_kind.as_deref())?,
            eval: match &self.evaluation {
                Some(json) => serde_json::from_str(json).map_err(|e| corrupt("evaluation", e))?,
                None => EvalFacts::default(),
            },
        })
    }
}

/// JSON text for the columns stored as JSON.
fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Conflict(format!("not storable as JSON: {e}")))
}

fn id(task: &TaskId, hotkey: &Hotkey) -> String {
    EntityKind::training_id(task, hotkey)
}

fn records(rows: Vec<NodeTaskRow>) -> Result<Vec<NodeTask>, StoreError> {
    rows.into_iter().map(NodeTaskRow::into_record).collect()
}

impl Tx<'_> {
    /// Records the start of a run: a new record, or a new run replacing a finished record of the same
    /// (task, hotkey). A record that is still `training` is a [`StoreError::Conflict`].
    pub fn start_node_task(&mut self, task: &NodeTask) -> Result<(), StoreError> {
        let key = (task.task_id.as_str(), task.hotkey.as_str());
        let previous: Option<String> =
            node_tasks::table.find(key).select(node_tasks::status).first(self.conn).optional()?;
        if previous.as_deref() == Some(NodeTaskStatus::Training.as_str()) {
            return Err(StoreError::Conflict(format!(
                "node task {} is still training",
                id(&task.task_id, &task.hotkey)
            )));
        }
        if previous.is_some() {
            diesel::delete(node_tasks::table.find(key)).execute(self.conn)?;
        }
        let row = NodeTaskRow::from_record(task)?;
        diesel::insert_into(node_tasks::table).values(&row).execute(self.conn)?;
        let cause = format!("attempt {} started on GPUs {:?}", task.attempt, task.gpu_ids);
        let entity = id(&task.task_id, &task.hotkey);
        log(self.conn, EntityKind::NodeTask, &entity, previous.as_deref(), &row.status, &cause, task.started_at)
    }

    /// Records how attempt `attempt` of a task ended; returns the record as stored. Only a record
    /// still `training` at that attempt can end ([`StoreError::Conflict`] otherwise).
    pub fn finish_node_task(
        &mut self,
        task: &TaskId,
        hotkey: &Hotkey,
        attempt: u32,
        end: &NodeTaskEnd,
    ) -> Result<NodeTask, StoreError> {
        let mut record = self.get_node_task(task, hotkey)?;
        if record.status != NodeTaskStatus::Training || record.attempt != attempt {
            return Err(StoreError::Conflict(format!(
                "node task {} is {} at attempt {}, so attempt {attempt} cannot end",
                id(task, hotkey),
                record.status,
                record.attempt
            )));
        }
        if end.status == NodeTaskStatus::Training {
            return Err(StoreError::Conflict("a node task cannot end in status training".into()));
        }
        record.status = end.status;
        record.finished_at = Some(end.at);
        record.logs.extend(end.logs.iter().cloned());
        record.test_loss = end.test_loss;
        record.synth_loss = end.synth_loss;
        record.eval = end.eval.clone();
        record.failure = end.failure;
        let row = NodeTaskRow::from_record(&record)?;
        diesel::update(node_tasks::table.find((task.as_str(), hotkey.as_str())))
            .set((
                node_tasks::status.eq(&row.status),
                node_tasks::finished_at.eq(row.finished_at),
                node_tasks::logs.eq(&row.logs),
                node_tasks::test_loss.eq(row.test_loss),
                node_tasks::synth_loss.eq(row.synth_loss),
                node_tasks::failure_kind.eq(&row.failure_kind),
                node_tasks::evaluation.eq(&row.evaluation),
            ))
            .execute(self.conn)?;
        let cause = end.logs.last().cloned().unwrap_or_else(|| format!("attempt {attempt} ended"));
        log(self.conn, EntityKind::NodeTask, &id(task, hotkey), Some("training"), &row.status, &cause, end.at)?;
        Ok(record)
    }

    pub fn get_node_task(&mut self, task: &TaskId, hotkey: &Hotkey) -> Result<NodeTask, StoreError> {
        node_tasks::table
            .find((task.as_str(), hotkey.as_str()))
            .select(NodeTaskRow::as_select())
            .first(self.conn)
            .optional()?
            .ok_or_else(|| StoreError::not_found("node task", id(task, hotkey)))?
            .into_record()
    }

    /// Every record in `status`, oldest start first.
    pub fn node_tasks_in(&mut self, status: NodeTaskStatus) -> Result<Vec<NodeTask>, StoreError> {
        let query = node_tasks::table.filter(node_tasks::status.eq(status.as_str()));
        let query = query.order((node_tasks::started_at.asc(), node_tasks::task_id.asc()));
        records(query.select(NodeTaskRow::as_select()).load(self.conn)?)
    }

    /// Records started or finished at or after `since`, newest first by the later of finish and start.
    pub fn recent_node_tasks(&mut self, since: DateTime<Utc>) -> Result<Vec<NodeTask>, StoreError> {
        let since = to_db(since);
        let query = node_tasks::table
            .filter(node_tasks::started_at.ge(since).or(node_tasks::finished_at.ge(since)))
            .order((node_tasks::started_at.desc(), node_tasks::task_id.asc(), node_tasks::hotkey.asc()));
        let mut tasks = records(query.select(NodeTaskRow::as_select()).load(self.conn)?)?;
        // The reference's order: newest first by the later of finish and start.
        tasks.sort_by_key(|t| std::cmp::Reverse(t.finished_at.map_or(t.started_at, |f| f.max(t.started_at))));
        Ok(tasks)
    }
}
