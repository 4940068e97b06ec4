//! `crucible rules ...`: what the rules decide for given inputs, printed so that anyone can check a
//! validator's decisions. Reads only its arguments and input files; writes only to stdout.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use serde::Deserialize;
use serde_json::json;

use super::CliError;
use crate::config::Settings;
use crate::domain::bracket::{Bracket, organise};
use crate::domain::bundle::ResultsBundle;
use crate::domain::gpu::requirement;
use crate::domain::ids::Hotkey;
use crate::domain::kinds::TaskType;
use crate::domain::scoring::{BossTask, Side, boss_threshold, decide_boss};
use crate::domain::weights::{TrackShare, compute_tracks};

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// The GPUs a task needs: 1xH100, 2xH100, 4xH100, 8xH100 or A100.
    Gpu {
        /// InstructTextTask, DpoTask, GrpoTask, ChatTask or ImageTask.
        #[arg(long, value_parser = parse_task_type)]
        task_type: TaskType,
        /// The model's parameter count (unknown: 1xH100 for text tasks).
        #[arg(long, value_name = "N")]
        params: Option<u64>,
    },
    /// The first round for N entrants: group or knockout, the sizes, and whether the house plays.
    Plan {
        #[arg(long, value_name = "N")]
        entrants: usize,
        /// The house is one of the N entrants.
        #[arg(long)]
        with_house: bool,
        /// Seed of the bracket generator.
        #[arg(long, value_name = "S", default_value_t = 0)]
        seed: u64,
    },
    /// The boss-round threshold for a champion with K consecutive wins.
    Threshold {
        #[arg(long, value_name = "K")]
        wins: u32,
    },
    /// Decide a boss round from a JSON file (`-` reads standard input).
    Boss {
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
    },
    /// Compute the weight vector from an exported results bundle (docs/results-bundle.md).
    Weights {
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
    },
}

fn parse_task_type(value: &str) -> Result<TaskType, String> {
    value.parse::<TaskType>().map_err(|e| e.to_string())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BossInput {
    champion_wins: u32,
    tasks: Vec<BossTask>,
}

pub fn run(command: RulesCommand, settings: &Settings) -> Result<(), CliError> {
    let rules = &settings.rules;
    let output = match command {
        RulesCommand::Gpu { task_type, params } => requirement(task_type, params, &rules.gpu).to_string(),
        RulesCommand::Plan { entrants, with_house, seed } => {
            let house = &rules.house_hotkey;
            let real = if with_house {
                entrants
                    .checked_sub(1)
                    .ok_or_else(|| CliError::Usage("--entrants must be at least 1 with --with-house".into()))?
            } else {
                entrants
            };
            let mut field: Vec<Hotkey> = (1..=real as u64).map(Hotkey::synthetic).collect();
            if with_house {
                field.push(house.clone());
            }
            let bracket = organise(&field, house, &rules.bracket, &mut ChaCha8Rng::seed_from_u64(seed));
            let kind = match bracket {
                Bracket::Groups { .. } => "group",
                Bracket::Knockout { .. } => "knockout",
            };
            json!({ "kind": kind, "sizes": bracket.sizes(), "house": bracket.contains(house) }).to_string()
        }
        RulesCommand::Threshold { wins } => decimal(boss_threshold(wins, &rules.scoring)),
        RulesCommand::Boss { input } => {
            let input: BossInput = read_json(&input)?;
            let d = decide_boss(input.champion_wins, &input.tasks, &rules.scoring);
            let winner = match d.winner {
                Side::House => "house",
                Side::Challenger => "challenger",
            };
            json!({
                "winner": winner,
                "challenger_wins": d.challenger_wins,
                "decided": d.decided,
                "threshold": d.threshold,
                "performance_difference": d.performance_difference,
            })
            .to_string()
        }
        RulesCommand::Weights { input } => {
            let bundle: ResultsBundle = read_json(&input)?;
            bundle.validate().map_err(|e| CliError::Usage(format!("{}: {e}", input.display())))?;
            let tracks: Vec<TrackShare> = rules.tracks().iter().map(TrackShare::from).collect();
            let report = compute_tracks(&bundle, &rules.weights, &tracks);
            serde_json::to_string_pretty(&report).map_err(anyhow::Error::from)?
        }
    };
    println!("{output}");
    Ok(())
}

/// A decimal without float noise: `0.1 × 0.8` prints as `0.08`.
fn decimal(x: f64) -> String {
    let text = format!("{x:.12}");
    let text = text.trim_end_matches('0');
    text.strip_suffix('.').unwrap_or(text).to_owned()
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, CliError> {
    let mut text = String::new();
    let read = if path == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|t| text = t)
    };
    let name = if path == Path::new("-") { "standard input".into() } else { path.display().to_string() };
    read.map_err(|e| CliError::Usage(format!("cannot read {name}: {e}")))?;
    serde_json::from_str(&text).map_err(|e| CliError::Usage(format!("{name}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_drop_float_noise() {
        assert_eq!(decimal(0.1 * 0.8), "0.08");
        assert_eq!(decimal(0.1), "0.1");
        assert_eq!(decimal(0.03), "0.03");
        assert_eq!(decimal(0.1 * 0.8 * 0.8), "0.064");
    }
}
