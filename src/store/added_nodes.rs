//! Trainer nodes an operator added through the control API (`add_trainer`): kept so that a restarted
//! validator's remote executor knows them beside the configured `validator.nodes`. Removing one
//! (`remove_trainer`) deletes its record, its node and its GPU slots, once no GPU of it is held.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::convert::{from_db, parse, to_db};
use super::schema::{added_nodes, gpus, trainer_nodes};
use super::{StoreError, Tx};
use crate::domain::NodeId;

/// One added node: where it answers and the token it asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct AddedNode {
    pub id: NodeId,
    pub url: String,
    pub token: String,
    /// Being removed: kept fenced until the trainings holding its GPUs end.
    pub draining: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = added_nodes)]
struct AddedRow {
    id: String,
    url: String,
    token: String,
    draining: bool,
    created_at: NaiveDateTime,
}

impl Tx<'_> {
    /// Records an added node; a node with the same id or URL already recorded is a `Conflict`.
    pub fn record_added_node(&mut self, trainer: &AddedNode) -> Result<(), StoreError> {
        let taken: i64 = added_nodes::table
            .filter(added_nodes::id.eq(trainer.id.as_str()).or(added_nodes::url.eq(&trainer.url)))
            .count()
            .get_result(self.conn)?;
        if taken > 0 {
            return Err(StoreError::Conflict(format!(
                "a trainer node {} or at {} was added already",
                trainer.id, trainer.url
            )));
        }
        let row = AddedRow {
            id: trainer.id.to_string(),
            url: trainer.url.clone(),
            token: trainer.token.clone(),
            draining: trainer.draining,
            created_at: to_db(trainer.created_at),
        };
        diesel::insert_into(added_nodes::table).values(&row).execute(self.conn)?;
        Ok(())
    }

    /// Every added node, oldest first.
    pub fn added_nodes(&mut self) -> Result<Vec<AddedNode>, StoreError> {
        let rows: Vec<AddedRow> =
            added_nodes::table.order(added_nodes::created_at.asc()).select(AddedRow::as_select()).load(self.conn)?;
        rows.into_iter()
            .map(|r| {
                Ok(AddedNode {
                    id: parse("added_nodes", "id", &r.id)?,
                    url: r.url,
                    token: r.token,
                    draining: r.draining,
                    created_at: from_db(r.created_at),
                })
            })
            .collect()
    }

    /// Marks an added node as being removed (it stays fenced); returns whether there was such a node.
    pub fn set_added_node_draining(&mut self, id: &str) -> Result<bool, StoreError> {
        let changed = diesel::update(added_nodes::table.filter(added_nodes::id.eq(id)))
            .set(added_nodes::draining.eq(true))
            .execute(self.conn)?;
        Ok(changed > 0)
    }

    /// Forgets an added node with its stored node and GPU slots; a `Conflict` while a GPU of it is held
    /// by a running training. Returns whether there was such a node.
    pub fn remove_added_node(&mut self, id: &str) -> Result<bool, StoreError> {
        let held: i64 = gpus::table
            .filter(gpus::node_id.eq(id))
            .filter(gpus::holder.is_not_null())
            .count()
            .get_result(self.conn)?;
        if held > 0 {
            return Err(StoreError::Conflict(format!(
                "{held} GPU(s) of trainer node {id} are held by running trainings"
            )));
        }
        let removed = diesel::delete(added_nodes::table.filter(added_nodes::id.eq(id))).execute(self.conn)?;
        if removed > 0 {
            diesel::delete(gpus::table.filter(gpus::node_id.eq(id))).execute(self.conn)?;
            diesel::delete(trainer_nodes::table.filter(trainer_nodes::id.eq(id))).execute(self.conn)?;
        }
        Ok(removed > 0)
    }
}
