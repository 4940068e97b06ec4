//! `crucible trainer-node`: serves the trainer API on a GPU host (see `crate::node`) until SIGTERM or
//! Ctrl-C. Prints `trainer-node listening on ADDRESS` on stdout once it accepts connections.

use clap::Args;

use super::CliError;
use crate::config::{LogFormat, Settings};

#[derive(Debug, Args)]
pub struct TrainerNodeArgs {
    /// Log format: `text` (readable) or `json` (one object per line). Overrides log.format.
    #[arg(long, value_parser = ["text", "json"])]
    pub log_format: Option<String>,
}

pub fn run(args: TrainerNodeArgs, settings: &Settings) -> Result<(), CliError> {
    let format = match args.log_format.as_deref() {
        Some("json") => LogFormat::Json,
        Some(_) => LogFormat::Text,
        None => settings.log.format,
    };
    crate::telemetry::init(format, &settings.log.filter);
    crate::node::run(settings).map_err(CliError::Failure)
}
