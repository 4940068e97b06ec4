use crucible::domain::LedgerKind;
use crucible::store::{LedgerEntry, LedgerEvent, LedgerOutcome, Store};

use super::support::{coldkey, hotkey, t, tournament};

fn fee(n: u64) -> LedgerEvent {
    let tourn = tournament(1, 0).id;
    LedgerEvent {
        coldkey: coldkey(1),
        kind: LedgerKind::ParticipationFee,
        amount_rao: -200_000_000,
        idempotency_key: LedgerEvent::fee_key(&tourn, &hotkey(n)),
        tournament_id: Some(tourn),
        hotkey: Some(hotkey(n)),
        reference: None,
        created_at: t(n as i64),
    }
}

fn credit() -> LedgerEvent {
    LedgerEvent {
        coldkey: coldkey(1),
        kind: LedgerKind::Credit,
        amount_rao: 1_000_000_000,
        tournament_id: None,
        hotkey: None,
        reference: Some("transfer 0xfeed".into()),
        idempotency_key: "credit/0xfeed".into(),
        created_at: t(0),
    }
}

fn events_move_the_balance_and_read_back_in_order(store: &Store) {
    assert_eq!(store.balance(&coldkey(1)).unwrap(), 0);
    assert_eq!(store.record_ledger_event(&credit()).unwrap(), LedgerOutcome::Applied);
    assert_eq!(store.record_ledger_event(&fee(1)).unwrap(), LedgerOutcome::Applied);
    assert_eq!(store.balance(&coldkey(1)).unwrap(), 800_000_000);
    let events: Vec<_> = store.ledger_events(&coldkey(1)).unwrap().into_iter().map(|e| e.event).collect();
    assert_eq!(events, vec![credit(), fee(1)]);
    let found = store.find_ledger_event(&fee(1).idempotency_key).unwrap();
    assert_eq!(found.map(|e: LedgerEntry| e.event), Some(fee(1)));
    assert_eq!(store.find_ledger_event("nope").unwrap(), None);
    assert_eq!(store.ledger_events(&coldkey(2)).unwrap(), vec![]);
}

fn the_same_fee_twice_is_charged_once(store: &Store) {
    store.record_ledger_event(&credit()).unwrap();
    assert_eq!(store.record_ledger_event(&fee(1)).unwrap(), LedgerOutcome::Applied);
    let retry = LedgerEvent { created_at: t(30), ..fee(1) };
    assert_eq!(store.record_ledger_event(&retry).unwrap(), LedgerOutcome::AlreadyRecorded);
    assert_eq!(store.record_ledger_event(&credit()).unwrap(), LedgerOutcome::AlreadyRecorded);
    assert_eq!(store.balance(&coldkey(1)).unwrap(), 800_000_000);
    assert_eq!(store.ledger_events(&coldkey(1)).unwrap().len(), 2);
}

fn racing_workers_charge_a_fee_once(store: &Store) {
    let outcomes: Vec<LedgerOutcome> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..6)
            .map(|_| {
                let store = store.clone();
                scope.spawn(move || (0..5).map(|_| store.record_ledger_event(&fee(1)).unwrap()).collect::<Vec<_>>())
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    assert_eq!(outcomes.iter().filter(|o| **o == LedgerOutcome::Applied).count(), 1, "{outcomes:?}");
    assert_eq!(store.balance(&coldkey(1)).unwrap(), -200_000_000);
    assert_eq!(store.ledger_events(&coldkey(1)).unwrap().len(), 1);
}

fn racing_workers_with_distinct_keys_all_move_the_balance(store: &Store) {
    std::thread::scope(|scope| {
        for worker in 0..4u64 {
            let store = store.clone();
            scope.spawn(move || {
                for n in 0..5 {
                    assert_eq!(store.record_ledger_event(&fee(10 + worker * 5 + n)).unwrap(), LedgerOutcome::Applied);
                }
            });
        }
    });
    assert_eq!(store.balance(&coldkey(1)).unwrap(), -20 * 200_000_000);
}

fn a_duplicate_inside_a_group_commit_spoils_nothing_else(store: &Store) {
    store.record_ledger_event(&fee(1)).unwrap();
    let outcomes =
        store.transaction(|tx| Ok((tx.record_ledger_event(&fee(1))?, tx.record_ledger_event(&fee(2))?))).unwrap();
    assert_eq!(outcomes, (LedgerOutcome::AlreadyRecorded, LedgerOutcome::Applied));
    assert_eq!(store.balance(&coldkey(1)).unwrap(), -400_000_000);
}

on_both_backends!(
    events_move_the_balance_and_read_back_in_order,
    the_same_fee_twice_is_charged_once,
    racing_workers_charge_a_fee_once,
    racing_workers_with_distinct_keys_all_move_the_balance,
    a_duplicate_inside_a_group_commit_spoils_nothing_else,
);

/// Tries to rewrite history behind the store's back; the database itself must refuse.
fn refuses_edits(raw: &mut impl FnMut(&str) -> Result<usize, diesel::result::Error>) {
    for sql in ["UPDATE ledger_events SET amount_rao = 0", "DELETE FROM ledger_events"] {
        let refused = raw(sql).expect_err(sql).to_string();
        assert!(refused.contains("append-only"), "{sql}: {refused}");
    }
}

mod append_only {
    use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};

    use super::super::support::TestDatabase;
    use super::{LedgerOutcome, Store, fee, refuses_edits};

    #[test]
    fn sqlite_refuses_edits_of_ledger_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let store = Store::open(path.to_str().unwrap()).unwrap();
        store.migrate().unwrap();
        assert_eq!(store.record_ledger_event(&fee(1)).unwrap(), LedgerOutcome::Applied);
        let mut raw = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        refuses_edits(&mut |sql| diesel::sql_query(sql).execute(&mut raw));
    }

    #[test]
    fn postgres_refuses_edits_of_ledger_events() {
        let Some(db) = TestDatabase::create() else { return };
        let store = Store::open(&db.url).unwrap();
        store.migrate().unwrap();
        assert_eq!(store.record_ledger_event(&fee(1)).unwrap(), LedgerOutcome::Applied);
        let mut raw = PgConnection::establish(&db.url).unwrap();
        refuses_edits(&mut |sql| diesel::sql_query(sql).execute(&mut raw));
    }
}
