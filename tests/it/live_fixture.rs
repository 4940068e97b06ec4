//! A live picture written through the store for the analytics tests: an active tournament with tasks
//! still training, a pending one, a cancelled one with a fee to refund, and a GPU held by a running
//! training.

use chrono::{DateTime, Duration, DurationRound, Utc};
use crucible::domain::{
    AdmissionOutcome, Coldkey, GpuClass, Hotkey, LedgerKind, TaskId, TournamentId, TournamentStatus, TournamentType,
};
use crucible::store::{Gpu, LedgerEvent, NewAttempt, Participant, StatusChange, Store, Tournament, TrainerNode};

use super::store::history::played;

/// What [`live_fixture`] wrote.
pub(crate) struct Live {
    /// An active text tournament (the store suite's played tournament): two rounds, tasks C and A2 of
    /// round 1 still training, task B of round 2 ended.
    pub active: TournamentId,
    /// A pending image tournament.
    pub pending: TournamentId,
    /// A cancelled image tournament whose one fee is not refunded yet.
    pub cancelled: TournamentId,
    pub coldkey: Coldkey,
    /// When the held GPU's training started.
    pub held_since: DateTime<Utc>,
}

pub(crate) const HELD_NODE: &str = "held-node";

/// Writes a live picture into `store`: see [`Live`]; node `held-node` has GPU 0 held by the running
/// training of hotkey 2 on task A2 (2 hours to complete) since an hour ago, and GPU 1 free.
pub(crate) fn live_fixture(store: &Store) -> Live {
    let active = played(store, 7, TournamentStatus::Active);
    let now = Utc::now();
    let tournament = |n: u64, status| Tournament {
        id: TournamentId::new(0xfee0 + n, 2026, 11, 28),
        tournament_type: TournamentType::Image,
        status,
        base_winner_hotkey: None,
        winner_hotkey: None,
        winning_performance_difference: None,
        champion_wins: 0,
        created_at: now - Duration::hours(n as i64),
        started_at: None,
        completed_at: None,
        cancel_reason: None,
        track: "image".into(),
    };
    let pending = tournament(1, TournamentStatus::Pending);
    let cancelled = tournament(2, TournamentStatus::Pending);
    store.insert_tournament(&pending).unwrap();
    store.insert_tournament(&cancelled).unwrap();
    let (hotkey, coldkey) = (Hotkey::synthetic(4242), Coldkey::synthetic(4242));
    store
        .upsert_participant(&Participant {
            tournament_id: cancelled.id.clone(),
            hotkey: hotkey.clone(),
            coldkey: Some(coldkey.clone()),
            repo_url: "https://example.invalid/r".into(),
            commit_hash: "b".repeat(40),
            is_house: false,
            admission: AdmissionOutcome::Admitted,
            admission_reason: "paid".into(),
            eliminated_in_round: None,
            fee_rao: Some(300),
            created_at: now,
        })
        .unwrap();
    let paid = LedgerEvent {
        coldkey: coldkey.clone(),
        kind: LedgerKind::Credit,
        amount_rao: 300,
        tournament_id: None,
        hotkey: None,
        reference: Some("transfer 0x300".into()),
        idempotency_key: "credit/0x300".into(),
        created_at: now,
    };
    assert_eq!(store.record_ledger_event(&paid).unwrap(), crucible::store::LedgerOutcome::Applied);
    store
        .record_ledger_event(&LedgerEvent {
            coldkey: coldkey.clone(),
            kind: LedgerKind::ParticipationFee,
            amount_rao: -300,
            tournament_id: Some(cancelled.id.clone()),
            hotkey: Some(hotkey),
            reference: None,
            idempotency_key: LedgerEvent::fee_key(&cancelled.id, &Hotkey::synthetic(4242)),
            created_at: now,
        })
        .unwrap();
    let change = StatusChange::new(TournamentStatus::Pending, TournamentStatus::Cancelled, "test", now);
    store.set_tournament_status(&cancelled.id, &change).unwrap();

    let gpu = |index| Gpu { index, class: GpuClass::H100, model_name: "NVIDIA H100".into(), vram_gb: 80, holder: None };
    let node = TrainerNode {
        id: crate::node_id(HELD_NODE),
        address: "http://10.9.9.9:8001".into(),
        fenced: false,
        last_seen: Some(now),
        created_at: now,
        gpus: vec![gpu(0), gpu(1)],
    };
    store.upsert_node(&node).unwrap();
    let task = TaskId::derived(&format!("{}-A2", active.tournament.id));
    let held_since = (now - Duration::hours(1)).duration_trunc(Duration::seconds(1)).unwrap();
    let attempt = NewAttempt {
        task_id: task.clone(),
        hotkey: Hotkey::synthetic(2),
        node_id: Some(crate::node_id(HELD_NODE)),
        gpu_ids: vec![0],
        started_at: held_since,
    };
    store.start_attempt(&attempt).unwrap();
    let holder = crucible::domain::TrainingKey::new(task.clone(), Hotkey::synthetic(2));
    store.set_gpu_holders(HELD_NODE, &[0], Some(&holder), "attempt started", held_since).unwrap();
    Live { active: active.tournament.id, pending: pending.id, cancelled: cancelled.id, coldkey, held_since }
}
