//! Recording a received transfer as a fee credit (tournament-rules.md §3): one ledger event per on-chain
//! reference, so recording the same transfer again moves nothing, and a reference already recorded for
//! another coldkey or amount is refused rather than silently kept. Used by `crucible ledger credit` and
//! the control API.

use chrono::{DateTime, Utc};

use crate::domain::{Coldkey, LedgerKind};
use crate::store::{LedgerEvent, LedgerOutcome, Store, StoreError};

/// What recording a credit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credited {
    /// False when this very transfer was recorded before.
    pub applied: bool,
    pub balance_rao: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum CreditError {
    #[error("{0}")]
    Invalid(String),
    #[error("transfer {reference} was already recorded as {recorded_rao} rao to {recorded_coldkey}")]
    Conflict { reference: String, recorded_coldkey: String, recorded_rao: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub fn record_credit(
    store: &Store,
    coldkey: &Coldkey,
    rao: u64,
    reference: &str,
    at: DateTime<Utc>,
) -> Result<Credited, CreditError> {
    let reference = reference.trim();
    if reference.is_empty() {
        return Err(CreditError::Invalid("reference: must name the transfer (its on-chain reference)".into()));
    }
    if rao == 0 {
        return Err(CreditError::Invalid("rao: must be positive".into()));
    }
    let amount = i64::try_from(rao).map_err(|_| CreditError::Invalid(format!("rao: {rao} is too large")))?;
    let key = format!("credit/{reference}");
    if let Some(recorded) = store.find_ledger_event(&key)?
        && (recorded.event.coldkey != *coldkey || recorded.event.amount_rao != amount)
    {
        return Err(CreditError::Conflict {
            reference: reference.to_owned(),
            recorded_coldkey: recorded.event.coldkey.to_string(),
            recorded_rao: recorded.event.amount_rao,
        });
    }
    let event = LedgerEvent {
        coldkey: coldkey.clone(),
        kind: LedgerKind::Credit,
        amount_rao: amount,
        tournament_id: None,
        hotkey: None,
        reference: Some(reference.to_owned()),
        idempotency_key: key,
        created_at: at,
    };
    let outcome = store.record_ledger_event(&event)?;
    Ok(Credited { applied: outcome == LedgerOutcome::Applied, balance_rao: store.balance(coldkey)? })
}
