//! The persistence layer: every durable fact of the validator, on SQLite or PostgreSQL.
//!
//! One [`Store`] API over both backends (diesel with a `MultiConnection`); the backend is chosen by the
//! URL given to [`Store::open`]. The schema is created by embedded migrations ([`Store::migrate`]).
//! Records use the domain's newtypes and vocabularies; rows are converted at this edge, and a row that
//! does not parse is [`StoreError::Corrupt`], never a panic.
//!
//! What it owns: tables, transactions, the transition log (every status change is written together
//! with its log entry, in one transaction), and the fee ledger's idempotency.
//! What it must not do: decide rules (that is `domain`), read the clock (callers pass every timestamp,
//! so simulations run on virtual time), or run on an event loop. **Every method blocks** on the
//! database: call it through [`Db`], which runs each call on tokio's blocking pool, never inline in an
//! actor.
//!
//! Group commit: [`Store::transaction`] hands out a [`Tx`] carrying every operation of the store, so
//! many transitions can be written in one transaction. Whole-tournament reads
//! ([`Store::tournament_snapshot`], [`Store::export_bundle`]) run in one read transaction, so they see
//! one consistent state.

mod added_nodes;
mod api;
mod cleanup;
mod connection;
mod convert;
mod db;
mod export;
mod group;
mod ledger;
mod limit;
mod meta;
mod miners;
mod node_tasks;
mod nodes;
mod participants;
mod rounds;
mod schema;
mod snapshot;
mod stats;
mod tasks;
mod tournaments;
mod trainings;
mod transitions;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use connection::{AnyConnection, DbPool};

pub use added_nodes::AddedNode;
pub use connection::Backend;
pub use db::Db;
pub use ledger::{LedgerEntry, LedgerEvent, LedgerOutcome};
pub use miners::Miner;
pub use node_tasks::{NodeTask, NodeTaskEnd};
pub use nodes::{Gpu, TrainerNode};
pub use participants::Participant;
pub use rounds::{Group, Pair, Round, RoundWithBracket};
pub use snapshot::{RoundSnapshot, TaskSnapshot, TournamentSnapshot};
pub use stats::{TournamentCount, TrainingCount};
pub use tasks::Task;
pub use tournaments::Tournament;
pub use trainings::{AttemptEnd, NewAttempt, Training, TrainingAttempt, TrainingUpdate};
pub use transitions::{EntityKind, StatusChange, Transition};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// What [`Store::migration_state`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// The versions of this binary's migrations not applied yet.
    pub pending: Vec<String>,
    /// Applied versions this binary does not have.
    pub unknown: Vec<String>,
    /// How many migrations this binary has.
    pub known: usize,
}

/// What went wrong in the store, and so what the caller should do.
///
/// Transient (retry with backoff, see [`StoreError::is_transient`]): `Unreachable`, `Unavailable`.
/// Permanent: everything else; `Conflict` means "re-read the state and decide again".
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL cannot be used (unknown scheme, malformed). The URL is shown with its password
    /// masked. Permanent: fix the configuration.
    #[error("invalid database URL {url}: {reason}")]
    BadUrl { url: String, reason: String },
    /// No connection could be made (server down, refused, authentication failed, file not openable).
    /// `target` names host:port or the file. Transient unless the configuration is wrong.
    #[error("cannot connect to {target}: {detail}")]
    Unreachable { target: String, detail: String },
    /// Applying the embedded migrations failed. Permanent.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The entity does not exist. Permanent.
    #[error("{entity} {id} not found")]
    NotFound { entity: &'static str, id: String },
    /// The write contradicts what is stored: a duplicate key, a status that moved on since the caller
    /// read it, a reference to a missing row. Permanent: re-read and decide again.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored row does not parse into its record. Permanent: needs an operator.
    #[error("corrupt row in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    /// The database is busy or the connection dropped (pool timeout, SQLite busy/locked, PostgreSQL
    /// serialization failure or closed connection). Transient: retry the whole transaction.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Any other database error. Permanent (most likely a bug).
    #[error("database error: {0}")]
    Database(String),
}

impl StoreError {
    /// Whether retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unreachable { .. } | StoreError::Unavailable(_))
    }

    /// Whether retrying can mend it (re-read and decide again): a corrupt row, a broken migration or
    /// URL, or a database error that is not about availability stays what it is until someone repairs
    /// it.
    pub fn can_mend(&self) -> bool {
        !matches!(
            self,
            StoreError::Corrupt { .. } | StoreError::Database(_) | StoreError::Migration(_) | StoreError::BadUrl { .. }
        )
    }

    pub(crate) fn not_found(entity: &'static str, id: impl std::fmt::Display) -> Self {
        StoreError::NotFound { entity, id: id.to_string() }
    }
}

impl From<DieselError> for StoreError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::NotFound => StoreError::NotFound { entity: "row", id: String::new() },
            DieselError::DatabaseError(kind, info) => {
                let message = info.message().to_owned();
                match kind {
                    DatabaseErrorKind::UniqueViolation
                    | DatabaseErrorKind::ForeignKeyViolation
                    | DatabaseErrorKind::NotNullViolation
                    | DatabaseErrorKind::CheckViolation => StoreError::Conflict(message),
                    DatabaseErrorKind::SerializationFailure | DatabaseErrorKind::ClosedConnection => {
                        StoreError::Unavailable(message)
                    }
                    _ if message.contains("database is locked") || message.contains("is busy") => {
                        StoreError::Unavailable(message)
                    }
                    _ => StoreError::Database(message),
                }
            }
            DieselError::BrokenTransactionManager => StoreError::Unavailable(error.to_string()),
            other => StoreError::Database(other.to_string()),
        }
    }
}

impl From<diesel::r2d2::PoolError> for StoreError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        StoreError::Unavailable(format!("no database connection available: {error}"))
    }
}

/// Tunables of the connection pool (config keys under `store`).
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Largest number of pooled connections (an in-memory SQLite database always uses one).
    pub max_connections: u32,
    /// How long to wait to connect to PostgreSQL, and for a free pooled connection.
    pub connect_timeout: Duration,
    /// How long SQLite waits for a lock before answering busy.
    pub busy_timeout: Duration,
    /// When a file-backed SQLite database syncs its write-ahead log to disk.
    pub sqlite_synchronous: SqliteSynchronous,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            connect_timeout: Duration::from_secs(10),
            busy_timeout: Duration::from_secs(5),
            sqlite_synchronous: SqliteSynchronous::Normal,
        }
    }
}

/// SQLite's `synchronous` in WAL mode (a file-backed database; an in-memory one has no disk to sync).
/// Both keep every committed transaction when the process crashes, and keep the database consistent
/// whatever happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    /// The log is synced at checkpoints only: a power loss or an OS crash may lose the transactions
    /// committed since the last one. The fastest setting that survives a process crash.
    #[default]
    Normal,
    /// The log is synced at every commit: a committed transaction also survives a power loss.
    Full,
}

impl SqliteSynchronous {
    /// The pragma's value: `NORMAL` or `FULL`.
    pub fn as_str(self) -> &'static str {
        match self {
            SqliteSynchronous::Normal => "NORMAL",
            SqliteSynchronous::Full => "FULL",
        }
    }
}

/// The handle to the database: cheap to clone, safe to share between threads. Its methods block.
#[derive(Clone)]
pub struct Store {
    pool: DbPool,
    backend: Backend,
    /// The URL with its password masked, for logs.
    url: Arc<str>,
    /// Keeps an in-memory SQLite database alive while the pool recycles its connections.
    _keeper: Option<Arc<Mutex<AnyConnection>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).field("url", &self.url).finish()
    }
}

/// One unit of work on one connection: every operation of the store, applied in the enclosing
/// transaction. Obtained from [`Store::transaction`]. If an operation fails, return its error from the
/// closure so the whole transaction rolls back (on PostgreSQL the transaction cannot go on anyway).
pub struct Tx<'c> {
    conn: &'c mut AnyConnection,
}

impl Tx<'_> {
    /// Runs `work` in a savepoint: on `Err` only what it wrote is undone, and the transaction goes on.
    pub fn savepoint<T>(&mut self, work: impl FnOnce(&mut Tx<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        use diesel::Connection;
        self.conn.transaction(|conn| work(&mut Tx { conn }))
    }
}

impl Store {
    /// Opens the database named by `url`: `sqlite://PATH`, `sqlite::memory:` (a private in-memory
    /// database), a plain file path (SQLite), or `postgres://` / `postgresql://`. Does not migrate.
    pub fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, &StoreOptions::default())
    }

    /// [`Store::open`] with explicit pool options.
    pub fn open_with(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        let opened = connection::open(url, options)?;
        Ok(Store {
            pool: opened.pool,
            backend: opened.backend,
            url: opened.masked_url.into(),
            _keeper: opened.keeper.map(|keeper| Arc::new(Mutex::new(keeper))),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether this is an in-memory SQLite database, which keeps nothing across a restart.
    pub fn is_memory(&self) -> bool {
        self._keeper.is_some()
    }

    /// The URL this store was opened with, password masked.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Applies the embedded migrations not yet applied; returns the versions it applied (empty when
    /// the schema is current).
    pub fn migrate(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.pool.get()?;
        let migration = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
        let applied = match &mut *conn {
            AnyConnection::Sqlite(c) => {
                c.run_pending_migrations(SQLITE_MIGRATIONS).map_err(migration)?.iter().map(|v| v.to_string()).collect()
            }
            AnyConnection::Postgresql(c) => c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map_err(migration)?
                .iter()
                .map(|v| v.to_string())
                .collect(),
        };
        Ok(applied)
    }

    /// Which embedded migrations the database has not applied yet, and which applied ones this binary
    /// does not know (a newer crucible used the database), without changing anything.
    pub fn migration_state(&self) -> Result<MigrationState, StoreError> {
        let mut conn = self.pool.get()?;
        let migration = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
        let (pending, applied, known): (Vec<String>, Vec<String>, Vec<String>) = match &mut *conn {
            AnyConnection::Sqlite(c) => (
                c.pending_migrations(SQLITE_MIGRATIONS)
                    .map_err(migration)?
                    .iter()
                    .map(|m| m.name().version().to_string())
                    .collect(),
                c.applied_migrations().map_err(migration)?.iter().map(|v| v.to_string()).collect(),
                MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE_MIGRATIONS)
                    .map_err(migration)?
                    .iter()
                    .map(|m| m.name().version().to_string())
                    .collect(),
            ),
            AnyConnection::Postgresql(c) => (
                c.pending_migrations(POSTGRES_MIGRATIONS)
                    .map_err(migration)?
                    .iter()
                    .map(|m| m.name().version().to_string())
                    .collect(),
                c.applied_migrations().map_err(migration)?.iter().map(|v| v.to_string()).collect(),
                MigrationSource::<diesel::pg::Pg>::migrations(&POSTGRES_MIGRATIONS)
                    .map_err(migration)?
                    .iter()
                    .map(|m| m.name().version().to_string())
                    .collect(),
            ),
        };
        let unknown = applied.iter().filter(|v| !known.contains(v)).cloned().collect();
        Ok(MigrationState { pending, unknown, known: known.len() })
    }

    /// Runs `work` in one transaction (SQLite: `BEGIN IMMEDIATE`, so writers queue instead of failing
    /// on a stale snapshot). Commits when it returns `Ok`, rolls everything back on `Err`.
    pub fn transaction<T>(&self, work: impl FnOnce(&mut Tx<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut conn = self.pool.get()?;
        connection::write_transaction(&mut conn, |c| work(&mut Tx { conn: c }))
    }

    /// Runs read-only `work` on a pooled connection, outside any explicit transaction.
    fn read<T>(&self, work: impl FnOnce(&mut Tx<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut conn = self.pool.get()?;
        work(&mut Tx { conn: &mut conn })
    }

    /// Runs read-only `work` in one transaction that sees a single consistent state of the database
    /// (and does not block writers).
    fn read_consistent<T>(&self, work: impl FnOnce(&mut Tx<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut conn = self.pool.get()?;
        connection::read_transaction(&mut conn, |c| work(&mut Tx { conn: c }))
    }

    /// SQLite's `synchronous` as the database reports it (`OFF`, `NORMAL`, `FULL` or `EXTRA`); `None` on
    /// PostgreSQL, and for an in-memory database, which has no disk to sync.
    pub fn sqlite_synchronous(&self) -> Result<Option<&'static str>, StoreError> {
        #[derive(diesel::QueryableByName)]
        struct Pragma {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            synchronous: i32,
        }
        let mut conn = self.pool.get()?;
        let AnyConnection::Sqlite(c) = &mut *conn else { return Ok(None) };
        if self._keeper.is_some() {
            return Ok(None);
        }
        let pragma: Pragma = diesel::RunQueryDsl::get_result(diesel::sql_query("PRAGMA synchronous"), c)?;
        Ok(Some(match pragma.synchronous {
            0 => "OFF",
            1 => "NORMAL",
            2 => "FULL",
            _ => "EXTRA",
        }))
    }

    /// Checks that the database answers (for readiness probes).
    pub fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.get()?;
        conn.batch_execute("SELECT 1").map_err(StoreError::from)
    }
}
