//! The [`Store`] methods: each runs the [`Tx`] operation of the same name, writes in their own
//! transaction, reads on a pooled connection, and whole-tournament reads in one read transaction. To
//! write several things atomically (group commit), use [`Store::transaction`] and call the operations
//! on the [`Tx`] instead.
//!
//! Every method blocks: call it off the event loop.

use chrono::{DateTime, Utc};

use super::{
    AddedNode, AttemptEnd, EntityKind, LedgerEntry, LedgerEvent, LedgerOutcome, Miner, NewAttempt, NodeTask,
    NodeTaskEnd, Participant, RoundWithBracket, StatusChange, Store, StoreError, Task, Tournament, TournamentCount,
    TournamentSnapshot, TrainerNode, Training, TrainingAttempt, TrainingCount, TrainingUpdate, Transition,
};
use crate::domain::bundle::ResultsBundle;
use crate::domain::{
    Coldkey, Hotkey, NodeTaskStatus, RoundId, RoundStatus, TaskId, TaskStatus, TournamentId, TournamentStatus,
    TrainingKey, TrainingStatus,
};

macro_rules! delegate {
    ($via:ident: $(fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;)*) => {
        impl Store {
            $(
                #[doc = concat!("See [`Tx::", stringify!($name), "`](super::Tx::", stringify!($name), ").")]
                pub fn $name(&self $(, $arg: $ty)*) -> Result<$ret, StoreError> {
                    self.$via(|tx| tx.$name($($arg),*))
                }
            )*
        }
    };
}

delegate! { transaction:
    fn insert_tournament(&self, tournament: &Tournament) -> ();
    fn set_tournament_status(&self, id: &TournamentId, change: &StatusChange<TournamentStatus>) -> ();
    fn set_tournament_result(&self, id: &TournamentId, winner: &Hotkey, winning_performance_difference: f64) -> ();
    fn upsert_participant(&self, participant: &Participant) -> ();
    fn set_eliminated_in_round(&self, tournament: &TournamentId, hotkeys: &[Hotkey], round: u32) -> ();
    fn insert_round(&self, round: &RoundWithBracket) -> ();
    fn set_round_status(&self, id: &RoundId, change: &StatusChange<RoundStatus>) -> ();
    fn set_pair_winner(&self, pair_id: &str, winner: Option<&Hotkey>) -> ();
    fn insert_task(&self, task: &Task) -> ();
    fn set_task_status(&self, id: &TaskId, change: &StatusChange<TaskStatus>) -> ();
    fn replace_task(&self, replacement: &Task, cause: &str, at: DateTime<Utc>) -> ();
    fn insert_training(&self, training: &Training) -> ();
    fn update_training(&self, task: &TaskId, hotkey: &Hotkey, update: &TrainingUpdate) -> ();
    fn start_attempt(&self, attempt: &NewAttempt) -> u32;
    fn finish_attempt(&self, task: &TaskId, hotkey: &Hotkey, attempt: u32, end: &AttemptEnd) -> ();
    fn upsert_node(&self, node: &TrainerNode) -> ();
    fn set_node_fenced(&self, id: &str, fenced: bool, cause: &str, at: DateTime<Utc>) -> ();
    fn touch_node(&self, id: &str, at: DateTime<Utc>) -> ();
    fn set_gpu_holder(&self, node_id: &str, index: u32, holder: Option<&TrainingKey>) -> ();
    fn set_gpu_holders(&self, node_id: &str, indices: &[u32], holder: Option<&TrainingKey>, cause: &str, at: DateTime<Utc>) -> ();
    fn upsert_miner(&self, miner: &Miner) -> ();
    fn remove_miner(&self, hotkey: &Hotkey) -> bool;
    fn record_ledger_event(&self, event: &LedgerEvent) -> LedgerOutcome;
    fn set_meta(&self, key: &str, value: &str, at: DateTime<Utc>) -> ();
    fn instance_id(&self, at: DateTime<Utc>) -> String;
    fn log_event(&self, kind: EntityKind, entity_id: &str, status: &str, cause: &str, at: DateTime<Utc>) -> ();
    fn start_node_task(&self, task: &NodeTask) -> ();
    fn record_added_node(&self, trainer: &AddedNode) -> ();
    fn remove_added_node(&self, id: &str) -> bool;
    fn set_added_node_draining(&self, id: &str) -> bool;
    fn close_attempts_of_ended_tournaments(&self, at: DateTime<Utc>) -> usize;
    fn finish_node_task(&self, task: &TaskId, hotkey: &Hotkey, attempt: u32, end: &NodeTaskEnd) -> NodeTask;
}

delegate! { read:
    fn get_tournament(&self, id: &TournamentId) -> Tournament;
    fn tournament_status(&self, id: &TournamentId) -> TournamentStatus;
    fn list_tournaments(&self, track: Option<&str>) -> Vec<Tournament>;
    fn unfinished_tournaments(&self) -> Vec<Tournament>;
    fn unfinished_of_track(&self, track: &str) -> Option<Tournament>;
    fn count_tournaments_of_track(&self, track: &str) -> u64;
    fn latest_completed_tournament(&self, track: &str) -> Option<Tournament>;
    fn previous_completed_tournament(&self, id: &TournamentId) -> Option<Tournament>;
    fn get_participant(&self, tournament: &TournamentId, hotkey: &Hotkey) -> Participant;
    fn list_participants(&self, tournament: &TournamentId) -> Vec<Participant>;
    fn get_round(&self, id: &RoundId) -> RoundWithBracket;
    fn list_rounds(&self, tournament: &TournamentId) -> Vec<RoundWithBracket>;
    fn get_task(&self, id: &TaskId) -> Task;
    fn list_tasks(&self, round: &RoundId) -> Vec<Task>;
    fn get_training(&self, task: &TaskId, hotkey: &Hotkey) -> Training;
    fn trainings_for_task(&self, task: &TaskId) -> Vec<Training>;
    fn trainings_for_hotkey(&self, hotkey: &Hotkey) -> Vec<Training>;
    fn trainings_in(&self, status: TrainingStatus) -> Vec<Training>;
    fn attempts(&self, task: &TaskId, hotkey: &Hotkey) -> Vec<TrainingAttempt>;
    fn open_attempts(&self) -> Vec<TrainingAttempt>;
    fn get_node(&self, id: &str) -> TrainerNode;
    fn list_nodes(&self) -> Vec<TrainerNode>;
    fn get_miner(&self, hotkey: &Hotkey) -> Miner;
    fn list_miners(&self) -> Vec<Miner>;
    fn balance(&self, coldkey: &Coldkey) -> i64;
    fn ledger_events(&self, coldkey: &Coldkey) -> Vec<LedgerEntry>;
    fn find_ledger_event(&self, idempotency_key: &str) -> Option<LedgerEntry>;
    fn tournament_ledger_events(&self, tournament: &TournamentId) -> Vec<LedgerEntry>;
    fn transitions(&self, kind: EntityKind, entity_id: &str) -> Vec<Transition>;
    fn last_transition_at(&self) -> Option<DateTime<Utc>>;
    fn get_meta(&self, key: &str) -> Option<String>;
    fn get_node_task(&self, task: &TaskId, hotkey: &Hotkey) -> NodeTask;
    fn node_tasks_in(&self, status: NodeTaskStatus) -> Vec<NodeTask>;
    fn recent_node_tasks(&self, since: DateTime<Utc>) -> Vec<NodeTask>;
    fn training_counts(&self) -> Vec<TrainingCount>;
    fn tournament_counts(&self) -> Vec<TournamentCount>;
    fn added_nodes(&self) -> Vec<AddedNode>;
}

delegate! { read_consistent:
    fn tournament_snapshot(&self, id: &TournamentId) -> TournamentSnapshot;
    fn refresh_snapshot(&self, previous: &TournamentSnapshot) -> TournamentSnapshot;
    fn export_bundle(&self, house: &Hotkey, at: DateTime<Utc>) -> ResultsBundle;
}
