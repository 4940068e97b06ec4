//! Recording a received transfer as a fee credit (tournament-rules.md §3): one ledger event per on-chain
//! reference, so recording the same transfer again moves nothing, and a reference already recorded for
//! another coldkey or amount is refused rather than silently kept. Used by `crucible ledger credit` and
//! the control API.

use chrono::{DateTime, Utc};

use crate::domain::{Coldkey, LedgerKind};
use crate::store::{LedgerEvent, LedgerOutcome, Store, StoreError};

/// The most a credit may be: the whole supply of TAO (21 million) in rao.
pub const MAX_CREDIT_RAO: u64 = 21_000_000 * 1_000_000_000;

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
    let reference = crate::domain::text::plain(reference);
    let reference = reference.as_str();
    if reference.is_empty() {
        return Err(CreditError::Invalid("reference: must name the transfer (its on-chain reference)".into()));
    }
    if rao == 0 {
        return Err(CreditError::Invalid("rao: must be positive".into()));
    }
    if rao > MAX_CREDIT_RAO {
        return Err(CreditError::Invalid(format!(
            "rao: {rao} is more than the whole supply of TAO ({MAX_CREDIT_RAO} rao)"
        )));
    }
    let amount = i64::try_from(rao).map_err(|_| CreditError::Invalid(format!("rao: {rao} is too large")))?;
    let key = format!("credit/{reference}");
    let event = LedgerEvent {
        coldkey: coldkey.clone(),
        kind: LedgerKind::Credit,
        amount_rao: amount,
        tournament_id: None,
        hotkey: None,
        reference: Some(reference.to_owned()),
        idempotency_key: key.clone(),
        created_at: at,
    };
    // One transaction: the key's event is read after the write, so a racing credit that took the
    // reference first with other content is a conflict, never a silent "already recorded".
    let (outcome, recorded, balance_rao) = store.transaction(|tx| {
        let outcome = tx.record_ledger_event(&event)?;
        Ok((outcome, tx.find_ledger_event(&key)?, tx.balance(coldkey)?))
    })?;
    match outcome {
        LedgerOutcome::Applied => Ok(Credited { applied: true, balance_rao }),
        LedgerOutcome::AlreadyRecorded => match recorded {
            Some(r) if r.event.coldkey == *coldkey && r.event.amount_rao == amount => {
                Ok(Credited { applied: false, balance_rao })
            }
            Some(r) => Err(CreditError::Conflict {
                reference: reference.to_owned(),
                recorded_coldkey: r.event.coldkey.to_string(),
                recorded_rao: r.event.amount_rao,
            }),
            None => Err(CreditError::Store(StoreError::Conflict(format!("transfer {reference} vanished")))),
        },
        LedgerOutcome::Refused { balance_rao } => Err(CreditError::Invalid(format!(
            "rao: crediting {rao} would overflow the balance of {coldkey} ({balance_rao} rao)"
        ))),
    }
}
