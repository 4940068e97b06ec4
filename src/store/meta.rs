//! Small named facts (`meta`), free-standing log entries, and GPU holders set in bulk: what the runtime
//! needs to re-derive its timers and reservations after a restart.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::convert::{from_db, to_db};
use super::schema::{meta, transitions};
use super::transitions::log;
use super::{EntityKind, StoreError, Tx};

impl Tx<'_> {
    pub fn get_meta(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(meta::table.find(key).select(meta::value).first(self.conn).optional()?)
    }

    /// Sets `key` to `value`, inserting or replacing.
    pub fn set_meta(&mut self, key: &str, value: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let changed = diesel::update(meta::table.find(key))
            .set((meta::value.eq(value), meta::updated_at.eq(to_db(at))))
            .execute(self.conn)?;
        if changed == 0 {
            diesel::insert_into(meta::table)
                .values((meta::key.eq(key), meta::value.eq(value), meta::updated_at.eq(to_db(at))))
                .execute(self.conn)?;
        }
        Ok(())
    }

    /// Appends a log entry that changes no status: a registration attempt, a GPU placement.
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

    /// The time of the latest entry of the whole log: where a resumed simulation's clock starts.
    pub fn last_transition_at(&mut self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<chrono::NaiveDateTime> =
            transitions::table.select(diesel::dsl::max(transitions::at)).first(self.conn)?;
        Ok(at.map(from_db))
    }

    /// Sets the holder of several GPUs of one node, logging each (`<node>/<index>` reserved or free).
    pub fn set_gpu_holders(
        &mut self,
        node_id: &str,
        indices: &[u32],
        holder: Option<&str>,
        cause: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let status = if holder.is_some() { "reserved" } else { "free" };
        for index in indices {
            self.set_gpu_holder(node_id, *index, holder)?;
            log(self.conn, EntityKind::Gpu, &format!("{node_id}/{index}"), None, status, cause, at)?;
        }
        Ok(())
    }
}
