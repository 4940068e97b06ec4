//! Tracks in the store: queries per track on both backends, and a database made before tracks, whose
//! tournaments the migration puts on their type's default track.

use crucible::domain::{TournamentId, TournamentStatus, TournamentType};
use crucible::store::Store;
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::support::{TestDatabase, t, tournament};

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

fn tournaments_are_listed_counted_and_found_live_per_track(store: &Store) {
    let mut main = tournament(1, 0);
    main.status = TournamentStatus::Completed;
    main.completed_at = Some(t(10));
    let mut side = tournament(2, 1);
    side.track = "text-side".into();
    let mut side_done = tournament(3, 2);
    side_done.track = "text-side".into();
    side_done.status = TournamentStatus::Completed;
    side_done.completed_at = Some(t(20));
    for x in [&main, &side, &side_done] {
        store.insert_tournament(x).unwrap();
    }
    assert_eq!(store.list_tournaments(Some("text-side")).unwrap(), vec![side.clone(), side_done.clone()]);
    assert_eq!(store.list_tournaments(Some("text")).unwrap(), vec![main.clone()]);
    assert_eq!(store.count_tournaments_of_track("text-side").unwrap(), 2);
    assert_eq!(store.count_tournaments_of_track("image").unwrap(), 0);
    assert_eq!(store.unfinished_of_track("text-side").unwrap(), Some(side));
    assert_eq!(store.unfinished_of_track("text").unwrap(), None);
    // The latest completed of a track is that track's, though another track of the type completed later.
    assert_eq!(store.latest_completed_tournament("text").unwrap(), Some(main.clone()));
    assert_eq!(store.latest_completed_tournament("text-side").unwrap(), Some(side_done.clone()));
    assert_eq!(store.previous_completed_tournament(&side_done.id).unwrap(), None);
}

on_both_backends!(tournaments_are_listed_counted_and_found_live_per_track);

/// Applies every migration before the tracks one, stores a tournament as crucible did then, and returns
/// its id.
fn before_tracks<C, B>(conn: &mut C, migrations: EmbeddedMigrations) -> TournamentId
where
    C: MigrationHarness<B> + Connection<Backend = B> + diesel::migration::MigrationConnection,
    B: diesel::backend::Backend,
{
    use diesel::migration::MigrationSource;
    conn.setup().unwrap();
    let all = MigrationSource::<B>::migrations(&migrations).unwrap();
    for m in all.iter().take_while(|m| !m.name().to_string().contains("_tracks_")) {
        conn.run_migration(m.as_ref()).unwrap();
    }
    assert!(all.iter().any(|m| m.name().to_string().contains("_tracks_")), "a tracks migration exists");
    let id = TournamentId::new(7, 2026, 11, 1);
    let sql = format!(
        "INSERT INTO tournaments (id, tournament_type, status, champion_wins, created_at) \
         VALUES ('{id}', 'image', 'completed', 0, '2026-11-01 00:00:00')"
    );
    conn.batch_execute(&sql).unwrap();
    id
}

fn upgraded(store: &Store, id: &TournamentId) {
    store.migrate().unwrap();
    let t = store.get_tournament(id).unwrap();
    assert_eq!((t.tournament_type, t.track.as_str()), (TournamentType::Image, "image"));
    assert_eq!(store.list_tournaments(Some("image")).unwrap().len(), 1);
}

#[test]
fn a_database_made_before_tracks_puts_its_tournaments_on_their_types_track_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let id = before_tracks(&mut SqliteConnection::establish(path.to_str().unwrap()).unwrap(), SQLITE);
    upgraded(&Store::open(&format!("sqlite://{}", path.display())).unwrap(), &id);
}

#[test]
fn a_database_made_before_tracks_puts_its_tournaments_on_their_types_track_on_postgres() {
    let Some(db) = TestDatabase::create() else { return };
    let id = before_tracks(&mut PgConnection::establish(&db.url).unwrap(), POSTGRES);
    upgraded(&Store::open(&db.url).unwrap(), &id);
}
