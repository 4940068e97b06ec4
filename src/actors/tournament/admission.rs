//! Admission (tournament-rules.md §3) applied to what the registration source reported, inside one
//! store transaction: already-admitted miners are kept and never charged again, one entry per coldkey
//! when configured (highest stake first), and the fee debited through the idempotent ledger. Every
//! miner's outcome is stored with its reason. Cancellation refunds every fee, idempotently.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::domain::rules::Rules;
use crate::domain::{AdmissionOutcome, LedgerKind, TournamentStatus};
use crate::miners::Candidate;
use crate::store::{LedgerEvent, LedgerOutcome, Participant, StatusChange, StoreError, Tournament, Tx};

/// What one registration attempt did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdmissionSummary {
    /// Real miners admitted so far, this attempt included.
    pub admitted: usize,
    pub rejected: usize,
}

pub fn admit(
    tx: &mut Tx<'_>,
    tournament: &Tournament,
    candidates: &[Candidate],
    rules: &Rules,
    at: DateTime<Utc>,
) -> Result<AdmissionSummary, StoreError> {
    let existing = tx.list_participants(&tournament.id)?;
    let admitted = |p: &&Participant| p.admission == AdmissionOutcome::Admitted;
    let kept: HashSet<_> = existing.iter().filter(admitted).map(|p| p.hotkey.clone()).collect();
    let mut coldkeys: HashSet<_> = existing.iter().filter(admitted).filter_map(|p| p.coldkey.clone()).collect();
    let mut order: Vec<&Candidate> = candidates.iter().collect();
    order.sort_by(|a, b| b.stake.total_cmp(&a.stake).then_with(|| a.hotkey.cmp(&b.hotkey)));
    let fee = rules.fee_rao(&tournament.track, tournament.tournament_type);
    let mut rejected = 0;
    for c in order {
        if kept.contains(&c.hotkey) || c.hotkey == rules.house_hotkey {
            continue;
        }
        let (outcome, reason, submission) = match &c.answer {
            Err((outcome, reason)) => (*outcome, reason.clone(), None),
            Ok(_) if rules.registration.one_entry_per_coldkey && coldkeys.contains(&c.coldkey) => (
                AdmissionOutcome::DuplicateColdkey,
                format!("coldkey {} already has a hotkey in this tournament", c.coldkey),
                None,
            ),
            Ok(sub) => match charge(tx, tournament, c, fee, at)? {
                Ok(()) => (AdmissionOutcome::Admitted, format!("fee of {fee} rao paid"), Some(sub)),
                Err(reason) => (AdmissionOutcome::BalanceTooLow, reason, Some(sub)),
            },
        };
        if outcome == AdmissionOutcome::Admitted {
            coldkeys.insert(c.coldkey.clone());
        } else {
            rejected += 1;
        }
        tx.upsert_participant(&Participant {
            tournament_id: tournament.id.clone(),
            hotkey: c.hotkey.clone(),
            coldkey: Some(c.coldkey.clone()),
            repo_url: submission.map(|s| s.repo_url.clone()).unwrap_or_default(),
            commit_hash: submission.map(|s| s.commit_hash.clone()).unwrap_or_default(),
            is_house: false,
            admission: outcome,
            admission_reason: reason,
            eliminated_in_round: None,
            fee_rao: (outcome == AdmissionOutcome::Admitted).then_some(fee),
            created_at: at,
        })?;
    }
    let admitted = tx
        .list_participants(&tournament.id)?
        .iter()
        .filter(|p| !p.is_house && p.admission == AdmissionOutcome::Admitted)
        .count();
    Ok(AdmissionSummary { admitted, rejected })
}

/// Debits the fee once per (tournament, hotkey); `Err(reason)` when the balance cannot pay it.
fn charge(
    tx: &mut Tx<'_>,
    t: &Tournament,
    c: &Candidate,
    fee: u64,
    at: DateTime<Utc>,
) -> Result<Result<(), String>, StoreError> {
    // The ledger decides both: a fee charged before is already recorded, and a balance that cannot
    // cover it (however many tournaments charge the coldkey at once) refuses the debit.
    let key = LedgerEvent::fee_key(&t.id, &c.hotkey);
    let amount = i64::try_from(fee).map_err(|_| StoreError::Conflict(format!("fee {fee} rao is out of range")))?;
    let outcome = tx.record_ledger_event(&LedgerEvent {
        coldkey: c.coldkey.clone(),
        kind: LedgerKind::ParticipationFee,
        amount_rao: -amount,
        tournament_id: Some(t.id.clone()),
        hotkey: Some(c.hotkey.clone()),
        reference: None,
        idempotency_key: key,
        created_at: at,
    })?;
    match outcome {
        LedgerOutcome::Applied | LedgerOutcome::AlreadyRecorded => Ok(Ok(())),
        LedgerOutcome::Refused { balance_rao } => {
            Ok(Err(format!("balance of coldkey {} is {balance_rao} rao, the fee is {fee} rao", c.coldkey)))
        }
    }
}

/// Cancels the tournament and refunds every fee it took; refunding twice moves nothing.
pub fn cancel(tx: &mut Tx<'_>, tournament: &Tournament, reason: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
    tx.set_tournament_status(
        &tournament.id,
        &StatusChange::new(tournament.status, TournamentStatus::Cancelled, reason, at),
    )?;
    refund_all(tx, tournament, at).map(|_| ())
}

/// Refunds every fee the tournament took, once each: returns how many refunds moved money now and how
/// many had been made before.
pub fn refund_all(tx: &mut Tx<'_>, tournament: &Tournament, at: DateTime<Utc>) -> Result<(usize, usize), StoreError> {
    let (mut applied, mut before) = (0, 0);
    for p in tx.list_participants(&tournament.id)? {
        let (Some(fee), Some(coldkey)) = (p.fee_rao, p.coldkey.clone()) else { continue };
        let amount = i64::try_from(fee).map_err(|_| StoreError::Conflict(format!("fee {fee} rao is out of range")))?;
        let outcome = tx.record_ledger_event(&LedgerEvent {
            coldkey,
            kind: LedgerKind::Refund,
            amount_rao: amount,
            tournament_id: Some(tournament.id.clone()),
            hotkey: Some(p.hotkey.clone()),
            reference: Some("tournament cancelled".into()),
            idempotency_key: LedgerEvent::refund_key(&tournament.id, &p.hotkey),
            created_at: at,
        })?;
        match outcome {
            LedgerOutcome::Applied => applied += 1,
            LedgerOutcome::AlreadyRecorded => before += 1,
            LedgerOutcome::Refused { balance_rao } => {
                return Err(StoreError::Conflict(format!(
                    "refunding {fee} rao to {} would overflow its balance of {balance_rao} rao",
                    p.hotkey
                )));
            }
        }
    }
    Ok((applied, before))
}
