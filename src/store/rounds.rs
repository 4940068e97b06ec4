//! Rounds with their groups and pairs (tournament-rules.md §4): a round and its bracket are written
//! in one transaction and read back whole.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::connection::per_backend;
use super::convert::unsigned;
use super::convert::{from_db, from_db_opt, parse, parse_opt, seed_from_db, seed_to_db, signed, to_db, to_db_opt};
use super::schema::{group_members, groups, pairs, rounds};
use super::transitions::{EntityKind, StatusChange, apply_change, log};
use super::{StoreError, Tx};
use crate::domain::{Hotkey, RoundId, RoundKind, RoundStatus, TournamentId};

/// One round of a tournament.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    pub id: RoundId,
    pub tournament_id: TournamentId,
    /// 1-based.
    pub number: u32,
    pub kind: RoundKind,
    /// The boss round.
    pub is_final: bool,
    pub status: RoundStatus,
    /// The seed the bracket was drawn with, so anyone can re-derive it.
    pub seed: u64,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// A group of the group stage; `id` is `RoundId::group(number)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub id: String,
    pub number: u32,
    /// Sorted by hotkey when read back.
    pub members: Vec<Hotkey>,
}

/// A knockout pair; `id` is `RoundId::pair(number)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub id: String,
    pub number: u32,
    pub hotkey_a: Hotkey,
    pub hotkey_b: Hotkey,
    pub winner: Option<Hotkey>,
}

/// A round with its bracket: groups for a group round, pairs for a knockout (ordered by number).
#[derive(Debug, Clone, PartialEq)]
pub struct RoundWithBracket {
    pub round: Round,
    pub groups: Vec<Group>,
    pub pairs: Vec<Pair>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = rounds)]
struct RoundRow {
    id: String,
    tournament_id: String,
    number: i32,
    kind: String,
    is_final: bool,
    status: String,
    seed: i64,
    created_at: NaiveDateTime,
    completed_at: Option<NaiveDateTime>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = pairs)]
struct PairRow {
    id: String,
    number: i32,
    hotkey_a: String,
    hotkey_b: String,
    winner: Option<String>,
}

const R: &str = "rounds";

impl RoundRow {
    fn into_record(self) -> Result<Round, StoreError> {
        Ok(Round {
            id: parse_round_id(R, &self.id)?,
            tournament_id: parse(R, "tournament_id", &self.tournament_id)?,
            number: unsigned(R, "number", self.number)?,
            kind: parse(R, "kind", &self.kind)?,
            is_final: self.is_final,
            status: parse(R, "status", &self.status)?,
            seed: seed_from_db(self.seed),
            created_at: from_db(self.created_at),
            completed_at: from_db_opt(self.completed_at),
        })
    }
}

fn parse_round_id(table: &'static str, id: &str) -> Result<RoundId, StoreError> {
    RoundId::parse(id).map_err(|e| StoreError::Corrupt { table, detail: format!("round id: {e}") })
}

impl Tx<'_> {
    /// Inserts a round with its groups, their members and its pairs, and logs its creation.
    pub fn insert_round(&mut self, round: &RoundWithBracket) -> Result<(), StoreError> {
        let r = &round.round;
        let row = RoundRow {
            id: r.id.to_string(),
            tournament_id: r.tournament_id.to_string(),
            number: signed("number", r.number)?,
            kind: r.kind.as_str().to_owned(),
            is_final: r.is_final,
            status: r.status.as_str().to_owned(),
            seed: seed_to_db(r.seed),
            created_at: to_db(r.created_at),
            completed_at: to_db_opt(r.completed_at),
        };
        diesel::insert_into(rounds::table).values(&row).execute(self.conn)?;
        for group in &round.groups {
            let number: i32 = signed("group number", group.number)?;
            diesel::insert_into(groups::table)
                .values((groups::id.eq(&group.id), groups::round_id.eq(&row.id), groups::number.eq(number)))
                .execute(self.conn)?;
            let members: Vec<_> = group
                .members
                .iter()
                .map(|h| (group_members::group_id.eq(&group.id), group_members::hotkey.eq(h.as_str())))
                .collect();
            // Batch inserts do not compile through `AnyConnection`.
            if !members.is_empty() {
                per_backend!(&mut *self.conn, |c| diesel::insert_into(group_members::table)
                    .values(members)
                    .execute(c))?;
            }
        }
        for pair in &round.pairs {
            let number: i32 = signed("pair number", pair.number)?;
            diesel::insert_into(pairs::table)
                .values((
                    pairs::id.eq(&pair.id),
                    pairs::round_id.eq(&row.id),
                    pairs::number.eq(number),
                    pairs::hotkey_a.eq(pair.hotkey_a.as_str()),
                    pairs::hotkey_b.eq(pair.hotkey_b.as_str()),
                    pairs::winner.eq(pair.winner.as_ref().map(Hotkey::as_str)),
                ))
                .execute(self.conn)?;
        }
        log(self.conn, EntityKind::Round, &row.id, None, &row.status, "created", r.created_at)
    }

    pub fn get_round(&mut self, id: &RoundId) -> Result<RoundWithBracket, StoreError> {
        let row = rounds::table
            .find(id.as_str())
            .select(RoundRow::as_select())
            .first(self.conn)
            .optional()?
            .ok_or_else(|| StoreError::not_found("round", id))?;
        self.with_bracket(row.into_record()?)
    }

    /// A tournament's rounds in order, each with its groups and pairs.
    pub fn list_rounds(&mut self, tournament: &TournamentId) -> Result<Vec<RoundWithBracket>, StoreError> {
        let rows = self.list_round_rows(tournament)?;
        rows.into_iter().map(|round| self.with_bracket(round)).collect()
    }

    /// A tournament's rounds in order, without their brackets.
    pub(super) fn list_round_rows(&mut self, tournament: &TournamentId) -> Result<Vec<Round>, StoreError> {
        let rows = rounds::table
            .filter(rounds::tournament_id.eq(tournament.as_str()))
            .order(rounds::number.asc())
            .select(RoundRow::as_select())
            .load(self.conn)?;
        rows.into_iter().map(RoundRow::into_record).collect()
    }

    pub(super) fn with_bracket(&mut self, round: Round) -> Result<RoundWithBracket, StoreError> {
        let group_rows: Vec<(String, i32)> = groups::table
            .filter(groups::round_id.eq(round.id.as_str()))
            .order(groups::number.asc())
            .select((groups::id, groups::number))
            .load(self.conn)?;
        let member_rows: Vec<(String, String)> = group_members::table
            .inner_join(groups::table)
            .filter(groups::round_id.eq(round.id.as_str()))
            .order((group_members::group_id.asc(), group_members::hotkey.asc()))
            .select((group_members::group_id, group_members::hotkey))
            .load(self.conn)?;
        let mut groups = Vec::with_capacity(group_rows.len());
        for (id, number) in group_rows {
            let members = member_rows
                .iter()
                .filter(|(group, _)| *group == id)
                .map(|(_, hotkey)| parse("group_members", "hotkey", hotkey))
                .collect::<Result<_, _>>()?;
            groups.push(Group { id, number: unsigned("groups", "number", number)?, members });
        }
        let pairs = pairs::table
            .filter(pairs::round_id.eq(round.id.as_str()))
            .order(pairs::number.asc())
            .select(PairRow::as_select())
            .load(self.conn)?
            .into_iter()
            .map(|row| {
                Ok(Pair {
                    number: unsigned("pairs", "number", row.number)?,
                    hotkey_a: parse("pairs", "hotkey_a", &row.hotkey_a)?,
                    hotkey_b: parse("pairs", "hotkey_b", &row.hotkey_b)?,
                    winner: parse_opt("pairs", "winner", row.winner.as_deref())?,
                    id: row.id,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(RoundWithBracket { round, groups, pairs })
    }

    /// Moves a round's status (compare-and-set, logged); entering `completed` sets `completed_at`.
    pub fn set_round_status(&mut self, id: &RoundId, change: &StatusChange<RoundStatus>) -> Result<(), StoreError> {
        let completed_at = (change.to == RoundStatus::Completed).then_some(to_db(change.at));
        let row = rounds::table.filter(rounds::id.eq(id.as_str())).filter(rounds::status.eq(change.from.as_str()));
        apply_change(
            self.conn,
            EntityKind::Round,
            id.as_str(),
            change,
            |conn| {
                diesel::update(row)
                    .set((rounds::status.eq(change.to.as_str()), rounds::completed_at.eq(completed_at)))
                    .execute(conn)
            },
            |conn| rounds::table.find(id.as_str()).select(rounds::status).first(conn).optional(),
        )
    }

    /// Records the winner of a pair (`None`: nobody won, both are eliminated).
    pub fn set_pair_winner(&mut self, pair_id: &str, winner: Option<&Hotkey>) -> Result<(), StoreError> {
        let changed = diesel::update(pairs::table.find(pair_id))
            .set(pairs::winner.eq(winner.map(Hotkey::as_str)))
            .execute(self.conn)?;
        if changed == 0 {
            return Err(StoreError::not_found("pair", pair_id));
        }
        Ok(())
    }
}
