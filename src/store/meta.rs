//! Process-wide facts as text keys and values (the `meta` table): small things a restarted process
//! needs and that belong to no entity, such as where a simulation's virtual clock stood.
//!
//! What it must not hold: anything with a lifecycle (that is an entity with its own table and its
//! transitions), or secrets.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::connection::per_backend;
use super::convert::to_db;
use super::schema::meta;
use super::{StoreError, Tx};

impl Tx<'_> {
    /// The value stored under `key`, if any.
    pub fn get_meta(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(meta::table.find(key).select(meta::value).first(self.conn).optional()?)
    }

    /// Stores `value` under `key`, replacing any previous value; `at` is kept as the time of the write.
    pub fn set_meta(&mut self, key: &str, value: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let at = to_db(at);
        // Upserts do not compile through `AnyConnection`.
        per_backend!(self.conn, |c| diesel::insert_into(meta::table)
            .values((meta::key.eq(key), meta::value.eq(value), meta::updated_at.eq(at)))
            .on_conflict(meta::key)
            .do_update()
            .set((meta::value.eq(value), meta::updated_at.eq(at)))
            .execute(c))?;
        Ok(())
    }

    /// This store's instance id: made once, at random, and kept, so whatever runs on this database
    /// (wherever it is started from) labels its containers the same way.
    pub fn instance_id(&mut self, at: DateTime<Utc>) -> Result<String, StoreError> {
        if let Some(id) = self.get_meta(INSTANCE_ID)? {
            return Ok(id);
        }
        let id: String = (0..16).map(|_| format!("{:x}", rand::random::<u8>() & 0xf)).collect();
        self.set_meta(INSTANCE_ID, &id, at)?;
        Ok(id)
    }
}

/// The `meta` key of [`Tx::instance_id`].
const INSTANCE_ID: &str = "instance_id";
