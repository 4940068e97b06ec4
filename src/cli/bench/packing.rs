//! `crucible bench --packing [--nodes SPEC] [--miners M] [--rounds R] [--seed S] [--json]`: how well
//! crucible packs a round's trainings on a fleet. Each sample is one round of a text and one of an
//! image tournament of M entrants at once, as the rules draw them (bracket, task types, model sizes,
//! hours; models and datasets from the simulator's catalog); every training waits from the start.
//! Crucible's placement is played to the last end and compared with the lower bound (the longest
//! training, or a class's GPU-hours over its GPUs) and with the reference's scheduler, with and without
//! its pauses (`domain::packing`).

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use serde_json::json;

use super::BenchArgs;
use crate::cli::CliError;
use crate::config::Settings;
use crate::domain::bracket::{Bracket, organise};
use crate::domain::gpu::requirement;
use crate::domain::node_spec::NodeSpec;
use crate::domain::packing::{PackJob, Policy, lower_bound, pack};
use crate::domain::rules::Rules;
use crate::domain::tasks::{Slot, plan_round};
use crate::domain::{Hotkey, TournamentType};

/// One drawn round, placed three ways.
struct Sample {
    seed: u64,
    trainings: usize,
    gpu_hours: f64,
    lower_bound: f64,
    crucible: f64,
    reference_rule: f64,
    reference: f64,
}

pub fn run(args: &BenchArgs, settings: &Settings) -> Result<(), CliError> {
    let miners = args.miners.unwrap_or(14);
    let spec = NodeSpec::parse(&args.nodes).map_err(|e| CliError::Usage(format!("--nodes: {e}")))?;
    if !(2..=100_000).contains(&miners) {
        return Err(CliError::Usage(format!("--miners {}: between 2 and 100000 entrants", miners)));
    }
    if !(1..=10_000).contains(&args.rounds) {
        return Err(CliError::Usage(format!("--rounds {}: between 1 and 10000", args.rounds)));
    }
    let nodes = spec.views();
    let mut samples = Vec::new();
    for n in 0..args.rounds {
        let seed = args.seed.wrapping_add(n);
        let jobs = drawn_round(miners, seed, &settings.rules).map_err(CliError::Usage)?;
        let place =
            |policy| pack(&jobs, &nodes, policy).map_err(|e| CliError::Usage(format!("--nodes {}: {e}", args.nodes)));
        samples.push(Sample {
            seed,
            trainings: jobs.len(),
            gpu_hours: jobs.iter().map(|j| f64::from(j.requirement.count) * j.hours).sum(),
            lower_bound: lower_bound(&jobs, &nodes),
            crucible: place(Policy::Crucible)?.makespan_hours,
            reference_rule: place(Policy::Reference { start_secs: 0.0, skip_secs: 0.0 })?.makespan_hours,
            reference: place(Policy::REFERENCE)?.makespan_hours,
        });
    }
    let mean = |f: &dyn Fn(&Sample) -> f64| samples.iter().map(f).sum::<f64>() / samples.len() as f64;
    let worst = |f: &dyn Fn(&Sample) -> f64| samples.iter().map(f).fold(f64::MIN, f64::max);
    let vs_bound = |s: &Sample| s.crucible / s.lower_bound;
    let summary = json!({
        "nodes": args.nodes,
        "gpus": nodes.iter().map(|n| n.gpus.len()).sum::<usize>(),
        "miners": miners,
        "rounds": args.rounds,
        "seed": args.seed,
        "trainings_mean": mean(&|s| s.trainings as f64),
        "gpu_hours_mean": mean(&|s| s.gpu_hours),
        "lower_bound_hours_mean": mean(&|s| s.lower_bound),
        "crucible_makespan_hours_mean": mean(&|s| s.crucible),
        "reference_rule_makespan_hours_mean": mean(&|s| s.reference_rule),
        "reference_makespan_hours_mean": mean(&|s| s.reference),
        "crucible_vs_lower_bound_mean": mean(&vs_bound),
        "crucible_vs_lower_bound_worst": worst(&vs_bound),
        "crucible_vs_reference_rule_mean": mean(&|s| s.crucible / s.reference_rule),
        "crucible_vs_reference_mean": mean(&|s| s.crucible / s.reference),
    });
    if args.json {
        println!("{summary}");
        return Ok(());
    }
    println!(
        "packing on {} ({} GPUs): a text and an image round of {} entrants each, {} draws from seed {}",
        args.nodes, summary["gpus"], miners, args.rounds, args.seed
    );
    println!(
        "{:>6} {:>9} {:>9} {:>12} {:>10} {:>15} {:>11} {:>10}",
        "seed", "trainings", "GPU-hours", "lower bound", "crucible", "reference rule", "reference", "vs bound"
    );
    for s in &samples {
        println!(
            "{:>6} {:>9} {:>9.1} {:>12.2} {:>10.2} {:>15.2} {:>11.2} {:>10.3}",
            s.seed,
            s.trainings,
            s.gpu_hours,
            s.lower_bound,
            s.crucible,
            s.reference_rule,
            s.reference,
            vs_bound(s)
        );
    }
    println!(
        "crucible's makespan is {:.1} % above the lower bound on average ({:.1} % at worst), \
         {:.3}× the reference's rule and {:.3}× the reference with its pauses (hours; lower is better)",
        (summary["crucible_vs_lower_bound_mean"].as_f64().unwrap_or(0.0) - 1.0) * 100.0,
        (summary["crucible_vs_lower_bound_worst"].as_f64().unwrap_or(0.0) - 1.0) * 100.0,
        summary["crucible_vs_reference_rule_mean"].as_f64().unwrap_or(0.0),
        summary["crucible_vs_reference_mean"].as_f64().unwrap_or(0.0),
    );
    Ok(())
}

/// The trainings of one round of a text and of an image tournament of `miners` entrants, drawn with
/// `seed` as the validator draws them, text first; each waits from the start for its task's hours.
fn drawn_round(miners: usize, seed: u64, rules: &Rules) -> Result<Vec<PackJob>, String> {
    let catalog = crate::sim::catalog();
    let entrants: Vec<Hotkey> = (1..=miners as u64).map(Hotkey::synthetic).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut jobs = Vec::new();
    for kind in [TournamentType::Text, TournamentType::Image] {
        let bracket = organise(&entrants, &rules.house_hotkey, &rules.bracket, &mut rng);
        for spec in plan_round(kind, &bracket, &rules.tasks, &mut rng) {
            let draft = catalog.draft_same_type(&spec, &rules.tasks, &mut rng).map_err(|e| e.to_string())?;
            let trainees = match (&bracket, spec.slot) {
                (Bracket::Groups { groups }, Slot::Group(i)) => groups[i].len(),
                _ => 2,
            };
            let job = PackJob {
                requirement: requirement(draft.task_type, draft.model_params, &rules.gpu),
                hours: f64::from(draft.hours_to_complete),
            };
            jobs.extend(std::iter::repeat_n(job, trainees));
        }
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drawn_knockout_round_mixes_task_types_sizes_and_hours() {
        let rules = Rules::default();
        let jobs = drawn_round(14, 7, &rules).unwrap();
        // Seven text pairs and seven image pairs.
        assert_eq!(jobs.len(), 28);
        let image = jobs.iter().filter(|j| j.requirement.class == crate::domain::GpuClass::A100).count();
        assert_eq!(image, 14);
        let sizes: std::collections::BTreeSet<u32> = jobs.iter().map(|j| j.requirement.count).collect();
        let hours: std::collections::BTreeSet<u64> = jobs.iter().map(|j| j.hours as u64).collect();
        assert!(sizes.len() > 1 && hours.len() > 1, "{sizes:?} {hours:?}");
        assert_eq!(drawn_round(14, 7, &rules).unwrap(), jobs, "a seed draws one round");
        // Groups: every entrant trains the group's one task.
        assert_eq!(drawn_round(40, 7, &rules).unwrap().len(), 80);
    }
}
