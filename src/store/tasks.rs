//! Tasks: the training jobs of a round, one per group or pair (six in the boss round), and their
//! replacements (tournament-rules.md §5, §7 "round sanity").

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::convert::{from_db, parse, parse_opt, signed_opt, to_db, unsigned_opt};
use super::schema::tasks;
use super::transitions::{EntityKind, StatusChange, apply_change, log};
use super::{StoreError, Tx};
use crate::domain::{ModelType, RoundId, TaskId, TaskStatus, TaskType, TournamentId};

/// One training job definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: TaskId,
    pub tournament_id: TournamentId,
    pub round_id: RoundId,
    pub group_id: Option<String>,
    pub pair_id: Option<String>,
    pub task_type: TaskType,
    pub model: String,
    /// Parameter count, when the catalog knows it (decides the GPU requirement).
    pub model_params: Option<u64>,
    pub dataset: String,
    pub dataset_rows: Option<u64>,
    /// The dataset's column mapping / reward functions, as JSON (opaque to the store).
    pub dataset_type_json: String,
    /// Image tasks only.
    pub model_type: Option<ModelType>,
    pub hours_to_complete: f64,
    /// The task this one replaces, if it is a replacement.
    pub replaces_task_id: Option<TaskId>,
    /// Owned by the round's actor; `replaced` is set by the store with the replacement.
    pub status: TaskStatus,
    pub created_at: DateTime<Utc>,
}

impl Task {
    /// GRPO: the weights of the task's reward functions, in order; empty for other tasks (or an
    /// unreadable dataset type).
    pub fn reward_weights(&self) -> Vec<f64> {
        serde_json::from_str(&self.dataset_type_json)
            .map(|v| crate::domain::task_scores::reward_weights(&v))
            .unwrap_or_default()
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = tasks)]
struct TaskRow {
    id: String,
    tournament_id: String,
    round_id: String,
    group_id: Option<String>,
    pair_id: Option<String>,
    task_type: String,
    model: String,
    model_params: Option<i64>,
    dataset: String,
    dataset_rows: Option<i64>,
    dataset_type_json: String,
    model_type: Option<String>,
    hours_to_complete: f64,
    replaces_task_id: Option<String>,
    status: String,
    created_at: NaiveDateTime,
}

const T: &str = "tasks";

impl TaskRow {
    fn new(t: &Task) -> Result<Self, StoreError> {
        Ok(Self {
            id: t.id.to_string(),
            tournament_id: t.tournament_id.to_string(),
            round_id: t.round_id.to_string(),
            group_id: t.group_id.clone(),
            pair_id: t.pair_id.clone(),
            task_type: t.task_type.as_str().to_owned(),
            model: t.model.clone(),
            model_params: signed_opt("model_params", t.model_params)?,
            dataset: t.dataset.clone(),
            dataset_rows: signed_opt("dataset_rows", t.dataset_rows)?,
            dataset_type_json: t.dataset_type_json.clone(),
            model_type: t.model_type.map(|m| m.as_str().to_owned()),
            hours_to_complete: t.hours_to_complete,
            replaces_task_id: t.replaces_task_id.as_ref().map(TaskId::to_string),
            status: t.status.as_str().to_owned(),
            created_at: to_db(t.created_at),
        })
    }

    fn into_record(self) -> Result<Task, StoreError> {
        Ok(Task {
            id: parse(T, "id", &self.id)?,
            tournament_id: parse(T, "tournament_id", &self.tournament_id)?,
            round_id: RoundId::parse(&self.round_id)
                .map_err(|e| StoreError::Corrupt { table: T, detail: format!("round_id: {e}") })?,
            group_id: self.group_id,
            pair_id: self.pair_id,
            task_type: parse(T, "task_type", &self.task_type)?,
            model: self.model,
            model_params: unsigned_opt(T, "model_params", self.model_params)?,
            dataset: self.dataset,
            dataset_rows: unsigned_opt(T, "dataset_rows", self.dataset_rows)?,
            dataset_type_json: self.dataset_type_json,
            model_type: parse_opt(T, "model_type", self.model_type.as_deref())?,
            hours_to_complete: self.hours_to_complete,
            replaces_task_id: parse_opt(T, "replaces_task_id", self.replaces_task_id.as_deref())?,
            status: parse(T, "status", &self.status)?,
            created_at: from_db(self.created_at),
        })
    }
}

/// How many of the newest tasks a boss round looks through for proven ones.
pub const HISTORY_WINDOW: i64 = 1000;

impl Tx<'_> {
    /// Inserts a task and logs its creation.
    pub fn insert_task(&mut self, task: &Task) -> Result<(), StoreError> {
        let row = TaskRow::new(task)?;
        diesel::insert_into(tasks::table).values(&row).execute(self.conn)?;
        log(self.conn, EntityKind::Task, &row.id, None, &row.status, "created", task.created_at)
    }

    pub fn get_task(&mut self, id: &TaskId) -> Result<Task, StoreError> {
        tasks::table
            .find(id.as_str())
            .select(TaskRow::as_select())
            .first(self.conn)
            .optional()?
            .ok_or_else(|| StoreError::not_found("task", id))?
            .into_record()
    }

    /// Proven historical tasks for a boss round (tournament-rules.md §5): tasks of `types` from
    /// tournaments other than `excluding`, not replaced, with at least `min_successes` trainings that
    /// succeeded with a finite value, oldest first, each with its count. Only the newest
    /// [`HISTORY_WINDOW`] such tasks are looked at, so the cost of a boss round does not grow with the
    /// validator's whole history.
    pub fn proven_tasks(
        &mut self,
        types: &[TaskType],
        min_successes: u32,
        excluding: &TournamentId,
    ) -> Result<Vec<(Task, u32)>, StoreError> {
        use super::schema::trainings;
        let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
        // A subquery, not a list of up to a thousand ids bound one by one: parsing that list cost more
        // than the rest of a boss round.
        let recent = tasks::table
            .filter(tasks::task_type.eq_any(&names))
            .filter(tasks::tournament_id.ne(excluding.as_str()))
            .filter(tasks::status.ne(TaskStatus::Replaced.as_str()))
            .order(tasks::created_at.desc())
            .limit(HISTORY_WINDOW)
            .select(tasks::id);
        let counts: Vec<(String, i64)> = trainings::table
            .filter(trainings::task_id.eq_any(recent))
            .filter(trainings::status.eq(crate::domain::TrainingStatus::Success.as_str()))
            .filter(trainings::test_loss.is_not_null())
            .group_by(trainings::task_id)
            .select((trainings::task_id, diesel::dsl::count_star()))
            .load(self.conn)?;
        let mut proven = Vec::new();
        for (id, count) in counts {
            let count = u32::try_from(count).unwrap_or(u32::MAX);
            if count >= min_successes {
                let task = self.get_task(&parse("tasks", "id", &id)?)?;
                proven.push((task, count));
            }
        }
        proven.sort_by(|(a, _), (b, _)| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(proven)
    }

    /// The tasks of a round, replaced ones included, in creation order.
    pub fn list_tasks(&mut self, round: &RoundId) -> Result<Vec<Task>, StoreError> {
        tasks::table
            .filter(tasks::round_id.eq(round.as_str()))
            .order((tasks::created_at.asc(), tasks::id.asc()))
            .select(TaskRow::as_select())
            .load(self.conn)?
            .into_iter()
            .map(TaskRow::into_record)
            .collect()
    }

    /// Moves a task's status (compare-and-set, logged).
    pub fn set_task_status(&mut self, id: &TaskId, change: &StatusChange<TaskStatus>) -> Result<(), StoreError> {
        let row = tasks::table.filter(tasks::id.eq(id.as_str())).filter(tasks::status.eq(change.from.as_str()));
        apply_change(
            self.conn,
            EntityKind::Task,
            id.as_str(),
            change,
            |conn| diesel::update(row).set(tasks::status.eq(change.to.as_str())).execute(conn),
            |conn| tasks::table.find(id.as_str()).select(tasks::status).first(conn).optional(),
        )
    }

    /// Inserts `replacement` and marks the task it names in `replaces_task_id` as `replaced`
    /// (logged with `cause`). A task can be replaced once.
    pub fn replace_task(&mut self, replacement: &Task, cause: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let old = replacement.replaces_task_id.as_ref().ok_or_else(|| {
            StoreError::Conflict(format!("task {} does not name the task it replaces", replacement.id))
        })?;
        let status = self.get_task(old)?.status;
        if status == TaskStatus::Replaced {
            return Err(StoreError::Conflict(format!("task {old} was already replaced")));
        }
        let change = StatusChange::new(status, TaskStatus::Replaced, cause, at);
        self.set_task_status(old, &change)?;
        self.insert_task(replacement)
    }
}
