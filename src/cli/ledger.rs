//! `crucible ledger ...`: an operator records a transfer received on chain as a credit of a coldkey's
//! fee balance, or reads a balance. Credits are idempotent by their on-chain reference: recording the
//! same transfer twice moves nothing.

use clap::Subcommand;

use super::CliError;
use crate::config::Settings;
use crate::domain::Coldkey;
use crate::miners::credits::{CreditError, Credited, record_credit};

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
    let store = settings.database.open().map_err(anyhow::Error::from)?;
    store.migrate().map_err(anyhow::Error::from)?;
    match command {
        LedgerCommand::Credit { coldkey, rao, reference } => {
            match record_credit(&store, &coldkey, rao, &reference, chrono::Utc::now()) {
                Ok(Credited { applied: true, balance_rao }) => {
                    println!("credited {rao} rao to {coldkey}; balance {balance_rao} rao")
                }
                Ok(Credited { applied: false, balance_rao }) => {
                    println!("transfer {} was already recorded; balance {balance_rao} rao", reference.trim())
                }
                Err(CreditError::Store(e)) => return Err(CliError::Failure(e.into())),
                Err(e) => return Err(CliError::Usage(e.to_string())),
            }
        }
        LedgerCommand::Balance { coldkey } => {
            println!("{}", store.balance(&coldkey).map_err(anyhow::Error::from)?);
        }
    }
    Ok(())
}
