//! Counts for the control plane: trainings by status (with their attempts) and tournaments by type and
//! status, each one grouped query.

use diesel::dsl::{count_star, max, sum};
use diesel::prelude::*;

use super::convert::parse;
use super::schema::{tournaments, trainings};
use super::{StoreError, Tx};
use crate::domain::{TournamentStatus, TournamentType, TrainingStatus};

/// The trainings in one status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingCount {
    pub status: TrainingStatus,
    pub count: u64,
    /// Real starts summed over these trainings.
    pub attempts: u64,
    pub max_attempts: u32,
}

/// The tournaments of one type in one status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TournamentCount {
    pub tournament_type: TournamentType,
    pub status: TournamentStatus,
    pub count: u64,
}

impl Tx<'_> {
    /// Every training status that occurs, with its count and attempts.
    pub fn training_counts(&mut self) -> Result<Vec<TrainingCount>, StoreError> {
        let rows: Vec<(String, i64, Option<i64>, Option<i32>)> = trainings::table
            .group_by(trainings::status)
            .select((trainings::status, count_star(), sum(trainings::attempts), max(trainings::attempts)))
            .order(trainings::status.asc())
            .load(self.conn)?;
        rows.into_iter()
            .map(|(status, count, attempts, max_attempts)| {
                Ok(TrainingCount {
                    status: parse("trainings", "status", &status)?,
                    count: count.max(0) as u64,
                    attempts: attempts.unwrap_or(0).max(0) as u64,
                    max_attempts: max_attempts.unwrap_or(0).max(0) as u32,
                })
            })
            .collect()
    }

    /// Every (type, status) of tournaments that occurs, with its count.
    pub fn tournament_counts(&mut self) -> Result<Vec<TournamentCount>, StoreError> {
        let rows: Vec<(String, String, i64)> = tournaments::table
            .group_by((tournaments::tournament_type, tournaments::status))
            .select((tournaments::tournament_type, tournaments::status, count_star()))
            .order((tournaments::tournament_type.asc(), tournaments::status.asc()))
            .load(self.conn)?;
        rows.into_iter()
            .map(|(kind, status, count)| {
                Ok(TournamentCount {
                    tournament_type: parse("tournaments", "tournament_type", &kind)?,
                    status: parse("tournaments", "status", &status)?,
                    count: count.max(0) as u64,
                })
            })
            .collect()
    }
}
