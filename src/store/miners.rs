//! The miner directory: who is registered on the subnet, where to reach them, their stake.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::connection::per_backend;
use super::convert::{from_db, parse, to_db};
use super::schema::miners;
use super::{StoreError, Tx};
use crate::domain::{Coldkey, Hotkey};

/// A registered miner.
#[derive(Debug, Clone, PartialEq)]
pub struct Miner {
    pub hotkey: Hotkey,
    pub coldkey: Coldkey,
    /// Where its registration endpoint answers (`http://ip:port`).
    pub address: String,
    /// Stake in TAO.
    pub stake: f64,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = miners)]
struct MinerRow {
    hotkey: String,
    coldkey: String,
    address: String,
    stake: f64,
    updated_at: NaiveDateTime,
}

impl MinerRow {
    fn into_record(self) -> Result<Miner, StoreError> {
        Ok(Miner {
            hotkey: parse("miners", "hotkey", &self.hotkey)?,
            coldkey: parse("miners", "coldkey", &self.coldkey)?,
            address: self.address,
            stake: self.stake,
            updated_at: from_db(self.updated_at),
        })
    }
}

impl Tx<'_> {
    /// Inserts a miner or overwrites the one with the same hotkey.
    pub fn upsert_miner(&mut self, miner: &Miner) -> Result<(), StoreError> {
        let row = MinerRow {
            hotkey: miner.hotkey.to_string(),
            coldkey: miner.coldkey.to_string(),
            address: miner.address.clone(),
            stake: miner.stake,
            updated_at: to_db(miner.updated_at),
        };
        let changes = (
            miners::coldkey.eq(&row.coldkey),
            miners::address.eq(&row.address),
            miners::stake.eq(row.stake),
            miners::updated_at.eq(row.updated_at),
        );
        per_backend!(self.conn, |c| diesel::insert_into(miners::table)
            .values(&row)
            .on_conflict(miners::hotkey)
            .do_update()
            .set(changes)
            .execute(c))?;
        Ok(())
    }

    /// Removes a miner; returns whether it was there.
    pub fn remove_miner(&mut self, hotkey: &Hotkey) -> Result<bool, StoreError> {
        Ok(diesel::delete(miners::table.find(hotkey.as_str())).execute(self.conn)? > 0)
    }

    pub fn get_miner(&mut self, hotkey: &Hotkey) -> Result<Miner, StoreError> {
        miners::table
            .find(hotkey.as_str())
            .select(MinerRow::as_select())
            .first(self.conn)
            .optional()?
            .ok_or_else(|| StoreError::not_found("miner", hotkey))?
            .into_record()
    }

    /// Every miner, by hotkey.
    pub fn list_miners(&mut self) -> Result<Vec<Miner>, StoreError> {
        let rows = miners::table.order(miners::hotkey.asc()).select(MinerRow::as_select()).load(self.conn)?;
        rows.into_iter().map(MinerRow::into_record).collect()
    }
}
