//! Tournaments: creation, the queries scheduling and weights need, status changes (tournament-rules.md
//! §2, §3, §8).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::convert::{from_db, from_db_opt, parse, parse_opt, signed, to_db, to_db_opt, unsigned};
use super::schema::tournaments;
use super::transitions::{EntityKind, StatusChange, apply_change, log};
use super::{StoreError, Tx};
use crate::domain::{Hotkey, TournamentId, TournamentStatus, TournamentType};

/// One tournament of one type.
#[derive(Debug, Clone, PartialEq)]
pub struct Tournament {
    pub id: TournamentId,
    pub tournament_type: TournamentType,
    pub status: TournamentStatus,
    /// The champion defending the title (`None` when there was none).
    pub base_winner_hotkey: Option<Hotkey>,
    pub winner_hotkey: Option<Hotkey>,
    pub winning_performance_difference: Option<f64>,
    /// The champion's consecutive wins `k` when this tournament was created (boss threshold).
    pub champion_wins: u32,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    /// When it completed or was cancelled.
    pub completed_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    /// The tournament line it belongs to (`domain::tracks`); a type's default track is named after it.
    pub track: String,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = tournaments)]
struct TournamentRow {
    id: String,
    tournament_type: String,
    status: String,
    base_winner_hotkey: Option<String>,
    winner_hotkey: Option<String>,
    winning_performance_difference: Option<f64>,
    champion_wins: i32,
    created_at: NaiveDateTime,
    started_at: Option<NaiveDateTime>,
    completed_at: Option<NaiveDateTime>,
    cancel_reason: Option<String>,
    track: String,
}

const T: &str = "tournaments";

impl TournamentRow {
    fn new(t: &Tournament) -> Result<Self, StoreError> {
        Ok(Self {
            id: t.id.to_string(),
            tournament_type: t.tournament_type.as_str().to_owned(),
            status: t.status.as_str().to_owned(),
            base_winner_hotkey: t.base_winner_hotkey.as_ref().map(Hotkey::to_string),
            winner_hotkey: t.winner_hotkey.as_ref().map(Hotkey::to_string),
            winning_performance_difference: t.winning_performance_difference,
            champion_wins: signed("champion_wins", t.champion_wins)?,
            created_at: to_db(t.created_at),
            started_at: to_db_opt(t.started_at),
            completed_at: to_db_opt(t.completed_at),
            cancel_reason: t.cancel_reason.clone(),
            track: t.track.clone(),
        })
    }

    fn into_record(self) -> Result<Tournament, StoreError> {
        Ok(Tournament {
            id: parse(T, "id", &self.id)?,
            tournament_type: parse(T, "tournament_type", &self.tournament_type)?,
            status: parse(T, "status", &self.status)?,
            base_winner_hotkey: parse_opt(T, "base_winner_hotkey", self.base_winner_hotkey.as_deref())?,
            winner_hotkey: parse_opt(T, "winner_hotkey", self.winner_hotkey.as_deref())?,
            winning_performance_difference: self.winning_performance_difference,
            champion_wins: unsigned(T, "champion_wins", self.champion_wins)?,
            created_at: from_db(self.created_at),
            started_at: from_db_opt(self.started_at),
            completed_at: from_db_opt(self.completed_at),
            cancel_reason: self.cancel_reason,
            track: self.track,
        })
    }
}

fn records(rows: Vec<TournamentRow>) -> Result<Vec<Tournament>, StoreError> {
    rows.into_iter().map(TournamentRow::into_record).collect()
}

const UNFINISHED: [&str; 2] = ["pending", "active"];

impl Tx<'_> {
    /// Inserts a new tournament and logs its creation.
    pub fn insert_tournament(&mut self, tournament: &Tournament) -> Result<(), StoreError> {
        diesel::insert_into(tournaments::table).values(TournamentRow::new(tournament)?).execute(self.conn)?;
        let id = tournament.id.as_str();
        log(self.conn, EntityKind::Tournament, id, None, tournament.status.as_str(), "created", tournament.created_at)
    }

    /// Locks the tournament's row for the rest of the transaction, provided it is still `expected`;
    /// otherwise a `Conflict` naming its status. A concurrent status change (a cancel) then waits for
    /// this transaction, or this one sees it: on PostgreSQL a plain read would not.
    pub fn hold_tournament(&mut self, id: &TournamentId, expected: TournamentStatus) -> Result<(), StoreError> {
        let held = diesel::update(
            tournaments::table
                .filter(tournaments::id.eq(id.as_str()))
                .filter(tournaments::status.eq(expected.as_str())),
        )
        .set(tournaments::status.eq(tournaments::status))
        .execute(self.conn)?;
        if held == 0 {
            let status = self.get_tournament(id)?.status;
            return Err(StoreError::Conflict(format!("tournament {id} is {status}, not {expected}")));
        }
        Ok(())
    }

    pub fn get_tournament(&mut self, id: &TournamentId) -> Result<Tournament, StoreError> {
        tournaments::table
            .find(id.as_str())
            .select(TournamentRow::as_select())
            .first(self.conn)
            .optional()?
            .ok_or_else(|| StoreError::not_found("tournament", id))?
            .into_record()
    }

    /// The status of one tournament alone (a trainer's check before it asks for GPUs).
    pub fn tournament_status(&mut self, id: &TournamentId) -> Result<TournamentStatus, StoreError> {
        let status: String = tournaments::table
            .find(id.as_str())
            .select(tournaments::status)
            .first(self.conn)
            .optional()?
            .ok_or_else(|| StoreError::not_found("tournament", id))?;
        parse(T, "status", &status)
    }

    /// Every tournament (of one track, if given), oldest first.
    pub fn list_tournaments(&mut self, track: Option<&str>) -> Result<Vec<Tournament>, StoreError> {
        let mut query = tournaments::table.select(TournamentRow::as_select()).into_boxed();
        if let Some(track) = track {
            query = query.filter(tournaments::track.eq(track));
        }
        records(query.order((tournaments::created_at.asc(), tournaments::id.asc())).load(self.conn)?)
    }

    /// Pending and active tournaments, oldest first: what the supervisor restores after a restart.
    pub fn unfinished_tournaments(&mut self) -> Result<Vec<Tournament>, StoreError> {
        let query = tournaments::table.filter(tournaments::status.eq_any(UNFINISHED));
        records(query.order(tournaments::created_at.asc()).select(TournamentRow::as_select()).load(self.conn)?)
    }

    /// The pending or active tournament of a track, if there is one.
    pub fn unfinished_of_track(&mut self, track: &str) -> Result<Option<Tournament>, StoreError> {
        let query =
            tournaments::table.filter(tournaments::track.eq(track)).filter(tournaments::status.eq_any(UNFINISHED));
        query
            .select(TournamentRow::as_select())
            .first(self.conn)
            .optional()?
            .map(TournamentRow::into_record)
            .transpose()
    }

    /// How many tournaments a track has had, whatever their status.
    pub fn count_tournaments_of_track(&mut self, track: &str) -> Result<u64, StoreError> {
        let n: i64 = tournaments::table.filter(tournaments::track.eq(track)).count().get_result(self.conn)?;
        Ok(n as u64)
    }

    /// The completed tournament of this track that completed last.
    pub fn latest_completed_tournament(&mut self, track: &str) -> Result<Option<Tournament>, StoreError> {
        self.completed_before(track, None)
    }

    /// The completed tournament of the same track that completed before `id` did (weights, §8).
    pub fn previous_completed_tournament(&mut self, id: &TournamentId) -> Result<Option<Tournament>, StoreError> {
        let this = self.get_tournament(id)?;
        match this.completed_at {
            Some(at) => self.completed_before(&this.track, Some(at)),
            None => Err(StoreError::Conflict(format!("tournament {id} has not completed"))),
        }
    }

    fn completed_before(
        &mut self,
        track: &str,
        before: Option<DateTime<Utc>>,
    ) -> Result<Option<Tournament>, StoreError> {
        let mut query = tournaments::table
            .filter(tournaments::track.eq(track))
            .filter(tournaments::status.eq(TournamentStatus::Completed.as_str()))
            .select(TournamentRow::as_select())
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(tournaments::completed_at.lt(to_db(before)));
        }
        let order = (tournaments::completed_at.desc(), tournaments::id.desc());
        query.order(order).first(self.conn).optional()?.map(TournamentRow::into_record).transpose()
    }

    /// Moves a tournament's status (compare-and-set, logged). Entering `active` sets `started_at`;
    /// entering `completed` or `cancelled` sets `completed_at`; a cancellation keeps its cause as
    /// `cancel_reason`.
    pub fn set_tournament_status(
        &mut self,
        id: &TournamentId,
        change: &StatusChange<TournamentStatus>,
    ) -> Result<(), StoreError> {
        let at = to_db(change.at);
        let set = StatusColumns {
            status: change.to.as_str(),
            started_at: (change.to == TournamentStatus::Active).then_some(at),
            completed_at: change.to.is_finished().then_some(at),
            cancel_reason: (change.to == TournamentStatus::Cancelled).then_some(change.cause.as_str()),
        };
        let row = tournaments::table
            .filter(tournaments::id.eq(id.as_str()))
            .filter(tournaments::status.eq(change.from.as_str()));
        apply_change(
            self.conn,
            EntityKind::Tournament,
            id.as_str(),
            change,
            |conn| diesel::update(row).set(&set).execute(conn),
            |conn| tournaments::table.find(id.as_str()).select(tournaments::status).first(conn).optional(),
        )
    }

    /// Records who won and by how much (§7); combine it with the status change in one transaction.
    pub fn set_tournament_result(
        &mut self,
        id: &TournamentId,
        winner: &Hotkey,
        winning_performance_difference: f64,
    ) -> Result<(), StoreError> {
        let changed = diesel::update(tournaments::table.find(id.as_str()))
            .set((
                tournaments::winner_hotkey.eq(winner.as_str()),
                tournaments::winning_performance_difference.eq(winning_performance_difference),
            ))
            .execute(self.conn)?;
        if changed == 0 {
            return Err(StoreError::not_found("tournament", id));
        }
        Ok(())
    }
}

/// The columns a status change writes; `None` leaves a column as it is.
#[derive(AsChangeset)]
#[diesel(table_name = tournaments)]
struct StatusColumns<'a> {
    status: &'a str,
    started_at: Option<NaiveDateTime>,
    completed_at: Option<NaiveDateTime>,
    cancel_reason: Option<&'a str>,
}
