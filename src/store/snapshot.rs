//! Whole-tournament reads: one tournament with its participants, rounds (with their brackets), tasks
//! and trainings, as one consistent picture (what a restarted tournament actor rebuilds from, and what
//! the results export reads).
//!
//! It only reads, through the per-aggregate operations, so every ordering promised here is theirs.
//! It must not be called on a bare connection when consistency matters: the [`super::Store`] method
//! runs it in one read transaction.

use super::{Participant, RoundWithBracket, StoreError, Task, Tournament, Training, Tx};
use crate::domain::{RoundStatus, TournamentId};

/// Everything stored about one tournament.
#[derive(Debug, Clone, PartialEq)]
pub struct TournamentSnapshot {
    pub tournament: Tournament,
    /// In the order they were first recorded (then by hotkey).
    pub participants: Vec<Participant>,
    /// By round number.
    pub rounds: Vec<RoundSnapshot>,
}

/// One round with its bracket (groups and pairs by number) and its tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundSnapshot {
    pub round: RoundWithBracket,
    /// By `created_at`, then id; replaced tasks included (status [`crate::domain::TaskStatus::Replaced`]).
    pub tasks: Vec<TaskSnapshot>,
}

/// One task with its trainings.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSnapshot {
    pub task: Task,
    /// By hotkey.
    pub trainings: Vec<Training>,
}

impl Tx<'_> {
    /// Reads one tournament whole. `NotFound` when the tournament does not exist.
    pub fn tournament_snapshot(&mut self, id: &TournamentId) -> Result<TournamentSnapshot, StoreError> {
        let tournament = self.get_tournament(id)?;
        self.snapshot_of(tournament)
    }

    /// Reads everything under `tournament`, already read.
    pub(super) fn snapshot_of(&mut self, tournament: Tournament) -> Result<TournamentSnapshot, StoreError> {
        let id = &tournament.id;
        let participants = self.list_participants(id)?;
        let mut rounds = Vec::new();
        for round in self.list_rounds(id)? {
            rounds.push(self.round_snapshot(round)?);
        }
        Ok(TournamentSnapshot { tournament, participants, rounds })
    }

    /// What [`Tx::tournament_snapshot`] reads, reusing the rounds of `previous` that were completed
    /// there: a completed round's bracket, tasks and trainings never change again, so a tournament
    /// deep in its knockout rounds does not read its group stage again after every step.
    pub fn refresh_snapshot(&mut self, previous: &TournamentSnapshot) -> Result<TournamentSnapshot, StoreError> {
        let tournament = self.get_tournament(&previous.tournament.id)?;
        let id = &tournament.id;
        let participants = self.list_participants(id)?;
        let mut rounds = Vec::new();
        for round in self.list_round_rows(id)? {
            let done = previous
                .rounds
                .iter()
                .find(|r| r.round.round.id == round.id && r.round.round.status == RoundStatus::Completed);
            match done {
                Some(done) => rounds.push(done.clone()),
                None => {
                    let round = self.with_bracket(round)?;
                    rounds.push(self.round_snapshot(round)?);
                }
            }
        }
        Ok(TournamentSnapshot { tournament, participants, rounds })
    }

    fn round_snapshot(&mut self, round: RoundWithBracket) -> Result<RoundSnapshot, StoreError> {
        let mut tasks = Vec::new();
        for task in self.list_tasks(&round.round.id)? {
            let trainings = self.trainings_for_task(&task.id)?;
            tasks.push(TaskSnapshot { task, trainings });
        }
        Ok(RoundSnapshot { round, tasks })
    }
}
