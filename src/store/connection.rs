//! Connections: the backend chosen from the URL, the pool, SQLite's pragmas, write transactions.
//!
//! `AnyConnection::establish` tries every backend in turn and throws their errors away, so it is never
//! used: the URL's scheme picks the backend, and the driver's own error is reported with the host:port
//! or file it concerns. Passwords never appear in messages.

use std::sync::atomic::{AtomicU64, Ordering};

use diesel::connection::{AnsiTransactionManager, Connection, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{ManageConnection, Pool, R2D2Connection};
use diesel::sqlite::SqliteConnection;

use super::{SqliteSynchronous, StoreError, StoreOptions};

/// One connection to either backend; only SQL both understand compiles through it.
#[derive(diesel::MultiConnection)]
pub(crate) enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

pub(crate) type DbPool = Pool<Manager>;

/// Which database a [`super::Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs the same diesel expression on whichever concrete connection `conn` holds, for the SQL that does
/// not compile through `AnyConnection` (upserts).
macro_rules! per_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::connection::AnyConnection::Postgresql($c) => $body,
            $crate::store::connection::AnyConnection::Sqlite($c) => $body,
        }
    };
}
pub(crate) use per_backend;

/// Where the connections go, parsed from the URL.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Sqlite { path: String, memory: bool },
    Postgres { url: String, host_port: String },
}

impl Target {
    fn describe(&self) -> String {
        match self {
            Target::Sqlite { memory: true, .. } => "in-memory SQLite database".to_owned(),
            Target::Sqlite { path, .. } => format!("SQLite database {path}"),
            Target::Postgres { host_port, .. } => format!("PostgreSQL at {host_port}"),
        }
    }
}

/// Opens connections of one target; SQLite connections get their pragmas on every connect.
#[derive(Debug)]
pub(crate) struct Manager {
    target: Target,
    busy_timeout_ms: u128,
    synchronous: SqliteSynchronous,
}

impl Manager {
    fn establish(&self) -> Result<AnyConnection, diesel::ConnectionError> {
        match &self.target {
            Target::Postgres { url, .. } => PgConnection::establish(url).map(AnyConnection::Postgresql),
            Target::Sqlite { path, memory } => {
                let mut conn = SqliteConnection::establish(path)?;
                // busy_timeout first, so switching to WAL waits for other connections instead of failing.
                let mut pragmas = format!("PRAGMA busy_timeout = {}; PRAGMA foreign_keys = ON;", self.busy_timeout_ms);
                if !memory {
                    pragmas.push_str(" PRAGMA journal_mode = WAL;");
                    pragmas.push_str(&format!(" PRAGMA synchronous = {};", self.synchronous.as_str()));
                }
                conn.batch_execute(&pragmas).map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }
}

impl ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = diesel::ConnectionError;

    fn connect(&self) -> Result<AnyConnection, diesel::ConnectionError> {
        self.establish()
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), diesel::ConnectionError> {
        conn.ping().map_err(diesel::ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        conn.is_broken()
    }
}

pub(crate) struct Opened {
    pub pool: DbPool,
    pub backend: Backend,
    pub masked_url: String,
    pub keeper: Option<AnyConnection>,
}

/// Parses `url`, connects once directly (to report the driver's real error), then builds the pool.
pub(crate) fn open(url: &str, options: &StoreOptions) -> Result<Opened, StoreError> {
    let masked_url = mask_password(url);
    let target = parse_url(url, options)?;
    let manager = Manager {
        target: target.clone(),
        busy_timeout_ms: options.busy_timeout.as_millis(),
        synchronous: options.sqlite_synchronous,
    };
    let unreachable = |detail: String| StoreError::Unreachable { target: target.describe(), detail };
    let first = manager.establish().map_err(|e| unreachable(e.to_string().trim().to_owned()))?;
    let (backend, keeper, max_size) = match &target {
        Target::Postgres { .. } => (Backend::Postgres, None, options.max_connections.max(1)),
        // A shared-cache in-memory database: SQLite's busy timeout does not apply to its table locks,
        // so one pooled connection serialises all access; `first` keeps the database alive.
        Target::Sqlite { memory: true, .. } => (Backend::Sqlite, Some(first), 1),
        Target::Sqlite { memory: false, .. } => (Backend::Sqlite, None, options.max_connections.max(1)),
    };
    let pool = Pool::builder()
        .max_size(max_size)
        .min_idle(Some(1))
        .connection_timeout(options.connect_timeout)
        .build(manager)
        .map_err(|e| unreachable(e.to_string()))?;
    Ok(Opened { pool, backend, masked_url, keeper })
}

/// Begins a write transaction, runs `work`, commits on `Ok` and rolls back on `Err`. SQLite uses
/// `BEGIN IMMEDIATE`: a deferred transaction that reads and then writes fails at once with
/// `SQLITE_BUSY` when another writer got there first, instead of waiting.
pub(crate) fn write_transaction<T>(
    conn: &mut AnyConnection,
    work: impl FnOnce(&mut AnyConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match conn {
        AnyConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        AnyConnection::Postgresql(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    finish(conn, work)
}

/// Runs read-only `work` in a transaction that sees one consistent state of the database, without
/// blocking writers. PostgreSQL: `REPEATABLE READ READ ONLY` (under its default `READ COMMITTED` each
/// statement would see a newer state). SQLite: a deferred `BEGIN`, whose snapshot is taken at the first
/// read and kept until the end, and which takes no write lock.
pub(crate) fn read_transaction<T>(
    conn: &mut AnyConnection,
    work: impl FnOnce(&mut AnyConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match conn {
        AnyConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN")?,
        AnyConnection::Postgresql(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?
        }
    }
    finish(conn, work)
}

/// Runs `work` in the transaction just begun: commits on `Ok`, rolls back on `Err`.
fn finish<T>(
    conn: &mut AnyConnection,
    work: impl FnOnce(&mut AnyConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match work(conn) {
        Ok(value) => {
            AnyConnection::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => match AnyConnection::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
            Err(rollback) => Err(StoreError::Unavailable(format!("{error}; and the rollback failed: {rollback}"))),
        },
    }
}

const SCHEMES: &str = "expected sqlite://PATH, sqlite::memory:, postgres://..., postgresql://... or a file path";

/// Picks the backend from the URL's scheme.
pub(crate) fn parse_url(url: &str, options: &StoreOptions) -> Result<Target, StoreError> {
    let bad = |reason: &str| StoreError::BadUrl { url: mask_password(url), reason: reason.to_owned() };
    if url.trim().is_empty() {
        return Err(bad("the URL is empty"));
    }
    if url == "sqlite::memory:" || url == ":memory:" {
        return Ok(Target::Sqlite { path: unique_memory_name(), memory: true });
    }
    match scheme_of(url) {
        None => Ok(Target::Sqlite { path: url.to_owned(), memory: false }),
        Some("sqlite") => match url.strip_prefix("sqlite://") {
            Some("") | None => Err(bad(SCHEMES)),
            Some(path) => Ok(Target::Sqlite { path: path.to_owned(), memory: false }),
        },
        Some("file") => Ok(Target::Sqlite { path: url.to_owned(), memory: url.contains("mode=memory") }),
        Some("postgres" | "postgresql") => {
            let mut parsed = url::Url::parse(url).map_err(|e| bad(&format!("malformed PostgreSQL URL: {e}")))?;
            if !url.contains("://") {
                return Err(bad("a PostgreSQL URL is postgres://USER:PASSWORD@HOST:PORT/DATABASE"));
            }
            let host = match parsed.host_str() {
                Some("") | None => "localhost".to_owned(),
                Some(host) => host.to_owned(),
            };
            let host_port = format!("{host}:{}", parsed.port().unwrap_or(5432));
            if !parsed.query_pairs().any(|(key, _)| key == "connect_timeout") {
                let seconds = options.connect_timeout.as_secs().max(1).to_string();
                parsed.query_pairs_mut().append_pair("connect_timeout", &seconds);
            }
            Ok(Target::Postgres { url: parsed.into(), host_port })
        }
        Some(other) => Err(bad(&format!("unknown scheme {other:?}: {SCHEMES}"))),
    }
}

/// The scheme of `url`, if it has one (a drive letter like `C:` is not a scheme).
fn scheme_of(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let first_is_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let valid = scheme.len() >= 2 && first_is_letter && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then_some(scheme)
}

/// A name no other store of this process uses, so every `sqlite::memory:` store is private.
fn unique_memory_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("file:crucible-memory-{}-{n}?mode=memory&cache=shared", std::process::id())
}

/// `url` with the password of its user-info (and any `password=` parameter) replaced by `***`.
/// Works on malformed URLs too, since those are the ones that end up in error messages.
pub(crate) fn mask_password(url: &str) -> String {
    let mut masked = url.to_owned();
    if let Some(scheme_end) = masked.find("://") {
        let start = scheme_end + 3;
        let before_query = masked[start..].find(['?', '#']).map_or(masked.len(), |i| start + i);
        if let Some(at) = masked[start..before_query].rfind('@').map(|i| start + i)
            && let Some(colon) = masked[start..at].find(':').map(|i| start + i)
        {
            masked.replace_range(colon + 1..at, "***");
        }
    }
    let mut search_from = 0;
    while let Some(found) = masked[search_from..].find("password=") {
        let value_start = search_from + found + "password=".len();
        let value_end = masked[value_start..].find(['&', ' ', '#']).map_or(masked.len(), |i| value_start + i);
        masked.replace_range(value_start..value_end, "***");
        search_from = value_start + 3;
    }
    masked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_even_in_malformed_urls() {
        assert_eq!(mask_password("postgres://u:secret@h:1/x"), "postgres://u:***@h:1/x");
        assert_eq!(mask_password("postgres://u:se/cr@et@h/x?sslmode=disable"), "postgres://u:***@h/x?sslmode=disable");
        assert_eq!(
            mask_password("postgres://h/x?user=u&password=secret&a=b"),
            "postgres://h/x?user=u&password=***&a=b"
        );
        assert_eq!(mask_password("postgres://u@h/x"), "postgres://u@h/x");
        assert_eq!(mask_password("/var/lib/crucible.db"), "/var/lib/crucible.db");
    }

    #[test]
    fn schemes_pick_the_backend() {
        let o = StoreOptions::default();
        assert!(
            matches!(parse_url("sqlite:///tmp/a.db", &o), Ok(Target::Sqlite { ref path, memory: false }) if path == "/tmp/a.db")
        );
        assert!(matches!(parse_url("data/a.db", &o), Ok(Target::Sqlite { memory: false, .. })));
        assert!(matches!(parse_url("sqlite::memory:", &o), Ok(Target::Sqlite { memory: true, .. })));
        let pg = parse_url("postgresql://u:p@db.example:6000/x", &o);
        assert!(matches!(pg, Ok(Target::Postgres { ref host_port, .. }) if host_port == "db.example:6000"));
        assert!(matches!(parse_url("mysql://u:p@h/x", &o), Err(StoreError::BadUrl { .. })));
        assert!(matches!(parse_url("sqlite:", &o), Err(StoreError::BadUrl { .. })));
    }
}
