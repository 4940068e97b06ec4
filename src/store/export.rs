//! The results export: the store's history as a results bundle (`docs/results-bundle.md`), the input
//! of the weight computation that anyone can recompute.
//!
//! What it owns: choosing and converting what is exported. What it must not do: compute weights or
//! decide winners (that is `domain::weights` and `domain::scoring`, run over the bundle).

use chrono::{DateTime, Utc};

use super::{StoreError, TournamentSnapshot, Tx};
use crate::domain::bundle::{
    BUNDLE_FORMAT, ParticipantRecord, ResultsBundle, RoundRecord, TaskRecord, TournamentRecord,
};
use crate::domain::{AdmissionOutcome, Hotkey, TaskStatus, TournamentStatus};

impl Tx<'_> {
    /// Exports every completed or active tournament, oldest first (pending and cancelled ones give no
    /// weight and are left out): its admitted participants, its rounds, their tasks that were not
    /// replaced, and each task's finished trainings (success or failure) with their scores as stored.
    ///
    /// The bundle is checked with [`ResultsBundle::validate`]; stored data that cannot make a valid
    /// bundle (a completed tournament without `completed_at`) is [`StoreError::Corrupt`].
    pub fn export_bundle(&mut self, house: &Hotkey, at: DateTime<Utc>) -> Result<ResultsBundle, StoreError> {
        let mut tournaments = Vec::new();
        for tournament in self.list_tournaments(None)? {
            if matches!(tournament.status, TournamentStatus::Completed | TournamentStatus::Active) {
                tournaments.push(tournament_record(self.snapshot_of(tournament)?));
            }
        }
        let bundle = ResultsBundle {
            format: BUNDLE_FORMAT.to_owned(),
            house_hotkey: house.clone(),
            exported_at: Some(at),
            tournaments,
        };
        bundle.validate().map_err(|e| StoreError::Corrupt {
            table: "tournaments",
            detail: format!("the stored results do not make a valid bundle: {e}"),
        })?;
        Ok(bundle)
    }
}

fn tournament_record(snapshot: TournamentSnapshot) -> TournamentRecord {
    let TournamentSnapshot { tournament: t, participants, rounds } = snapshot;
    TournamentRecord {
        id: t.id,
        track: (t.track != t.tournament_type.as_str()).then_some(t.track),
        tournament_type: t.tournament_type,
        status: t.status,
        base_winner_hotkey: t.base_winner_hotkey,
        winner_hotkey: t.winner_hotkey,
        winning_performance_difference: t.winning_performance_difference,
        created_at: t.created_at,
        completed_at: t.completed_at,
        // Refused miners are recorded too, with their reason; only admitted ones took part.
        participants: participants
            .into_iter()
            .filter(|p| p.admission == AdmissionOutcome::Admitted)
            .map(|p| ParticipantRecord { hotkey: p.hotkey, eliminated_in_round: p.eliminated_in_round })
            .collect(),
        rounds: rounds
            .into_iter()
            .map(|r| RoundRecord {
                number: r.round.round.number,
                kind: r.round.round.kind,
                is_final: r.round.round.is_final,
                tasks: r
                    .tasks
                    .into_iter()
                    .filter(|t| t.task.status != TaskStatus::Replaced)
                    .map(|t| TaskRecord {
                        reward_weights: t.task.reward_weights(),
                        id: t.task.id,
                        task_type: t.task.task_type,
                        results: t.trainings.into_iter().filter_map(|t| t.result()).collect(),
                    })
                    .collect(),
            })
            .collect(),
    }
}
