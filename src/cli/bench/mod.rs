//! `crucible bench`: benchmarks of the validator itself.
//!
//! * `--packing`: drawn rounds placed on a fleet, against the lower bound and the reference's
//!   scheduler (`packing`).
//! * `--tournaments N --miners M`: N tournaments at once, one per track, through the real actors and
//!   store on the wall clock (`tournaments`).

mod packing;
mod tournaments;

use clap::Args;

use super::CliError;
use crate::config::Settings;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Place drawn rounds on a fleet; compare with the lower bound and the reference's scheduler.
    #[arg(long, conflicts_with = "tournaments", required_unless_present = "tournaments")]
    packing: bool,
    /// Run N tournaments at once (one per track) of --miners simulated miners each, through the real
    /// actors and store on the wall clock, with trainings that end at once.
    #[arg(long, value_name = "N")]
    tournaments: Option<usize>,
    /// The fleet, e.g. 4x8H100,2x4A100 (nodes of eight H100s and of four A100s) or 2x4H100+2A100.
    #[arg(long, value_name = "SPEC", default_value = "4x8H100,2x4A100")]
    nodes: String,
    /// Miners: with --packing the entrants of each round (default 14; up to the rules' knockout maximum
    /// they play pairs, more play groups); with --tournaments the miners of each tournament (default 32).
    #[arg(long, value_name = "M")]
    miners: Option<usize>,
    /// With --packing: rounds drawn, the n-th with seed S+n; the figures are their mean and worst.
    #[arg(long, value_name = "R", default_value_t = 20)]
    rounds: u64,
    #[arg(long, value_name = "S", default_value_t = 42)]
    seed: u64,
    /// With --tournaments: the database, a SQLite path or URL or a postgres:// URL of an empty
    /// database (default: a new SQLite file in a temporary directory, removed afterwards).
    #[arg(long, value_name = "URL", conflicts_with = "packing")]
    db: Option<String>,
    /// One JSON line instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: BenchArgs, settings: &Settings) -> Result<(), CliError> {
    match args.tournaments {
        Some(n) => tournaments::run(&args, n, settings),
        None => packing::run(&args, settings),
    }
}
