//! The fee ledger: append-only events per coldkey and the balances they move (tournament-rules.md §3).
//!
//! Idempotency is the database's job, not the caller's: every event carries a key that the
//! `ledger_events` table holds UNIQUE. Recording moves the balance and inserts the event in the
//! caller's transaction; a second event with the same key is found, or meets the unique key and its
//! move is undone, and is reported as [`LedgerOutcome::AlreadyRecorded`], so a fee is never charged
//! twice, however many retries, restarts or racing workers try.
//!
//! The balance moves by a conditional update: a debit only where the balance covers it, a credit only
//! where it cannot overflow. PostgreSQL re-checks the condition on the row a racing writer has just
//! changed, so two tournaments charging one coldkey at once never overdraw it; the table's CHECK
//! (balance_rao >= 0) holds whatever writes it.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error as DieselError;

use super::connection::{AnyConnection, per_backend};
use super::convert::{from_db, parse, parse_opt, to_db};
use super::schema::{coldkey_balances, ledger_events};
use super::{StoreError, Tx};
use crate::domain::{Coldkey, Hotkey, LedgerKind, TournamentId};

/// One movement of a coldkey's balance. `amount_rao` is signed: credits and refunds are positive,
/// fees negative.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEvent {
    pub coldkey: Coldkey,
    pub kind: LedgerKind,
    pub amount_rao: i64,
    pub tournament_id: Option<TournamentId>,
    pub hotkey: Option<Hotkey>,
    /// Where the movement comes from (a chain transfer, an operator's note, ...).
    pub reference: Option<String>,
    /// Unique per intended movement: recording the same key again moves nothing.
    pub idempotency_key: String,
    pub created_at: DateTime<Utc>,
}

impl LedgerEvent {
    /// The idempotency key of the participation fee of `hotkey` in `tournament`: one per pair, ever.
    pub fn fee_key(tournament: &TournamentId, hotkey: &Hotkey) -> String {
        format!("fee/{tournament}/{hotkey}")
    }

    /// The idempotency key of the refund of that fee.
    pub fn refund_key(tournament: &TournamentId, hotkey: &Hotkey) -> String {
        format!("refund/{tournament}/{hotkey}")
    }
}

/// Whose events to read.
enum EventsOf<'a> {
    Coldkey(&'a str),
    Tournament(&'a str),
}

/// A recorded event with its position in the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEntry {
    pub id: i64,
    pub event: LedgerEvent,
}

/// What recording an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerOutcome {
    /// The event was appended and the balance moved.
    Applied,
    /// An event with the same idempotency key was already there: nothing moved.
    AlreadyRecorded,
    /// The balance cannot move by this amount (a debit it does not cover, a credit that would
    /// overflow it): nothing was recorded.
    Refused { balance_rao: i64 },
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = ledger_events)]
struct EventRow {
    id: i64,
    coldkey: String,
    kind: String,
    amount_rao: i64,
    tournament_id: Option<String>,
    hotkey: Option<String>,
    reference: Option<String>,
    idempotency_key: String,
    created_at: NaiveDateTime,
}

impl EventRow {
    fn into_record(self) -> Result<LedgerEntry, StoreError> {
        const T: &str = "ledger_events";
        Ok(LedgerEntry {
            id: self.id,
            event: LedgerEvent {
                coldkey: parse(T, "coldkey", &self.coldkey)?,
                kind: parse(T, "kind", &self.kind)?,
                amount_rao: self.amount_rao,
                tournament_id: parse_opt(T, "tournament_id", self.tournament_id.as_deref())?,
                hotkey: parse_opt(T, "hotkey", self.hotkey.as_deref())?,
                reference: self.reference,
                idempotency_key: self.idempotency_key,
                created_at: from_db(self.created_at),
            },
        })
    }
}

/// Why [`append`] recorded nothing.
enum NotApplied {
    Duplicate,
    Refused(i64),
    Failed(StoreError),
}

impl From<DieselError> for NotApplied {
    fn from(error: DieselError) -> Self {
        NotApplied::Failed(error.into())
    }
}

/// Records `event` inside the caller's transaction without a savepoint: nothing is written unless the
/// event applies, so nothing has to be rolled back. (A savepoint per event made admitting thousands of
/// miners in one transaction quadratic on SQLite, which replays its journal from the start to roll
/// one back.)
///
/// 1. A recorded key answers `Duplicate` before anything moves.
/// 2. The balance moves by a conditional update, or `Refused` with nothing written. A refusal looks
///    for the key again: a racing writer of the same key that committed meanwhile is a duplicate.
/// 3. The event is inserted unless its key exists; if a racing writer committed the key between 1 and
///    3 (PostgreSQL), the move is undone and the answer is `Duplicate`.
fn append(conn: &mut AnyConnection, event: &LedgerEvent) -> Result<(), NotApplied> {
    if recorded(conn, &event.idempotency_key)? {
        return Err(NotApplied::Duplicate);
    }
    let coldkey = event.coldkey.as_str();
    if !move_or_open(conn, coldkey, event.amount_rao)? {
        if recorded(conn, &event.idempotency_key)? {
            return Err(NotApplied::Duplicate);
        }
        let balance =
            coldkey_balances::table.find(coldkey).select(coldkey_balances::balance_rao).first(conn).optional()?;
        return Err(NotApplied::Refused(balance.unwrap_or(0)));
    }
    let row = (
        ledger_events::coldkey.eq(coldkey),
        ledger_events::kind.eq(event.kind.as_str()),
        ledger_events::amount_rao.eq(event.amount_rao),
        ledger_events::tournament_id.eq(event.tournament_id.as_ref().map(TournamentId::as_str)),
        ledger_events::hotkey.eq(event.hotkey.as_ref().map(Hotkey::as_str)),
        ledger_events::reference.eq(&event.reference),
        ledger_events::idempotency_key.eq(&event.idempotency_key),
        ledger_events::created_at.eq(to_db(event.created_at)),
    );
    let inserted = per_backend!(conn, |c| diesel::insert_into(ledger_events::table)
        .values(row)
        .on_conflict(ledger_events::idempotency_key)
        .do_nothing()
        .execute(c))?;
    if inserted == 0 {
        // The move succeeded, so its inverse stays within bounds.
        diesel::update(coldkey_balances::table.find(coldkey))
            .set(coldkey_balances::balance_rao.eq(coldkey_balances::balance_rao - event.amount_rao))
            .execute(conn)?;
        return Err(NotApplied::Duplicate);
    }
    Ok(())
}

/// Whether an event with this idempotency key is recorded.
fn recorded(conn: &mut AnyConnection, idempotency_key: &str) -> Result<bool, DieselError> {
    let found = ledger_events::table
        .filter(ledger_events::idempotency_key.eq(idempotency_key))
        .select(ledger_events::id)
        .first::<i64>(conn)
        .optional()?;
    Ok(found.is_some())
}

/// Moves the balance by `amount`; a credit to a coldkey without a row makes the row first (a racing
/// credit may make it first, then the move is tried again). Whether it moved.
fn move_or_open(conn: &mut AnyConnection, coldkey: &str, amount: i64) -> Result<bool, DieselError> {
    if move_balance(conn, coldkey, amount)? {
        return Ok(true);
    }
    if amount < 0 {
        return Ok(false);
    }
    let row = (coldkey_balances::coldkey.eq(coldkey), coldkey_balances::balance_rao.eq(0i64));
    per_backend!(conn, |c| diesel::insert_into(coldkey_balances::table)
        .values(row)
        .on_conflict(coldkey_balances::coldkey)
        .do_nothing()
        .execute(c))?;
    move_balance(conn, coldkey, amount)
}

/// Moves the balance by `amount` where it stays within 0..=i64::MAX; whether it moved.
fn move_balance(conn: &mut AnyConnection, coldkey: &str, amount: i64) -> Result<bool, DieselError> {
    use coldkey_balances::balance_rao;
    let row = coldkey_balances::table.filter(coldkey_balances::coldkey.eq(coldkey));
    let moved = if amount < 0 {
        let Some(debit) = amount.checked_neg() else { return Ok(false) };
        diesel::update(row.filter(balance_rao.ge(debit))).set(balance_rao.eq(balance_rao + amount)).execute(conn)?
    } else {
        diesel::update(row.filter(balance_rao.le(i64::MAX - amount)))
            .set(balance_rao.eq(balance_rao + amount))
            .execute(conn)?
    };
    Ok(moved == 1)
}

impl Tx<'_> {
    /// Appends `event` and moves its coldkey's balance, atomically; a duplicate idempotency key moves
    /// nothing and answers [`LedgerOutcome::AlreadyRecorded`], a balance that cannot move by the amount
    /// records nothing and answers [`LedgerOutcome::Refused`]. Neither spoils an enclosing
    /// transaction: nothing is written unless the event applies.
    pub fn record_ledger_event(&mut self, event: &LedgerEvent) -> Result<LedgerOutcome, StoreError> {
        match append(self.conn, event) {
            Ok(()) => Ok(LedgerOutcome::Applied),
            Err(NotApplied::Duplicate) => Ok(LedgerOutcome::AlreadyRecorded),
            Err(NotApplied::Refused(balance_rao)) => Ok(LedgerOutcome::Refused { balance_rao }),
            Err(NotApplied::Failed(error)) => Err(error),
        }
    }

    /// The balance of a coldkey in rao (0 if it never moved).
    pub fn balance(&mut self, coldkey: &Coldkey) -> Result<i64, StoreError> {
        let balance = coldkey_balances::table
            .find(coldkey.as_str())
            .select(coldkey_balances::balance_rao)
            .first(self.conn)
            .optional()?;
        Ok(balance.unwrap_or(0))
    }

    /// Every event of a coldkey, in the order they were recorded.
    pub fn ledger_events(&mut self, coldkey: &Coldkey) -> Result<Vec<LedgerEntry>, StoreError> {
        self.events_of(EventsOf::Coldkey(coldkey.as_str()))
    }

    /// Every event of a tournament (fees and refunds), in the order they were recorded.
    pub fn tournament_ledger_events(&mut self, tournament: &TournamentId) -> Result<Vec<LedgerEntry>, StoreError> {
        self.events_of(EventsOf::Tournament(tournament.as_str()))
    }

    fn events_of(&mut self, of: EventsOf<'_>) -> Result<Vec<LedgerEntry>, StoreError> {
        let query = ledger_events::table.order(ledger_events::id.asc()).select(EventRow::as_select()).into_boxed();
        let query = match of {
            EventsOf::Coldkey(coldkey) => query.filter(ledger_events::coldkey.eq(coldkey)),
            EventsOf::Tournament(id) => query.filter(ledger_events::tournament_id.eq(id)),
        };
        query.load(self.conn)?.into_iter().map(EventRow::into_record).collect()
    }

    /// The event recorded under an idempotency key, if any (was this fee charged already?).
    pub fn find_ledger_event(&mut self, idempotency_key: &str) -> Result<Option<LedgerEntry>, StoreError> {
        ledger_events::table
            .filter(ledger_events::idempotency_key.eq(idempotency_key))
            .select(EventRow::as_select())
            .first(self.conn)
            .optional()?
            .map(EventRow::into_record)
            .transpose()
    }
}
