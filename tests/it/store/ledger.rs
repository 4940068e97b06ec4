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
    store.record_ledger_event(&credit()).unwrap();
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
    assert_eq!(store.balance(&coldkey(1)).unwrap(), 800_000_000);
    assert_eq!(store.ledger_events(&coldkey(1)).unwrap().len(), 2);
}

/// Many clients charging one coldkey at once, each fee tried twice: the balance never goes negative,
/// each fee is charged at most once, and exactly as many as the balance covers are charged.
fn racing_fees_never_overdraw_a_coldkey(store: &Store) {
    store.record_ledger_event(&credit()).unwrap(); // covers five fees of 0.2 TAO
    let outcomes: Vec<(u64, LedgerOutcome)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8u64)
            .map(|worker| {
                let store = store.clone();
                scope.spawn(move || {
                    let mut seen = Vec::new();
                    for n in 0..4 {
                        let key = 10 + (worker * 4 + n) % 16;
                        seen.push((key, store.record_ledger_event(&fee(key)).unwrap()));
                        assert!(store.balance(&coldkey(1)).unwrap() >= 0);
                    }
                    seen
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    let applied: Vec<u64> = outcomes.iter().filter(|(_, o)| *o == LedgerOutcome::Applied).map(|(k, _)| *k).collect();
    assert_eq!(applied.len(), 5, "{outcomes:?}");
    let distinct: std::collections::BTreeSet<u64> = applied.iter().copied().collect();
    assert_eq!(distinct.len(), 5, "a fee was charged twice: {outcomes:?}");
    assert_eq!(store.balance(&coldkey(1)).unwrap(), 0);
    assert_eq!(store.ledger_events(&coldkey(1)).unwrap().len(), 6);
}

fn a_debit_the_balance_cannot_cover_records_nothing(store: &Store) {
    assert_eq!(store.record_ledger_event(&fee(1)).unwrap(), LedgerOutcome::Refused { balance_rao: 0 });
    assert_eq!(store.balance(&coldkey(1)).unwrap(), 0);
    assert_eq!(store.ledger_events(&coldkey(1)).unwrap(), vec![]);
    store.record_ledger_event(&credit()).unwrap();
    let big = LedgerEvent { amount_rao: -1_000_000_001, ..fee(2) };
    assert_eq!(store.record_ledger_event(&big).unwrap(), LedgerOutcome::Refused { balance_rao: 1_000_000_000 });
    // A credit that would overflow the balance is refused the same way.
    let huge = LedgerEvent { amount_rao: i64::MAX, idempotency_key: "credit/huge".into(), ..credit() };
    assert_eq!(store.record_ledger_event(&huge).unwrap(), LedgerOutcome::Refused { balance_rao: 1_000_000_000 });
    assert_eq!(store.balance(&coldkey(1)).unwrap(), 1_000_000_000);
    assert_eq!(store.ledger_events(&coldkey(1)).unwrap().len(), 1);
}

/// Credits racing on one transfer reference with different amounts: one is recorded, every other is a
/// conflict, never an "already recorded" for an amount that was not.
fn racing_credits_that_reuse_a_reference_conflict(store: &Store) {
    use crucible::miners::credits::{CreditError, record_credit};
    let outcomes: Vec<Result<bool, String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..6u64)
            .map(|i| {
                let store = store.clone();
                scope.spawn(move || match record_credit(&store, &coldkey(1), 100 + i, "block-1/ext-1", t(0)) {
                    Ok(credited) => Ok(credited.applied),
                    Err(CreditError::Conflict { .. }) => Err("conflict".to_owned()),
                    Err(e) => Err(e.to_string()),
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert_eq!(outcomes.iter().filter(|o| **o == Ok(true)).count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| *o == Ok(true) || *o == Err("conflict".to_owned())), "{outcomes:?}");
    let recorded = store.ledger_events(&coldkey(1)).unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(store.balance(&coldkey(1)).unwrap(), recorded[0].event.amount_rao);
    // The same transfer again, with its own amount, is recorded once.
    let again = record_credit(store, &coldkey(1), recorded[0].event.amount_rao as u64, "block-1/ext-1", t(1));
    assert!(matches!(again, Ok(c) if !c.applied), "{again:?}");
}

fn a_duplicate_inside_a_group_commit_spoils_nothing_else(store: &Store) {
    store.record_ledger_event(&credit()).unwrap();
    store.record_ledger_event(&fee(1)).unwrap();
    let outcomes =
        store.transaction(|tx| Ok((tx.record_ledger_event(&fee(1))?, tx.record_ledger_event(&fee(2))?))).unwrap();
    assert_eq!(outcomes, (LedgerOutcome::AlreadyRecorded, LedgerOutcome::Applied));
    assert_eq!(store.balance(&coldkey(1)).unwrap(), 600_000_000);
}

on_both_backends!(
    events_move_the_balance_and_read_back_in_order,
    the_same_fee_twice_is_charged_once,
    racing_workers_charge_a_fee_once,
    racing_fees_never_overdraw_a_coldkey,
    a_debit_the_balance_cannot_cover_records_nothing,
    racing_credits_that_reuse_a_reference_conflict,
    a_duplicate_inside_a_group_commit_spoils_nothing_else,
);

/// Tries to rewrite history behind the store's back, or to overdraw a balance; the database itself
/// must refuse.
fn refuses_edits(raw: &mut impl FnMut(&str) -> Result<usize, diesel::result::Error>) {
    for sql in ["UPDATE ledger_events SET amount_rao = 0", "DELETE FROM ledger_events"] {
        let refused = raw(sql).expect_err(sql).to_string();
        assert!(refused.contains("append-only"), "{sql}: {refused}");
    }
    let sql = "UPDATE coldkey_balances SET balance_rao = -1";
    let refused = raw(sql).expect_err(sql).to_string().to_lowercase();
    assert!(refused.contains("check"), "{sql}: {refused}");
}

mod append_only {
    use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};

    use super::super::support::TestDatabase;
    use super::{LedgerOutcome, Store, credit, refuses_edits};

    #[test]
    fn sqlite_refuses_edits_of_ledger_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let store = Store::open(path.to_str().unwrap()).unwrap();
        store.migrate().unwrap();
        assert_eq!(store.record_ledger_event(&credit()).unwrap(), LedgerOutcome::Applied);
        let mut raw = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        refuses_edits(&mut |sql| diesel::sql_query(sql).execute(&mut raw));
    }

    #[test]
    fn postgres_refuses_edits_of_ledger_events() {
        let Some(db) = TestDatabase::create() else { return };
        let store = Store::open(&db.url).unwrap();
        store.migrate().unwrap();
        assert_eq!(store.record_ledger_event(&credit()).unwrap(), LedgerOutcome::Applied);
        let mut raw = PgConnection::establish(&db.url).unwrap();
        refuses_edits(&mut |sql| diesel::sql_query(sql).execute(&mut raw));
    }
}
