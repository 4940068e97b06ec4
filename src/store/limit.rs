//! What the database itself can do, for `crucible bench`: the rows of the transition log committed
//! again, one per transaction as fast as one connection can, into a scratch copy of the log's table
//! (same columns and indexes, same connection settings), which is dropped afterwards.

use std::time::Instant;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::connection::{AnyConnection, write_transaction};
use super::schema::transitions;
use super::{Backend, Store, StoreError};

diesel::table! {
    bench_transitions (id) {
        id -> BigInt,
        entity_kind -> Text,
        entity_id -> Text,
        from_status -> Nullable<Text>,
        to_status -> Text,
        cause -> Text,
        at -> Timestamp,
    }
}

type Row = (String, String, Option<String>, String, String, chrono::NaiveDateTime);

impl Store {
    /// How many entries the transition log holds.
    pub fn count_transitions(&self) -> Result<u64, StoreError> {
        let mut conn = self.pool.get()?;
        let n: i64 = transitions::table.count().get_result(&mut *conn)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Commits up to `rows` of the log's newest entries again, each in its own write transaction, into
    /// a scratch table shaped like the log, and answers how many commits per second that took (`None`
    /// when the log is empty). The scratch table is dropped whatever happens.
    pub fn commit_limit(&self, rows: usize) -> Result<Option<f64>, StoreError> {
        let mut conn = self.pool.get()?;
        let limit = i64::try_from(rows).unwrap_or(i64::MAX);
        let sample: Vec<Row> = transitions::table
            .order(transitions::id.desc())
            .limit(limit)
            .select((
                transitions::entity_kind,
                transitions::entity_id,
                transitions::from_status,
                transitions::to_status,
                transitions::cause,
                transitions::at,
            ))
            .load(&mut *conn)?;
        if sample.is_empty() {
            return Ok(None);
        }
        let id = match self.backend() {
            Backend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL",
            Backend::Postgres => "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        };
        let create = format!(
            "DROP TABLE IF EXISTS bench_transitions; \
             CREATE TABLE bench_transitions (id {id}, entity_kind TEXT NOT NULL, entity_id TEXT NOT NULL, \
             from_status TEXT, to_status TEXT NOT NULL, cause TEXT NOT NULL, at TIMESTAMP NOT NULL); \
             CREATE INDEX bench_transitions_entity ON bench_transitions (entity_kind, entity_id, id); \
             CREATE INDEX bench_transitions_at ON bench_transitions (at);"
        );
        conn.batch_execute(&create)?;
        let timed = commit_each(&mut conn, &sample);
        let dropped = conn.batch_execute("DROP TABLE IF EXISTS bench_transitions;");
        let secs = timed?;
        dropped?;
        Ok(Some(sample.len() as f64 / secs.max(f64::MIN_POSITIVE)))
    }
}

/// Inserts every row in a write transaction of its own; the seconds it took.
fn commit_each(conn: &mut AnyConnection, sample: &[Row]) -> Result<f64, StoreError> {
    use bench_transitions::dsl as b;
    let began = Instant::now();
    for (kind, entity, from, to, cause, at) in sample {
        write_transaction(conn, |c| {
            diesel::insert_into(b::bench_transitions)
                .values((
                    b::entity_kind.eq(kind),
                    b::entity_id.eq(entity),
                    b::from_status.eq(from),
                    b::to_status.eq(to),
                    b::cause.eq(cause),
                    b::at.eq(at),
                ))
                .execute(c)?;
            Ok(())
        })?;
    }
    Ok(began.elapsed().as_secs_f64())
}
