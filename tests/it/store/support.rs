//! Runs a test on both backends, with a database of its own, plus shared fixtures.
//!
//! PostgreSQL: `CRUCIBLE_TEST_POSTGRES_URL` names a server and a role that may create databases
//! (`.ci/postgres.sh` sets one up). Each test creates `crucible_t_<unique>` and drops it afterwards,
//! even when it fails, so tests run in parallel. Without the variable the PostgreSQL tests fail when
//! `CI` is set, and otherwise say once on stderr that they did not run.

use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Duration, TimeZone, Utc};
use crucible::domain::{Coldkey, Hotkey};
use crucible::store::{Backend, Store};
use diesel::{Connection, PgConnection, RunQueryDsl};

/// Generates `sqlite::<name>` and `postgres::<name>` tests calling `name(&Store)`.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $name() {
                $crate::store::support::on_sqlite(super::$name);
            })+
        }
        mod postgres {
            $(#[test]
            fn $name() {
                $crate::store::support::on_postgres(super::$name);
            })+
        }
    };
}

/// Runs `test` on a fresh, migrated, file-backed SQLite database.
pub fn on_sqlite(test: fn(&Store)) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("crucible.db");
    let store = Store::open(&format!("sqlite://{}", path.display())).expect("open SQLite");
    assert_eq!(store.backend(), Backend::Sqlite);
    store.migrate().expect("migrate SQLite");
    test(&store);
}

/// Runs `test` on a fresh, migrated PostgreSQL database of its own.
pub fn on_postgres(test: fn(&Store)) {
    let Some(db) = TestDatabase::create() else { return };
    let store = Store::open(&db.url).expect("open PostgreSQL");
    assert_eq!(store.backend(), Backend::Postgres);
    store.migrate().expect("migrate PostgreSQL");
    test(&store);
}

/// The server URL from the environment, or `None` (after saying so) when the suite cannot run here.
pub fn postgres_server_url() -> Option<String> {
    match std::env::var("CRUCIBLE_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("PostgreSQL is required in CI: set CRUCIBLE_TEST_POSTGRES_URL (run .ci/postgres.sh)")
        }
        _ => {
            static SAID: Once = Once::new();
            // Written to the stderr handle itself: the test harness captures `eprintln!` of passing tests.
            SAID.call_once(|| {
                let line = "PostgreSQL suite not run: CRUCIBLE_TEST_POSTGRES_URL is not set\n";
                let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
            });
            None
        }
    }
}

/// A database created for one test and dropped (with its connections) when the test ends.
pub struct TestDatabase {
    server_url: String,
    name: String,
    pub url: String,
}

impl TestDatabase {
    pub fn create() -> Option<TestDatabase> {
        let server_url = postgres_server_url()?;
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let name = format!("crucible_t_{}_{}_{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let mut admin = PgConnection::establish(&server_url).expect("connect to CRUCIBLE_TEST_POSTGRES_URL");
        diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).expect("create test database");
        let mut url = url::Url::parse(&server_url).expect("CRUCIBLE_TEST_POSTGRES_URL is a URL");
        url.set_path(&name);
        Some(TestDatabase { server_url, name, url: url.into() })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let dropped = PgConnection::establish(&self.server_url).map_err(|e| e.to_string()).and_then(|mut admin| {
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
                .execute(&mut admin)
                .map_err(|e| e.to_string())
        });
        if let Err(error) = dropped {
            eprintln!("could not drop test database {}: {error}", self.name);
        }
    }
}

/// A fixed instant with microseconds, the precision both backends keep.
pub fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).single().expect("valid date")
        + Duration::minutes(minutes)
        + Duration::microseconds(123_456)
}

pub fn hotkey(n: u64) -> Hotkey {
    Hotkey::synthetic(n)
}

pub fn coldkey(n: u64) -> Coldkey {
    Coldkey::parse(Hotkey::synthetic(1_000_000 + n).as_str()).expect("synthetic coldkey")
}

/// A pending text tournament created at `t(minutes)`, defended by champion `hotkey(0)`.
pub fn tournament(n: u64, minutes: i64) -> crucible::store::Tournament {
    use crucible::domain::{TournamentId, TournamentStatus, TournamentType};
    crucible::store::Tournament {
        id: TournamentId::new(0xabc0_0000_0000_0000 + n, 2026, 11, 25),
        tournament_type: TournamentType::Text,
        status: TournamentStatus::Pending,
        base_winner_hotkey: Some(hotkey(0)),
        winner_hotkey: None,
        winning_performance_difference: None,
        champion_wins: 2,
        created_at: t(minutes),
        started_at: None,
        completed_at: None,
        cancel_reason: None,
        track: "text".into(),
    }
}

/// A pending knockout round 1 of `tournament` with one pair (hotkeys 1 and 2).
pub fn knockout_round(tournament: &crucible::domain::TournamentId) -> crucible::store::RoundWithBracket {
    use crucible::domain::{RoundKind, RoundStatus};
    let id = tournament.round(1);
    crucible::store::RoundWithBracket {
        round: crucible::store::Round {
            id: id.clone(),
            tournament_id: tournament.clone(),
            number: 1,
            kind: RoundKind::Knockout,
            is_final: false,
            status: RoundStatus::Pending,
            seed: u64::MAX - 7,
            created_at: t(10),
            completed_at: None,
        },
        groups: vec![],
        pairs: vec![crucible::store::Pair {
            id: id.pair(1),
            number: 1,
            hotkey_a: hotkey(1),
            hotkey_b: hotkey(2),
            winner: None,
        }],
    }
}
