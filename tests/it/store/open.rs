//! Opening stores: URLs, errors that name what failed without leaking passwords, migrations.

use crucible::store::{Backend, SqliteSynchronous, Store, StoreError, StoreOptions};
use diesel::{Connection, RunQueryDsl, SqliteConnection};

use super::support::{TestDatabase, postgres_server_url, tournament};

fn a_second_migration_run_applies_nothing(store: &Store) {
    assert_eq!(store.migrate().unwrap(), Vec::<String>::new());
    store.ping().unwrap();
}

on_both_backends!(a_second_migration_run_applies_nothing);

fn open_error(url: &str) -> StoreError {
    match Store::open(url) {
        Ok(_) => panic!("{url} opened"),
        Err(error) => error,
    }
}

#[test]
fn an_unknown_scheme_is_refused_naming_the_url_without_its_password() {
    let error = open_error("mysql://admin:secret@db.local/crucible");
    let message = error.to_string();
    assert!(matches!(error, StoreError::BadUrl { .. }), "{error:?}");
    assert!(message.contains("mysql://admin:***@db.local/crucible"), "{message}");
    assert!(message.contains("unknown scheme"), "{message}");
    assert!(!message.contains("secret") && !format!("{error:?}").contains("secret"), "{message}");
    assert!(!error.is_transient());
}

#[test]
fn a_malformed_postgres_url_is_refused_without_its_password() {
    let error = open_error("postgres://admin:secret@[::1/crucible");
    let message = error.to_string();
    assert!(matches!(error, StoreError::BadUrl { .. }), "{error:?}");
    assert!(message.contains("postgres://admin:***@[::1/crucible"), "{message}");
    assert!(!message.contains("secret"), "{message}");
    assert!(matches!(open_error("sqlite:"), StoreError::BadUrl { .. }));
    assert!(matches!(open_error(""), StoreError::BadUrl { .. }));
}

#[test]
fn an_unreachable_server_is_named_with_the_driver_error_and_no_password() {
    let error = open_error("postgres://u:secret@127.0.0.1:1/x");
    let message = error.to_string();
    assert!(matches!(error, StoreError::Unreachable { .. }), "{error:?}");
    assert!(message.contains("PostgreSQL at 127.0.0.1:1"), "{message}");
    assert!(message.to_lowercase().contains("refused"), "the driver's own words: {message}");
    assert!(!message.contains("secret") && !format!("{error:?}").contains("secret"), "{message}");
    assert!(error.is_transient());
}

#[test]
fn a_wrong_postgres_password_is_reported_with_the_server_and_not_the_password() {
    let Some(server) = postgres_server_url() else { return };
    let mut url = url::Url::parse(&server).unwrap();
    url.set_password(Some("not-the-password")).unwrap();
    let error = open_error(url.as_str());
    let message = error.to_string();
    let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    assert!(matches!(error, StoreError::Unreachable { .. }), "{error:?}");
    assert!(message.contains(&host) && message.contains("password authentication failed"), "{message}");
    assert!(!message.contains("not-the-password"), "{message}");
}

#[test]
fn the_postgres_backend_is_chosen_by_scheme() {
    let Some(db) = TestDatabase::create() else { return };
    let store = Store::open(&db.url.replacen("postgres://", "postgresql://", 1)).unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    assert!(store.url().starts_with("postgresql://") && store.url().contains(":***@"), "{}", store.url());
}

#[test]
fn sqlite_syncs_as_the_setting_says_and_the_store_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sync.db").display());
    // The default: NORMAL, on every pooled connection (the pragma is per connection).
    let store = Store::open(&url).unwrap();
    store.migrate().unwrap();
    assert_eq!(store.sqlite_synchronous().unwrap(), Some("NORMAL"));
    let full = StoreOptions { sqlite_synchronous: SqliteSynchronous::Full, max_connections: 2, ..Default::default() };
    let store = Store::open_with(&url, &full).unwrap();
    let (a, b) = std::thread::scope(|scope| {
        let held = scope.spawn(|| store.transaction(|_| Ok(store.sqlite_synchronous())).unwrap());
        (store.sqlite_synchronous().unwrap(), held.join().unwrap().unwrap())
    });
    assert_eq!((a, b), (Some("FULL"), Some("FULL")));
    // Nothing to sync in memory or on PostgreSQL.
    assert_eq!(Store::open("sqlite::memory:").unwrap().sqlite_synchronous().unwrap(), None);
    if let Some(db) = TestDatabase::create() {
        assert_eq!(Store::open_with(&db.url, &full).unwrap().sqlite_synchronous().unwrap(), None);
    }
}

#[test]
fn a_file_backed_sqlite_database_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let written = tournament(1, 0);
    {
        let store = Store::open(&format!("sqlite://{}", path.display())).unwrap();
        assert_eq!(store.backend(), Backend::Sqlite);
        assert_eq!(
            store.migrate().unwrap(),
            [
                "20261125000001",
                "20261125000003",
                "20261125000005",
                "20261126000007",
                "20261130000009",
                "20261130000011",
                "20261201000013",
                "20261202000015",
                "20261203000017"
            ]
            .map(str::to_owned)
            .to_vec()
        );
        store.insert_tournament(&written).unwrap();
    }
    let reopened = Store::open(path.to_str().unwrap()).unwrap();
    assert_eq!(reopened.migrate().unwrap(), Vec::<String>::new());
    assert_eq!(reopened.get_tournament(&written.id).unwrap(), written);
}

#[test]
fn in_memory_stores_are_private_and_shared_by_their_pool() {
    let (a, b) = (Store::open("sqlite::memory:").unwrap(), Store::open("sqlite::memory:").unwrap());
    a.migrate().unwrap();
    b.migrate().unwrap();
    a.insert_tournament(&tournament(1, 0)).unwrap();
    let clone = a.clone();
    let seen = std::thread::spawn(move || clone.list_tournaments(None).unwrap().len()).join().unwrap();
    assert_eq!((seen, b.list_tournaments(None).unwrap().len()), (1, 0));
}

#[test]
fn a_row_that_does_not_parse_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = Store::open(path.to_str().unwrap()).unwrap();
    store.migrate().unwrap();
    let tourn = tournament(1, 0);
    store.insert_tournament(&tourn).unwrap();
    let mut raw = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    diesel::sql_query("UPDATE tournaments SET status = 'paused'").execute(&mut raw).unwrap();
    let error = store.get_tournament(&tourn.id).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { table: "tournaments", .. }), "{error:?}");
    assert!(error.to_string().contains("paused"), "{error}");
}
