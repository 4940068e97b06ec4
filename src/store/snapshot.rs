//! Whole-tournament reads: the snapshot a TournamentActor rebuilds itself from, and the results bundle
//! exported for auditors (docs/results-bundle.md), each read in one transaction.

use chrono::{DateTime, Utc};

use super::{Participant, RoundWithBracket, StoreError, TASK_REPLACED, Task, Tournament, Training, Tx};
use crate::domain::bundle::{
    BUNDLE_FORMAT, ParticipantRecord, ResultsBundle, RoundRecord, TaskRecord, TournamentRecord,
};
use crate::domain::scoring::TrainingResult;
use crate::domain::{Hotkey, RunStatus, TournamentId, TournamentStatus, TrainingStatus};

#[derive(Debug, Clone, PartialEq)]
pub struct TournamentSnapshot {
    pub tournament: Tournament,
    pub participants: Vec<Participant>,
    /// By number.
    pub rounds: Vec<RoundSnapshot>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RoundSnapshot {
    pub round: RoundWithBracket,
    /// By creation, then id; replaced tasks included.
    pub tasks: Vec<TaskSnapshot>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskSnapshot {
    pub task: Task,
    /// By hotkey.
    pub trainings: Vec<Training>,
}

impl Tx<'_> {
    /// Everything of one tournament.
    pub fn tournament_snapshot(&mut self, id: &TournamentId) -> Result<TournamentSnapshot, StoreError> {
        let tournament = self.get_tournament(id)?;
        let participants = self.list_participants(id)?;
        let mut rounds = Vec::new();
        for round in self.list_rounds(id)? {
            let mut tasks = Vec::new();
            let mut stored = self.list_tasks(&round.round.id)?;
            stored.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            for task in stored {
                let trainings = self.trainings_for_task(&task.id)?;
                tasks.push(TaskSnapshot { task, trainings });
            }
            rounds.push(RoundSnapshot { round, tasks });
        }
        Ok(TournamentSnapshot { tournament, participants, rounds })
    }

    /// The results bundle: every completed or active tournament, its participants, and its rounds' tasks
    /// that were not replaced, with the results of their finished trainings.
    pub fn export_bundle(&mut self, house: &Hotkey, at: DateTime<Utc>) -> Result<ResultsBundle, StoreError> {
        let mut tournaments = Vec::new();
        for t in self.list_tournaments(None)? {
            if !matches!(t.status, TournamentStatus::Completed | TournamentStatus::Active) {
                continue;
            }
            let s = self.tournament_snapshot(&t.id)?;
            tournaments.push(record(s));
        }
        Ok(ResultsBundle {
            format: BUNDLE_FORMAT.into(),
            house_hotkey: house.clone(),
            exported_at: Some(at),
            tournaments,
        })
    }
}

fn record(s: TournamentSnapshot) -> TournamentRecord {
    let t = s.tournament;
    TournamentRecord {
        id: t.id,
        tournament_type: t.tournament_type,
        status: t.status,
        base_winner_hotkey: t.base_winner_hotkey,
        winner_hotkey: t.winner_hotkey,
        winning_performance_difference: t.winning_performance_difference,
        created_at: t.created_at,
        completed_at: t.completed_at,
        participants: s
            .participants
            .into_iter()
            .filter(|p| p.admission == crate::domain::AdmissionOutcome::Admitted)
            .map(|p| ParticipantRecord { hotkey: p.hotkey, eliminated_in_round: p.eliminated_in_round })
            .collect(),
        rounds: s
            .rounds
            .into_iter()
            .map(|r| RoundRecord {
                number: r.round.round.number,
                kind: r.round.round.kind,
                is_final: r.round.round.is_final,
                tasks: r
                    .tasks
                    .into_iter()
                    .filter(|task| task.task.status != TASK_REPLACED)
                    .map(|task| TaskRecord {
                        id: task.task.id,
                        task_type: task.task.task_type,
                        results: task
                            .trainings
                            .into_iter()
                            .filter_map(|tr| {
                                let status = match tr.status {
                                    TrainingStatus::Success => RunStatus::Success,
                                    TrainingStatus::Failure => RunStatus::Failure,
                                    _ => return None,
                                };
                                Some(TrainingResult {
                                    hotkey: tr.hotkey,
                                    status,
                                    test_loss: tr.test_loss,
                                    synth_loss: tr.synth_loss,
                                })
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
    }
}
