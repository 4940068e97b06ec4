//! `crucible ledger ...`: an operator records a transfer received on chain as a credit of a coldkey's
//! fee balance, or reads a balance. Credits are idempotent by their on-chain reference: recording the
//! same transfer twice moves nothing.

use clap::Subcommand;

use super::CliError;
use crate::config::Settings;
use crate::domain::{Coldkey, LedgerKind};
use crate::store::{LedgerEvent, LedgerOutcome, Store};

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Credit a coldkey with a received transfer.
    Credit {
        #[arg(long, value_parser = parse_coldkey)]
        coldkey: Coldkey,
        /// Amount in rao (1 TAO = 1e9 rao).
        #[arg(long)]
        rao: u64,
        /// The transfer's on-chain reference (block and extrinsic); one credit per reference.
        #[arg(long)]
        reference: String,
    },
    /// Print a coldkey's balance in rao.
    Balance {
        #[arg(long, value_parser = parse_coldkey)]
        coldkey: Coldkey,
    },
}

fn parse_coldkey(value: &str) -> Result<Coldkey, String> {
    Coldkey::parse(value).map_err(|e| e.to_string())
}

pub fn run(command: LedgerCommand, settings: &Settings) -> Result<(), CliError> {
    let store = Store::open(&settings.database.url).map_err(anyhow::Error::from)?;
    store.migrate().map_err(anyhow::Error::from)?;
    match command {
        LedgerCommand::Credit { coldkey, rao, reference } => {
            if reference.trim().is_empty() {
                return Err(CliError::Usage("--reference must name the transfer".into()));
            }
            let amount = i64::try_from(rao).map_err(|_| CliError::Usage(format!("--rao {rao} is too large")))?;
            let event = LedgerEvent {
                coldkey: coldkey.clone(),
                kind: LedgerKind::Credit,
                amount_rao: amount,
                tournament_id: None,
                hotkey: None,
                reference: Some(reference.clone()),
                idempotency_key: format!("credit/{reference}"),
                created_at: chrono::Utc::now(),
            };
            let outcome = store.record_ledger_event(&event).map_err(anyhow::Error::from)?;
            let balance = store.balance(&coldkey).map_err(anyhow::Error::from)?;
            match outcome {
                LedgerOutcome::Applied => println!("credited {rao} rao to {coldkey}; balance {balance} rao"),
                LedgerOutcome::AlreadyRecorded => {
                    println!("transfer {reference} was already recorded; balance {balance} rao")
                }
            }
        }
        LedgerCommand::Balance { coldkey } => {
            println!("{}", store.balance(&coldkey).map_err(anyhow::Error::from)?);
        }
    }
    Ok(())
}
