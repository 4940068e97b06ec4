//! `crucible simulate --real`: a text tournament whose miners submit variants of the example trainer
//! (`crate::sim::real`), really trained on this host's Docker engine on its CPUs, prepared from task
//! content by the download step and scored by the shipped evaluator, on the wall clock.

use std::collections::HashMap;
use std::time::Duration;

use super::SimulateArgs;
use crate::cli::CliError;
use crate::config::Settings;
use crate::domain::rules::Rules;
use crate::domain::{Hotkey, TournamentType};
use crate::exec::local::GpuAccess;
use crate::report::Report;
use crate::sim::real::{self, BASE, MINERS};
use crate::sim::run::{Execution, SimRun};
use crate::sim::{NodeSpec, Shares, SimSettings, SimWorld};

/// The run's options; `rules` gets the house's repository (the example as shipped) and a minimum of
/// participants the variants can meet.
pub fn options(
    args: &SimulateArgs,
    settings: &Settings,
    rules: &mut Rules,
    miners: usize,
    nodes: NodeSpec,
    nodes_spec: String,
) -> Result<SimRun, CliError> {
    let content = args.content.clone().or_else(|| {
        let dir = settings.content.dir.trim();
        (!dir.is_empty()).then(|| dir.into())
    });
    let Some(content) = content else {
        return Err(CliError::Usage(
            "--real needs task content: --content DIR (`crucible tasks tiny --out DIR` writes one)".into(),
        ));
    };
    let loaded = crate::content::Content::load(&content)
        .map_err(|problems| CliError::Usage(format!("--content {}: {}", content.display(), problems.join("; "))))?;
    let gaps = loaded.catalog.gaps(&rules.tasks);
    let text_gaps: Vec<&String> = gaps.iter().filter(|g| !g.contains("ImageTask")).collect();
    if !text_gaps.is_empty() {
        let listed: Vec<&str> = text_gaps.iter().map(|g| g.as_str()).collect();
        return Err(CliError::Usage(format!(
            "the content of {} cannot serve the text rules: {}. The tiny world's models are far smaller than \
             the rules' size ranges: run with --config config/tiny-world.toml",
            content.display(),
            listed.join("; ")
        )));
    }
    let work = std::path::PathBuf::from(&settings.local_executor.work_dir);
    let repository = real::prepare(&args.example, &work.join("simulate-real-miners"))
        .map_err(|e| CliError::Usage(format!("--example {}: {e}", args.example.display())))?;
    rules.schedule.default_base_repo = repository.base.repo_url.clone();
    rules.schedule.default_base_commit = repository.base.commit_hash.clone();
    rules.registration.min_participants = rules.registration.min_participants.min(miners);

    let mut local = settings.local_executor.clone();
    local.gpus = GpuAccess::None;
    local.cpus_per_gpu = 1.0;
    local.memory_mib_per_gpu = local.memory_mib_per_gpu.min(6 * 1024);
    local.shm_mib = local.shm_mib.min(1024);
    local.shm_mib_many_gpus = local.shm_mib_many_gpus.min(1024);
    let none = Shares::none();
    println!("a real text tournament on {}: every training runs on this host's Docker engine", content.display());
    println!("  house     {} at {}: {}", BASE.name, short_sha(&repository.base.commit_hash), BASE.about);
    let world = SimWorld::new(SimSettings { miners, seed: args.seed, shares: none.clone() });
    for (i, m) in world.miners.iter().enumerate() {
        let (variant, submission) = &repository.miners[i % repository.miners.len()];
        let sha = short_sha(&submission.commit_hash);
        println!("  {}  {:<10} at {sha}: {}", m.hotkey, variant.name, variant.about);
    }
    Ok(SimRun {
        miners,
        seed: args.seed,
        db: args.db.clone(),
        nodes,
        nodes_spec,
        shares: none,
        execution: Execution::Local {
            settings: Box::new(local),
            // The miners' repository is a local one this command makes.
            gates: crate::repo::GateRules { allow_local: true, ..settings.gates.clone() },
            repositories: repository.miners.into_iter().map(|(_, s)| s).collect(),
        },
        types: vec![TournamentType::Text],
        content: Some(content),
    })
}

fn short_sha(sha: &str) -> &str {
    &sha[..sha.len().min(10)]
}

/// Every task with each variant's value and task score, then who won and how long it took.
pub fn print_outcome(report: &Report, opts: &SimRun, rules: &Rules, took: Duration) {
    let world = SimWorld::new(SimSettings { miners: opts.miners, seed: opts.seed, shares: opts.shares.clone() });
    let mut names: HashMap<Hotkey, String> = world
        .miners
        .iter()
        .enumerate()
        .map(|(i, m)| (m.hotkey.clone(), MINERS[i % MINERS.len()].name.to_owned()))
        .collect();
    names.insert(rules.house_hotkey.clone(), format!("house ({})", BASE.name));
    let name = |h: &Hotkey| names.get(h).cloned().unwrap_or_else(|| h.to_string());
    println!("\nthe real tournament, task by task:");
    for t in &report.tournaments {
        for r in &t.rounds {
            for task in r.tasks.iter().filter(|t| !t.replaced) {
                println!("  round {} {} on {}:", r.number, task.task_type, task.model);
                for tr in &task.trainings {
                    let value = tr.test_loss.map_or_else(|| "–".to_owned(), |v| format!("{v:.4}"));
                    let score = tr.task_score.map_or_else(String::new, |s| format!("task score {s:>2}"));
                    let why = tr.failure_reason.as_deref().or(tr.score_reason.as_deref()).unwrap_or("");
                    println!("    {:<18} {:>9}  {score}  {why}", name(&tr.hotkey), value);
                }
            }
        }
        match &t.winner {
            Some(w) => println!("  {} tournament won by {}", t.tournament_type, name(w)),
            None => println!("  {} tournament: no winner", t.tournament_type),
        }
    }
    println!("took {:.1} minutes on the wall clock", took.as_secs_f64() / 60.0);
}
