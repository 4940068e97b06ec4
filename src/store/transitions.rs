//! The transition log: every status change of every entity, with its time and cause
//! (tournament-rules.md §2: "every transition is persisted ... and is recorded with its time and cause").
//!
//! Status changes are compare-and-set: the caller names the status it believes current, the update
//! only applies when that is still so, and the log entry is written in the same transaction.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::QueryResult;

use super::connection::AnyConnection;
use super::convert::{from_db, from_db_opt, parse, to_db};
use super::schema::transitions;
use super::{StoreError, Tx};
use crate::domain::{Hotkey, RoundStatus, TaskId, TaskStatus, TournamentStatus, TrainingStatus};

/// The kinds of entity whose status changes are logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    Tournament,
    Round,
    Task,
    Training,
    Node,
    /// One GPU slot, logged as `<node_id>/<index>` (see [`EntityKind::gpu_id`]): placements and releases.
    Gpu,
    /// A registration attempt of a tournament (events only, no table of its own).
    Registration,
    /// A task on a trainer node (the node's own records), logged as `<task_id>/<hotkey>`.
    NodeTask,
}

impl EntityKind {
    pub const ALL: [EntityKind; 8] = [
        EntityKind::Tournament,
        EntityKind::Round,
        EntityKind::Task,
        EntityKind::Training,
        EntityKind::Node,
        EntityKind::Gpu,
        EntityKind::Registration,
        EntityKind::NodeTask,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Tournament => "tournament",
            EntityKind::Round => "round",
            EntityKind::Task => "task",
            EntityKind::Training => "training",
            EntityKind::Node => "node",
            EntityKind::Gpu => "gpu",
            EntityKind::Registration => "registration",
            EntityKind::NodeTask => "node_task",
        }
    }

    /// The entity id under which a (task, hotkey) training is logged: `<task_id>/<hotkey>`.
    pub fn training_id(task: &TaskId, hotkey: &Hotkey) -> String {
        format!("{task}/{hotkey}")
    }

    /// The entity id under which a GPU slot is logged: `<node_id>/<index>`.
    pub fn gpu_id(node_id: &str, index: u32) -> String {
        format!("{node_id}/{index}")
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EntityKind {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, String> {
        EntityKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == value)
            .ok_or_else(|| format!("unknown entity kind {value:?}"))
    }
}

/// A requested status change: applied only if the stored status is still `from`.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange<S> {
    pub from: S,
    pub to: S,
    /// Why: an event name, an operator's reason, ... (what a reader of the log needs).
    pub cause: String,
    pub at: DateTime<Utc>,
}

impl<S> StatusChange<S> {
    pub fn new(from: S, to: S, cause: impl Into<String>, at: DateTime<Utc>) -> Self {
        Self { from, to, cause: cause.into(), at }
    }
}

/// One entry of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub id: i64,
    pub entity_kind: EntityKind,
    pub entity_id: String,
    /// `None` for the entry written when the entity was created.
    pub from_status: Option<String>,
    pub to_status: String,
    pub cause: String,
    pub at: DateTime<Utc>,
}

/// Statuses as the text the log and the status columns hold.
pub(crate) trait StatusText {
    fn status_text(&self) -> &str;
}

macro_rules! status_text_via_as_str {
    ($($t:ty),*) => {
        $(impl StatusText for $t {
            fn status_text(&self) -> &str {
                self.as_str()
            }
        })*
    };
}
status_text_via_as_str!(TournamentStatus, RoundStatus, TaskStatus, TrainingStatus, String);

#[derive(Queryable, Selectable)]
#[diesel(table_name = transitions)]
struct TransitionRow {
    id: i64,
    entity_kind: String,
    entity_id: String,
    from_status: Option<String>,
    to_status: String,
    cause: String,
    at: chrono::NaiveDateTime,
}

/// Appends one entry to the log.
pub(crate) fn log(
    conn: &mut AnyConnection,
    kind: EntityKind,
    entity_id: &str,
    from: Option<&str>,
    to: &str,
    cause: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::insert_into(transitions::table)
        .values((
            transitions::entity_kind.eq(kind.as_str()),
            transitions::entity_id.eq(entity_id),
            transitions::from_status.eq(from),
            transitions::to_status.eq(to),
            transitions::cause.eq(cause),
            transitions::at.eq(to_db(at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// The generic compare-and-set status change. `update` must set the new status only where the status
/// is still `change.from` and return the number of rows changed; `current` reads the stored status.
/// On success the change is logged; otherwise it is `NotFound` or `Conflict`, and nothing is logged.
pub(crate) fn apply_change<S: StatusText>(
    conn: &mut AnyConnection,
    kind: EntityKind,
    entity_id: &str,
    change: &StatusChange<S>,
    update: impl FnOnce(&mut AnyConnection) -> QueryResult<usize>,
    current: impl FnOnce(&mut AnyConnection) -> QueryResult<Option<String>>,
) -> Result<(), StoreError> {
    let (from, to) = (change.from.status_text(), change.to.status_text());
    if update(conn)? == 0 {
        return Err(match current(conn)? {
            None => StoreError::not_found(kind.as_str(), entity_id),
            Some(stored) => StoreError::Conflict(format!(
                "{kind} {entity_id} is {stored}, not {from}: cannot move it to {to} ({})",
                change.cause
            )),
        });
    }
    log(conn, kind, entity_id, Some(from), to, &change.cause, change.at)
}

impl Tx<'_> {
    /// Appends one entry to the log without changing any other table (`from_status` is `None`): for
    /// events of entities without a status column (registration attempts, GPU placements) that a
    /// restarted process reads back to re-derive its timers.
    pub fn log_event(
        &mut self,
        kind: EntityKind,
        entity_id: &str,
        status: &str,
        cause: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        log(self.conn, kind, entity_id, None, status, cause, at)
    }

    /// The latest `at` of the whole log (`None` when it is empty): where a simulation resumes its
    /// virtual clock.
    pub fn last_transition_at(&mut self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let latest = transitions::table.select(diesel::dsl::max(transitions::at)).first(self.conn)?;
        Ok(from_db_opt(latest))
    }

    /// The log of one entity, oldest first.
    pub fn transitions(&mut self, kind: EntityKind, entity_id: &str) -> Result<Vec<Transition>, StoreError> {
        let rows = transitions::table
            .filter(transitions::entity_kind.eq(kind.as_str()))
            .filter(transitions::entity_id.eq(entity_id))
            .order(transitions::id.asc())
            .select(TransitionRow::as_select())
            .load(self.conn)?;
        rows.into_iter()
            .map(|row| {
                Ok(Transition {
                    id: row.id,
                    entity_kind: parse("transitions", "entity_kind", &row.entity_kind)?,
                    entity_id: row.entity_id,
                    from_status: row.from_status,
                    to_status: row.to_status,
                    cause: row.cause,
                    at: from_db(row.at),
                })
            })
            .collect()
    }
}
