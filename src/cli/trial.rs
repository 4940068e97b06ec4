//! `crucible trial <repo> --task-type T`: a miner's pre-flight check. Runs one repository through the
//! real local pipeline (fetch, gates, download, build, train with the standard arguments under a
//! test-sized time limit, collect, evaluate, clean) on this host's Docker engine, prints each step as it
//! happens, and ends with whether the run would have counted in a tournament, and why not.

use std::rc::Rc;
use std::time::Duration;

use chrono::{Datelike, Utc};
use clap::Args;

use super::CliError;
use crate::config::Settings;
use crate::docker::Engine;
use crate::domain::gpu::Placement;
use crate::domain::ids::expected_repo_name;
use crate::domain::{Hotkey, TaskId, TaskType, TournamentId};
use crate::exec::local::{GpuAccess, LocalExecutor, Step, StepStatus};
use crate::exec::{Executor, RunOutcome, TrainingJob};

#[derive(Debug, Args)]
pub struct TrialArgs {
    /// The repository: a git URL or a local path to a git repository.
    pub repo: String,
    /// The commit SHA or branch to check out (default: the repository's HEAD).
    #[arg(long, default_value = "HEAD")]
    pub commit: String,
    /// InstructTextTask, DpoTask, GrpoTask, ChatTask or ImageTask.
    #[arg(long, value_name = "T")]
    pub task_type: String,
    /// GPU ids to give the training (`0,1`), or `none` for no GPU device.
    #[arg(long, default_value = "none")]
    pub gpus: String,
    /// The real time limit of the training step, in seconds (the image still gets `--hours-to-complete`).
    #[arg(long, default_value_t = 600)]
    pub time_limit: u64,
    /// `--hours-to-complete` as the image sees it.
    #[arg(long, default_value_t = 1)]
    pub hours: u32,
    /// Overrides local_executor.evaluator_image.
    #[arg(long, value_name = "IMAGE")]
    pub evaluator_image: Option<String>,
    /// Overrides local_executor.download_image.
    #[arg(long, value_name = "IMAGE")]
    pub download_image: Option<String>,
    /// Overrides local_executor.cache_dir (a pre-filled cache).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<String>,
    /// Overrides local_executor.memory_mib_per_gpu.
    #[arg(long, value_name = "MIB")]
    pub memory_mib: Option<u64>,
    /// The model the image is told to train (default: the smallest model of the type in the content).
    #[arg(long)]
    pub model: Option<String>,
    /// A content directory (`crucible tasks tiny --out DIR` writes one): the task's model and dataset
    /// are drawn from it, the download step prepares them with the reference's split, and the shipped
    /// evaluator scores on the held-out rows. Without it, /cache (`--cache`) is used as it is.
    #[arg(long, value_name = "DIR")]
    pub content: Option<std::path::PathBuf>,
    /// The seed of the task's random choices (GRPO reward functions and their weights).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(args: TrialArgs, settings: &Settings) -> Result<(), CliError> {
    let task_type: TaskType = args.task_type.parse().map_err(|e| CliError::Usage(format!("--task-type: {e}")))?;
    let mut local = settings.local_executor.clone();
    let gpu_ids = parse_gpus(&args.gpus)?;
    local.gpus = if gpu_ids.is_empty() { GpuAccess::None } else { GpuAccess::Nvidia };
    // A miner's own machine, not root and without a prepared parent: its build runs without a cgroup
    // of its own, under the other limits.
    if !local.build_cgroup_parent.is_empty() && !crate::docker::cgroup::usable(&local.build_cgroup_parent) {
        println!("not root: the build runs without a process limit (local_executor.build_cgroup_parent)");
        local.build_cgroup_parent.clear();
    }
    if let Some(image) = args.evaluator_image.clone() {
        local.evaluator_image = image;
    }
    if let Some(image) = args.download_image.clone() {
        local.download_image = image;
    }
    if let Some(dir) = args.cache.clone() {
        local.cache_dir = dir;
    }
    if let Some(mib) = args.memory_mib {
        local.memory_mib_per_gpu = mib;
    }
    let problems = local.validate();
    if !problems.is_empty() {
        return Err(CliError::Usage(problems.join("; ")));
    }
    if args.time_limit == 0 {
        return Err(CliError::Usage("--time-limit: must be positive".into()));
    }
    let content = match &args.content {
        Some(dir) => Some(
            crate::content::Content::load(dir)
                .map_err(|problems| CliError::Usage(format!("--content {}: {}", dir.display(), problems.join("; "))))?,
        ),
        None => None,
    };
    let catalog = content.as_ref().map_or_else(crate::sim::catalog, |c| c.catalog.clone());
    // A folder that is not itself a repository (a miner's working copy inside another repository, or no
    // repository yet) is tried as a snapshot of its files.
    let snapshot = match snapshot_if_plain(&args.repo).map_err(CliError::Failure)? {
        Some(snapshot) => {
            println!("{} is not the root of a git repository: trying a snapshot of its files", args.repo);
            Some(snapshot)
        }
        None => None,
    };
    let mut job = trial_job(&args, &catalog, task_type, gpu_ids)?;
    if let Some(snapshot) = &snapshot {
        job.repo_url = snapshot.path().display().to_string();
    }
    println!(
        "trial of {} at {} as {} (time limit {} s, GPUs: {})",
        job.repo_url,
        job.commit_hash,
        task_type,
        args.time_limit,
        if local.gpus == GpuAccess::None { "none".to_owned() } else { args.gpus.clone() }
    );

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(anyhow::Error::from)?;
    let outcome = runtime.block_on(async {
        let engine = Engine::connect().await.map_err(anyhow::Error::from)?;
        let mut local = local;
        // Under the systemd cgroup driver a parent must be a slice the operator made: a miner's machine
        // builds without one rather than not at all.
        if engine.cgroup_driver() == "systemd" && !local.build_cgroup_parent.ends_with(".slice") {
            println!("the engine's systemd cgroup driver: the build runs without a process limit");
            local.build_cgroup_parent.clear();
        }
        let observer = Rc::new(|step: Step, status: &StepStatus| print_step(step, status));
        // A trial is the miner's own run: its repository may be a local path.
        let gates = crate::repo::GateRules { allow_local: true, ..settings.gates.clone() };
        let mut executor = LocalExecutor::new(engine, local, gates)
            .with_observer(observer)
            .with_time_limit(Duration::from_secs(args.time_limit));
        if let Some(content) = &content {
            executor = executor.with_content(content.dir.clone());
        }
        Ok::<_, CliError>(executor.run(job).await)
    })?;
    match outcome {
        RunOutcome::Success { test_loss, synth_loss, eval } => {
            let synth = synth_loss.map(|s| format!(", synth_loss {s}")).unwrap_or_default();
            let measure = if task_type.higher_is_better() { "reward" } else { "test_loss" };
            if eval.is_finetune == Some(false) {
                let reason = format!(
                    "Non-finetuned submission: the output is the task's base model unchanged, or not a fine-tune \
                     of it ({measure} {test_loss}); it can never win a task"
                );
                println!("verdict: would NOT count: {reason}");
                return Err(CliError::Failure(anyhow::anyhow!("the repository would not count: {reason}")));
            }
            println!("verdict: would count in a tournament ({measure} {test_loss}{synth})");
            Ok(())
        }
        RunOutcome::NotStarted { reason } | RunOutcome::NodeUnreachable { reason, .. } => {
            println!("verdict: did not run, not the repository's fault: {reason}");
            Err(CliError::Failure(anyhow::anyhow!("the trial could not run: {reason}")))
        }
        RunOutcome::Failed { reason, .. } | RunOutcome::Unfetchable { reason } => {
            println!("verdict: would NOT count: {reason}");
            Err(CliError::Failure(anyhow::anyhow!("the repository would not count: {reason}")))
        }
    }
}

fn print_step(step: Step, status: &StepStatus) {
    let name = step.name();
    match status {
        StepStatus::Started => println!("{name:>9}: ..."),
        StepStatus::Done(detail) => println!("{name:>9}: ok, {detail}"),
        StepStatus::Skipped(why) => println!("{name:>9}: skipped, {why}"),
        StepStatus::Failed(reason) => println!("{name:>9}: FAILED, {reason}"),
    }
}

fn parse_gpus(spec: &str) -> Result<Vec<u32>, CliError> {
    if spec.trim() == "none" {
        return Ok(Vec::new());
    }
    spec.split(',')
        .map(|id| {
            id.trim()
                .parse::<u32>()
                .map_err(|_| CliError::Usage(format!("--gpus: {id:?} is not a GPU id (use 0,1 or none)")))
        })
        .collect()
}

fn trial_job(
    args: &TrialArgs,
    catalog: &crate::domain::catalog::Catalog,
    task_type: TaskType,
    gpu_ids: Vec<u32>,
) -> Result<TrainingJob, CliError> {
    let repo_url =
        crate::repo::fetch::source(&args.repo).map_err(|e| CliError::Usage(format!("{}: {e}", args.repo)))?;
    let candidates = || catalog.models.iter().filter(|m| (task_type == TaskType::Image) == m.model_type.is_some());
    let model = match &args.model {
        Some(id) if args.content.is_some() => candidates()
            .find(|m| &m.id == id)
            .ok_or_else(|| CliError::Usage(format!("--model {id}: the content has no {task_type} model of that id")))?,
        _ => candidates()
            .min_by_key(|m| m.params.unwrap_or(u64::MAX))
            .ok_or_else(|| CliError::Usage(format!("the content has no model for {task_type}")))?,
    };
    let dataset = catalog
        .datasets
        .iter()
        .find(|d| d.task_types.contains(&task_type))
        .ok_or_else(|| CliError::Usage(format!("the content has no dataset for {task_type}")))?;
    let mut dataset_type = dataset.dataset_type.clone();
    if task_type == TaskType::Grpo && !catalog.reward_functions.is_empty() {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(args.seed);
        dataset_type["reward_functions"] = catalog.draw_reward_functions(&mut rng);
    }
    let today = Utc::now();
    let tournament_id = TournamentId::new(0, today.year(), today.month(), today.day());
    let task_id = TaskId::parse(&format!("trial-{}-{}", std::process::id(), today.timestamp_micros()))
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let hotkey = Hotkey::synthetic(0);
    Ok(TrainingJob {
        expected_repo_name: expected_repo_name(&tournament_id, &task_id, &hotkey),
        tournament_id,
        task_id,
        hotkey,
        attempt: 1,
        task_type,
        model: args.model.clone().unwrap_or_else(|| model.id.clone()),
        model_params: model.params,
        model_type: model.model_type,
        dataset: dataset.id.clone(),
        dataset_type_json: dataset_type.to_string(),
        file_format: crate::domain::FileFormat::default(),
        hours_to_complete: f64::from(args.hours),
        repo_url,
        commit_hash: args.commit.clone(),
        placement: Placement { node_id: crate::domain::NodeId::local(), gpu_indices: gpu_ids },
    })
}

/// When `repo` is a local folder without its own `.git`, a temporary git repository holding a copy of
/// its files (caches and `.git` folders left out), committed, so the pipeline can fetch it.
fn snapshot_if_plain(repo: &str) -> anyhow::Result<Option<tempfile::TempDir>> {
    let source = std::path::Path::new(repo);
    if !source.is_dir() || source.join(".git").exists() {
        return Ok(None);
    }
    let snapshot = tempfile::Builder::new().prefix("crucible-trial-").tempdir()?;
    crate::sim::real::copy_tree(source, snapshot.path())?;
    let git = |args: &[&str]| -> anyhow::Result<()> {
        let out = std::process::Command::new("git")
            .args(["-c", "user.name=crucible trial", "-c", "user.email=trial@crucible.invalid"])
            .args(args)
            .current_dir(snapshot.path())
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(())
    };
    git(&["init", "-q"])?;
    git(&["add", "-A"])?;
    git(&["commit", "-q", "-m", "trial snapshot"])?;
    Ok(Some(snapshot))
}
