//! Conversions between rows (plain SQL types) and records (domain types), in both directions.
//!
//! Reading never panics: a value that does not parse becomes [`StoreError::Corrupt`] naming the table.

use std::fmt::Display;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

use super::StoreError;

/// Parses one text column into a domain type.
pub(crate) fn parse<T>(table: &'static str, column: &str, value: &str) -> Result<T, StoreError>
where
    T: FromStr,
    T::Err: Display,
{
    value.parse().map_err(|e| StoreError::Corrupt { table, detail: format!("{column}: {e}") })
}

/// Parses an optional text column.
pub(crate) fn parse_opt<T>(table: &'static str, column: &str, value: Option<&str>) -> Result<Option<T>, StoreError>
where
    T: FromStr,
    T::Err: Display,
{
    value.map(|v| parse(table, column, v)).transpose()
}

/// Reads a non-negative integer column into an unsigned type.
pub(crate) fn unsigned<S, T>(table: &'static str, column: &str, value: S) -> Result<T, StoreError>
where
    S: Copy + Display,
    T: TryFrom<S>,
{
    T::try_from(value).map_err(|_| StoreError::Corrupt { table, detail: format!("{column}: {value} is out of range") })
}

pub(crate) fn unsigned_opt<S, T>(table: &'static str, column: &str, value: Option<S>) -> Result<Option<T>, StoreError>
where
    S: Copy + Display,
    T: TryFrom<S>,
{
    value.map(|v| unsigned(table, column, v)).transpose()
}

/// Writes an unsigned value into a signed column; refuses values the column cannot hold.
pub(crate) fn signed<U, S>(column: &str, value: U) -> Result<S, StoreError>
where
    U: Copy + Display,
    S: TryFrom<U>,
{
    S::try_from(value).map_err(|_| StoreError::Conflict(format!("{column}: {value} does not fit the column")))
}

pub(crate) fn signed_opt<U, S>(column: &str, value: Option<U>) -> Result<Option<S>, StoreError>
where
    U: Copy + Display,
    S: TryFrom<U>,
{
    value.map(|v| signed(column, v)).transpose()
}

/// Timestamps are stored as UTC at microsecond precision on both backends (PostgreSQL's precision);
/// truncating here makes what is read back equal what was written on either.
pub(crate) fn to_db(at: DateTime<Utc>) -> NaiveDateTime {
    at.trunc_subsecs(6).naive_utc()
}

pub(crate) fn to_db_opt(at: Option<DateTime<Utc>>) -> Option<NaiveDateTime> {
    at.map(to_db)
}

pub(crate) fn from_db(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}

pub(crate) fn from_db_opt(at: Option<NaiveDateTime>) -> Option<DateTime<Utc>> {
    at.map(from_db)
}

/// The u64 seed of a round is stored bit-for-bit in a signed BIGINT.
pub(crate) fn seed_to_db(seed: u64) -> i64 {
    i64::from_ne_bytes(seed.to_ne_bytes())
}

pub(crate) fn seed_from_db(seed: i64) -> u64 {
    u64::from_ne_bytes(seed.to_ne_bytes())
}

/// GPU indices of an attempt, stored as `0,1,3`.
pub(crate) fn gpu_ids_to_db(ids: &[u32]) -> String {
    ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

pub(crate) fn gpu_ids_from_db(table: &'static str, text: &str) -> Result<Vec<u32>, StoreError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',').map(|id| parse(table, "gpu_ids", id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_survive_the_signed_column() {
        for seed in [0, 1, u64::MAX, 1 << 63, 0xdead_beef_cafe_f00d] {
            assert_eq!(seed_from_db(seed_to_db(seed)), seed);
        }
    }

    #[test]
    fn gpu_ids_round_trip_and_reject_garbage() {
        assert_eq!(gpu_ids_from_db("t", &gpu_ids_to_db(&[0, 3, 7])).unwrap(), vec![0, 3, 7]);
        assert_eq!(gpu_ids_from_db("t", "").unwrap(), Vec::<u32>::new());
        assert!(matches!(gpu_ids_from_db("t", "1,x"), Err(StoreError::Corrupt { table: "t", .. })));
    }
}
