//! Participants: every miner that answered a registration, admitted or not and why, and the round
//! that eliminated it (tournament-rules.md §3, §4).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::connection::per_backend;
use super::convert::{from_db, parse, parse_opt, signed, signed_opt, to_db, unsigned_opt};
use super::schema::participants;
use super::{StoreError, Tx};
use crate::domain::{AdmissionOutcome, Coldkey, Hotkey, TournamentId};

/// A miner (or the house) that answered registration, admitted or not, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Participant {
    pub tournament_id: TournamentId,
    pub hotkey: Hotkey,
    pub coldkey: Option<Coldkey>,
    pub repo_url: String,
    pub commit_hash: String,
    pub is_house: bool,
    pub admission: AdmissionOutcome,
    /// Free text a miner can act on ("timeout after 10 s", "gate failed: ...").
    pub admission_reason: String,
    pub eliminated_in_round: Option<u32>,
    /// The fee charged for this tournament, in rao.
    pub fee_rao: Option<u64>,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = participants)]
struct ParticipantRow {
    tournament_id: String,
    hotkey: String,
    coldkey: Option<String>,
    repo_url: String,
    commit_hash: String,
    is_house: bool,
    admission: String,
    admission_reason: String,
    eliminated_in_round: Option<i32>,
    fee_rao: Option<i64>,
    created_at: NaiveDateTime,
}

const P: &str = "participants";

impl ParticipantRow {
    fn new(p: &Participant) -> Result<Self, StoreError> {
        Ok(Self {
            tournament_id: p.tournament_id.to_string(),
            hotkey: p.hotkey.to_string(),
            coldkey: p.coldkey.as_ref().map(Coldkey::to_string),
            repo_url: p.repo_url.clone(),
            commit_hash: p.commit_hash.clone(),
            is_house: p.is_house,
            admission: p.admission.as_str().to_owned(),
            admission_reason: p.admission_reason.clone(),
            eliminated_in_round: signed_opt("eliminated_in_round", p.eliminated_in_round)?,
            fee_rao: signed_opt("fee_rao", p.fee_rao)?,
            created_at: to_db(p.created_at),
        })
    }

    fn into_record(self) -> Result<Participant, StoreError> {
        Ok(Participant {
            tournament_id: parse(P, "tournament_id", &self.tournament_id)?,
            hotkey: parse(P, "hotkey", &self.hotkey)?,
            coldkey: parse_opt(P, "coldkey", self.coldkey.as_deref())?,
            repo_url: self.repo_url,
            commit_hash: self.commit_hash,
            is_house: self.is_house,
            admission: parse(P, "admission", &self.admission)?,
            admission_reason: self.admission_reason,
            eliminated_in_round: unsigned_opt(P, "eliminated_in_round", self.eliminated_in_round)?,
            fee_rao: unsigned_opt(P, "fee_rao", self.fee_rao)?,
            created_at: from_db(self.created_at),
        })
    }
}

impl Tx<'_> {
    /// Inserts a participant, or overwrites every field of an existing one but its `created_at`
    /// (a registration retry re-pings a miner that was refused before).
    pub fn upsert_participant(&mut self, participant: &Participant) -> Result<(), StoreError> {
        let row = ParticipantRow::new(participant)?;
        let changes = (
            participants::coldkey.eq(&row.coldkey),
            participants::repo_url.eq(&row.repo_url),
            participants::commit_hash.eq(&row.commit_hash),
            participants::is_house.eq(row.is_house),
            participants::admission.eq(&row.admission),
            participants::admission_reason.eq(&row.admission_reason),
            participants::eliminated_in_round.eq(row.eliminated_in_round),
            participants::fee_rao.eq(row.fee_rao),
        );
        let key = (participants::tournament_id, participants::hotkey);
        per_backend!(self.conn, |c| diesel::insert_into(participants::table)
            .values(&row)
            .on_conflict(key)
            .do_update()
            .set(changes)
            .execute(c))?;
        Ok(())
    }

    pub fn get_participant(&mut self, tournament: &TournamentId, hotkey: &Hotkey) -> Result<Participant, StoreError> {
        participants::table
            .find((tournament.as_str(), hotkey.as_str()))
            .select(ParticipantRow::as_select())
            .first(self.conn)
            .optional()?
            .ok_or_else(|| StoreError::not_found("participant", format!("{tournament}/{hotkey}")))?
            .into_record()
    }

    /// Every participant of a tournament, in the order they were first recorded.
    pub fn list_participants(&mut self, tournament: &TournamentId) -> Result<Vec<Participant>, StoreError> {
        participants::table
            .filter(participants::tournament_id.eq(tournament.as_str()))
            .order((participants::created_at.asc(), participants::hotkey.asc()))
            .select(ParticipantRow::as_select())
            .load(self.conn)?
            .into_iter()
            .map(ParticipantRow::into_record)
            .collect()
    }

    /// Marks those of `hotkeys` not yet eliminated as eliminated in round `round` (1-based). Fails with
    /// `NotFound` if one of them is not a participant.
    pub fn set_eliminated_in_round(
        &mut self,
        tournament: &TournamentId,
        hotkeys: &[Hotkey],
        round: u32,
    ) -> Result<(), StoreError> {
        let round: i32 = signed("eliminated_in_round", round)?;
        let keys: Vec<&str> = hotkeys.iter().map(Hotkey::as_str).collect();
        let of_them = || {
            participants::table
                .filter(participants::tournament_id.eq(tournament.as_str()))
                .filter(participants::hotkey.eq_any(&keys))
        };
        let known: i64 = of_them().count().get_result(self.conn)?;
        if usize::try_from(known).ok() != Some(keys.len()) {
            return Err(StoreError::not_found("participant", format!("{tournament}: one of {keys:?}")));
        }
        // A participant is eliminated once, by its first loss: a house that re-entered a later round as
        // the odd field's filler keeps the round it first lost.
        diesel::update(of_them().filter(participants::eliminated_in_round.is_null()))
            .set(participants::eliminated_in_round.eq(round))
            .execute(self.conn)?;
        Ok(())
    }
}
