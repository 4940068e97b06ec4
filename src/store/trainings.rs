//! Trainings: one (task, hotkey) execution each, its state and scores, and every attempt to run it
//! (tournament-rules.md §6, §7).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::convert::unsigned;
use super::convert::{from_db, from_db_opt, gpu_ids_from_db, gpu_ids_to_db, parse, parse_opt, signed, to_db};
use super::schema::{training_attempts, trainings};
use super::transitions::{EntityKind, StatusChange, apply_change, log};
use super::{StoreError, Tx};
use crate::domain::scoring::TrainingResult;
use crate::domain::task_scores::EvalFacts;
use crate::domain::{Hotkey, NodeId, RunStatus, TaskId, TrainingState, TrainingStatus};

/// The durable state of one training.
#[derive(Debug, Clone, PartialEq)]
pub struct Training {
    pub task_id: TaskId,
    pub hotkey: Hotkey,
    pub status: TrainingStatus,
    /// Real starts so far.
    pub attempts: u32,
    pub failure_reason: Option<String>,
    pub test_loss: Option<f64>,
    pub synth_loss: Option<f64>,
    /// What the evaluation said beside the value (empty until the training succeeds).
    pub eval: EvalFacts,
    pub updated_at: DateTime<Utc>,
}

impl Training {
    /// The training as scoring sees it once it has ended; `None` while it is pending or running.
    pub fn result(&self) -> Option<TrainingResult> {
        let status = self.status.outcome()?;
        Some(TrainingResult {
            hotkey: self.hotkey.clone(),
            status,
            test_loss: self.test_loss,
            synth_loss: self.synth_loss,
            eval: self.eval.clone(),
            reason: self.failure_reason.clone(),
        })
    }
}

/// A step of the training state machine to persist: applied only if the stored status is still
/// `from`; writes `state` and the scores as given.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingUpdate {
    pub from: TrainingStatus,
    pub state: TrainingState,
    pub test_loss: Option<f64>,
    pub synth_loss: Option<f64>,
    pub eval: EvalFacts,
    pub cause: String,
    pub at: DateTime<Utc>,
}

/// One run of a training on some GPUs, as recorded when it starts and when it ends.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingAttempt {
    pub task_id: TaskId,
    pub hotkey: Hotkey,
    /// 1-based, assigned by the store.
    pub attempt: u32,
    pub node_id: Option<NodeId>,
    pub gpu_ids: Vec<u32>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: Option<RunStatus>,
    pub reason: Option<String>,
    /// The content id of the miner image the attempt ran, when one was built and is known.
    pub image: Option<String>,
}

/// An attempt about to start.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAttempt {
    pub task_id: TaskId,
    pub hotkey: Hotkey,
    pub node_id: Option<NodeId>,
    pub gpu_ids: Vec<u32>,
    pub started_at: DateTime<Utc>,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptEnd {
    pub outcome: RunStatus,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
    /// The content id of the miner image it ran, if one was built.
    pub image: Option<String>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = trainings)]
struct TrainingRow {
    task_id: String,
    hotkey: String,
    status: String,
    attempts: i32,
    failure_reason: Option<String>,
    test_loss: Option<f64>,
    synth_loss: Option<f64>,
    updated_at: NaiveDateTime,
    evaluation: Option<String>,
}

impl TrainingRow {
    fn into_record(self) -> Result<Training, StoreError> {
        const T: &str = "trainings";
        Ok(Training {
            task_id: parse(T, "task_id", &self.task_id)?,
            hotkey: parse(T, "hotkey", &self.hotkey)?,
            status: parse(T, "status", &self.status)?,
            attempts: unsigned(T, "attempts", self.attempts)?,
            failure_reason: self.failure_reason,
            test_loss: self.test_loss,
            synth_loss: self.synth_loss,
            eval: match self.evaluation {
                Some(json) => serde_json::from_str(&json)
                    .map_err(|e| StoreError::Corrupt { table: T, detail: format!("evaluation is not valid: {e}") })?,
                None => EvalFacts::default(),
            },
            updated_at: from_db(self.updated_at),
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = training_attempts)]
struct AttemptRow {
    task_id: String,
    hotkey: String,
    attempt: i32,
    node_id: Option<String>,
    gpu_ids: String,
    started_at: NaiveDateTime,
    finished_at: Option<NaiveDateTime>,
    outcome: Option<String>,
    reason: Option<String>,
    image: Option<String>,
}

impl AttemptRow {
    fn into_record(self) -> Result<TrainingAttempt, StoreError> {
        const T: &str = "training_attempts";
        Ok(TrainingAttempt {
            task_id: parse(T, "task_id", &self.task_id)?,
            hotkey: parse(T, "hotkey", &self.hotkey)?,
            attempt: unsigned(T, "attempt", self.attempt)?,
            node_id: parse_opt(T, "node_id", self.node_id.as_deref())?,
            gpu_ids: gpu_ids_from_db(T, &self.gpu_ids)?,
            started_at: from_db(self.started_at),
            finished_at: from_db_opt(self.finished_at),
            outcome: parse_opt(T, "outcome", self.outcome.as_deref())?,
            reason: self.reason,
            image: self.image,
        })
    }
}

/// The evaluation facts as stored: `NULL` when nothing is known.
fn evaluation_json(eval: &EvalFacts) -> Result<Option<String>, StoreError> {
    if eval == &EvalFacts::default() {
        return Ok(None);
    }
    serde_json::to_string(eval)
        .map(Some)
        .map_err(|e| StoreError::Corrupt { table: "trainings", detail: format!("evaluation: {e}") })
}

fn records(rows: Vec<TrainingRow>) -> Result<Vec<Training>, StoreError> {
    rows.into_iter().map(TrainingRow::into_record).collect()
}

impl Tx<'_> {
    /// Inserts a training and logs its creation.
    pub fn insert_training(&mut self, training: &Training) -> Result<(), StoreError> {
        let row = TrainingRow {
            task_id: training.task_id.to_string(),
            hotkey: training.hotkey.to_string(),
            status: training.status.as_str().to_owned(),
            attempts: signed("attempts", training.attempts)?,
            failure_reason: training.failure_reason.clone(),
            test_loss: training.test_loss,
            synth_loss: training.synth_loss,
            updated_at: to_db(training.updated_at),
            evaluation: evaluation_json(&training.eval)?,
        };
        diesel::insert_into(trainings::table).values(&row).execute(self.conn)?;
        let id = EntityKind::training_id(&training.task_id, &training.hotkey);
        log(self.conn, EntityKind::Training, &id, None, &row.status, "created", training.updated_at)
    }

    pub fn get_training(&mut self, task: &TaskId, hotkey: &Hotkey) -> Result<Training, StoreError> {
        trainings::table
            .find((task.as_str(), hotkey.as_str()))
            .select(TrainingRow::as_select())
            .first(self.conn)
            .optional()?
            .ok_or_else(|| StoreError::not_found("training", EntityKind::training_id(task, hotkey)))?
            .into_record()
    }

    /// The trainings of a task, by hotkey.
    pub fn trainings_for_task(&mut self, task: &TaskId) -> Result<Vec<Training>, StoreError> {
        let query = trainings::table.filter(trainings::task_id.eq(task.as_str()));
        records(query.order(trainings::hotkey.asc()).select(TrainingRow::as_select()).load(self.conn)?)
    }

    /// Every training in one status, by task.
    pub fn trainings_in(&mut self, status: TrainingStatus) -> Result<Vec<Training>, StoreError> {
        let query = trainings::table.filter(trainings::status.eq(status.as_str()));
        records(
            query
                .order((trainings::task_id.asc(), trainings::hotkey.asc()))
                .select(TrainingRow::as_select())
                .load(self.conn)?,
        )
    }

    /// Every training of one hotkey, by task.
    pub fn trainings_for_hotkey(&mut self, hotkey: &Hotkey) -> Result<Vec<Training>, StoreError> {
        let query = trainings::table.filter(trainings::hotkey.eq(hotkey.as_str()));
        records(query.order(trainings::task_id.asc()).select(TrainingRow::as_select()).load(self.conn)?)
    }

    /// Persists a step of the training's state machine with its scores (compare-and-set, logged).
    pub fn update_training(
        &mut self,
        task: &TaskId,
        hotkey: &Hotkey,
        update: &TrainingUpdate,
    ) -> Result<(), StoreError> {
        let attempts: i32 = signed("attempts", update.state.attempts)?;
        let evaluation = evaluation_json(&update.eval)?;
        let change = StatusChange::new(update.from, update.state.status, update.cause.clone(), update.at);
        let key = (task.as_str(), hotkey.as_str());
        let row = trainings::table.find(key).filter(trainings::status.eq(update.from.as_str()));
        apply_change(
            self.conn,
            EntityKind::Training,
            &EntityKind::training_id(task, hotkey),
            &change,
            |conn| {
                diesel::update(row)
                    .set((
                        trainings::status.eq(update.state.status.as_str()),
                        trainings::attempts.eq(attempts),
                        trainings::failure_reason.eq(&update.state.failure_reason),
                        trainings::test_loss.eq(update.test_loss),
                        trainings::synth_loss.eq(update.synth_loss),
                        trainings::evaluation.eq(&evaluation),
                        trainings::updated_at.eq(to_db(update.at)),
                    ))
                    .execute(conn)
            },
            |conn| trainings::table.find(key).select(trainings::status).first(conn).optional(),
        )
    }

    /// Records the start of a run and returns its attempt number (1 + the last one recorded).
    pub fn start_attempt(&mut self, attempt: &NewAttempt) -> Result<u32, StoreError> {
        let key = (attempt.task_id.as_str(), attempt.hotkey.as_str());
        let last: Option<i32> = training_attempts::table
            .filter(training_attempts::task_id.eq(key.0))
            .filter(training_attempts::hotkey.eq(key.1))
            .select(diesel::dsl::max(training_attempts::attempt))
            .first(self.conn)?;
        let number = last.unwrap_or(0) + 1;
        diesel::insert_into(training_attempts::table)
            .values((
                training_attempts::task_id.eq(key.0),
                training_attempts::hotkey.eq(key.1),
                training_attempts::attempt.eq(number),
                training_attempts::node_id.eq(attempt.node_id.as_ref().map(NodeId::as_str)),
                training_attempts::gpu_ids.eq(gpu_ids_to_db(&attempt.gpu_ids)),
                training_attempts::started_at.eq(to_db(attempt.started_at)),
            ))
            .execute(self.conn)?;
        unsigned("training_attempts", "attempt", number)
    }

    /// Records how attempt `attempt` ended. An attempt ends once: a second end is a `Conflict`.
    pub fn finish_attempt(
        &mut self,
        task: &TaskId,
        hotkey: &Hotkey,
        attempt: u32,
        end: &AttemptEnd,
    ) -> Result<(), StoreError> {
        let number: i32 = signed("attempt", attempt)?;
        let key = (task.as_str(), hotkey.as_str(), number);
        let changed =
            diesel::update(training_attempts::table.find(key).filter(training_attempts::finished_at.is_null()))
                .set((
                    training_attempts::finished_at.eq(to_db(end.at)),
                    training_attempts::outcome.eq(end.outcome.as_str()),
                    training_attempts::reason.eq(&end.reason),
                    training_attempts::image.eq(&end.image),
                ))
                .execute(self.conn)?;
        if changed == 0 {
            let id = format!("{}#{attempt}", EntityKind::training_id(task, hotkey));
            let exists: i64 = training_attempts::table.find(key).count().get_result(self.conn)?;
            return Err(match exists {
                0 => StoreError::not_found("training attempt", id),
                _ => StoreError::Conflict(format!("training attempt {id} has already ended")),
            });
        }
        Ok(())
    }

    /// Every attempt of a training, in order.
    pub fn attempts(&mut self, task: &TaskId, hotkey: &Hotkey) -> Result<Vec<TrainingAttempt>, StoreError> {
        training_attempts::table
            .filter(training_attempts::task_id.eq(task.as_str()))
            .filter(training_attempts::hotkey.eq(hotkey.as_str()))
            .order(training_attempts::attempt.asc())
            .select(AttemptRow::as_select())
            .load(self.conn)?
            .into_iter()
            .map(AttemptRow::into_record)
            .collect()
    }

    /// Every attempt that has started and not ended, on any node: what a restarted validator must
    /// find running again or count as lost.
    pub fn open_attempts(&mut self) -> Result<Vec<TrainingAttempt>, StoreError> {
        training_attempts::table
            .filter(training_attempts::finished_at.is_null())
            .order((training_attempts::task_id.asc(), training_attempts::hotkey.asc()))
            .select(AttemptRow::as_select())
            .load(self.conn)?
            .into_iter()
            .map(AttemptRow::into_record)
            .collect()
    }
}
