//! The local executor against a real Docker engine: each way a miner's run can end, with the reason a
//! miner reads, the limits of the contract checked from inside the container, clean-up, re-attachment
//! after a restart, and reaping of containers no training claims.

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use crucible::docker::{Engine, container};
use crucible::domain::gpu::Placement;
use crucible::domain::{Hotkey, TaskId, TaskType, TournamentId};
use crucible::exec::contract::labels;
use crucible::exec::local::{GpuAccess, LocalExecutor, LocalSettings, OutputMount};
use crucible::exec::{Executor, RunOutcome, TrainingJob};
use crucible::repo::GateRules;

use super::support::{self, DOWNLOADER, EVALUATOR};

/// Fails with exit 4 naming any part of the contract the container does not get.
const CHECKS: &str = r#"fail() { echo "contract broken: $1" >&2; exit 4; }
[ "$WANDB_MODE" = offline ] || fail "WANDB_MODE=$WANDB_MODE"
[ "$OMP_NUM_THREADS" = 1 ] || fail "OMP_NUM_THREADS=$OMP_NUM_THREADS for a quota of one CPU"
[ -z "$LD_PRELOAD" ] || fail "the image's LD_PRELOAD=$LD_PRELOAD reached the training"
[ "$NVIDIA_DRIVER_CAPABILITIES" = compute,utility ] || fail "NVIDIA_DRIVER_CAPABILITIES=$NVIDIA_DRIVER_CAPABILITIES"
[ "$NVIDIA_VISIBLE_DEVICES" = void ] || fail "NVIDIA_VISIBLE_DEVICES=$NVIDIA_VISIBLE_DEVICES with no GPU reserved"
touch /cache/probe 2>/dev/null && fail "/cache is writable"
[ "$(ls /sys/class/net)" = "lo" ] || fail "network interfaces: $(ls /sys/class/net)"
[ "$(awk '/^CapEff/ {print $2}' /proc/self/status)" = "0000000000000000" ] || fail "capabilities kept"
[ "$(awk '/^NoNewPrivs/ {print $2}' /proc/self/status)" = "1" ] || fail "new privileges allowed"
[ "$(id -u)" != 0 ] || fail "runs as root"
touch /probe 2>/dev/null && fail "the root filesystem is writable"
echo probe > /tmp/probe || fail "/tmp is not writable"
grep " /tmp " /proc/mounts | grep nosuid | grep -q size=65536k || fail "/tmp: $(grep ' /tmp ' /proc/mounts)"
[ "$HOME" = /tmp ] || fail "HOME=$HOME"
"#;

fn settings(root: &Path) -> LocalSettings {
    LocalSettings {
        work_dir: root.join("work").to_string_lossy().into_owned(),
        cache_dir: root.join("cache").to_string_lossy().into_owned(),
        heldout_dir: root.join("heldout").to_string_lossy().into_owned(),
        download_image: String::new(),
        evaluator_image: EVALUATOR.into(),
        gpus: GpuAccess::None,
        memory_mib_per_gpu: 256,
        cpus_per_gpu: 1.0,
        shm_mib: 64,
        shm_mib_many_gpus: 128,
        pids_limit: 256,
        fetch_timeout_secs: 60,
        download_timeout_secs: 60,
        build_timeout_secs: 120,
        eval_timeout_secs: 60,
        max_output_bytes: 1 << 20,
        max_output_entries: 1000,
        output_watch_secs: 0.2,
        tmp_mib: 64,
        build_memory_mib: 256,
        build_cpus: 1.0,
        build_pids_limit: 200,
        build_cgroup_parent: test_build_cgroup(),
        build_network: "none".into(),
        output_mount: OutputMount::Overlay,
    }
}

fn job(task: &str, repo: &Path, commit: &str, seconds: f64) -> TrainingJob {
    TrainingJob {
        tournament_id: TournamentId::new(42, 2026, 11, 26),
        task_id: TaskId::parse(task).unwrap(),
        hotkey: Hotkey::synthetic(7),
        attempt: 1,
        task_type: TaskType::InstructText,
        model: "org/Tiny-1B".into(),
        model_params: Some(1_000_000_000),
        model_type: None,
        dataset: "org/data".into(),
        dataset_type_json: r#"{"field_instruction":"instruction","field_output":"output"}"#.into(),
        file_format: crucible::domain::FileFormat::Json,
        hours_to_complete: seconds / 3600.0,
        expected_repo_name: format!("{task}-out"),
        repo_url: repo.to_string_lossy().into_owned(),
        commit_hash: commit.into(),
        placement: Placement { node_id: crucible::domain::NodeId::local(), gpu_indices: vec![0] },
    }
}

/// The tests' build cgroup parent: root makes it; another user only if it was given one (else builds
/// run without a process limit, and the test of that limit says it did not run).
pub(super) fn test_build_cgroup() -> String {
    let parent = "crucible-test-build";
    if crucible::docker::cgroup::usable(parent) { parent.into() } else { String::new() }
}

/// Runs `script` as a miner's training and returns the outcome; checks nothing of the attempt is left.
pub(super) async fn run_script(
    task: &str,
    script: &str,
    seconds: f64,
    tweak: impl FnOnce(&mut LocalSettings),
) -> Option<RunOutcome> {
    run_repo(task, script, &[], seconds, tweak).await
}

/// [`run_script`] with `observer` told of every step.
pub(super) async fn run_observed(
    task: &str,
    script: &str,
    seconds: f64,
    tweak: impl FnOnce(&mut LocalSettings),
    observer: crucible::exec::local::Observer,
) -> Option<RunOutcome> {
    run_with(task, script, &[], seconds, tweak, Some(observer)).await
}

/// [`run_script`] in a repository with `extra` files (a dockerfile of its own among them).
pub(super) async fn run_repo(
    task: &str,
    script: &str,
    extra: &[(&str, &str)],
    seconds: f64,
    tweak: impl FnOnce(&mut LocalSettings),
) -> Option<RunOutcome> {
    run_with(task, script, extra, seconds, tweak, None).await
}

async fn run_with(
    task: &str,
    script: &str,
    extra: &[(&str, &str)],
    seconds: f64,
    tweak: impl FnOnce(&mut LocalSettings),
    observer: Option<crucible::exec::local::Observer>,
) -> Option<RunOutcome> {
    let engine = support::engine().await?;
    let root = tempfile::tempdir().unwrap();
    let (repo, sha) = support::miner_repo(root.path(), script, extra);
    let mut s = settings(root.path());
    tweak(&mut s);
    let executor = LocalExecutor::new(engine.clone(), s, GateRules { allow_local: true, ..GateRules::default() });
    let executor = match observer {
        Some(observer) => executor.with_observer(observer),
        None => executor,
    };
    let outcome = recorded_image(executor.run(job(task, &repo, &sha, seconds)).await);
    assert_nothing_left(&engine, task, &root.path().join("work")).await;
    Some(outcome)
}

async fn assert_nothing_left(engine: &Engine, task: &str, work: &Path) {
    let left = container::find(engine, &[(labels::TASK, task)]).await.unwrap();
    assert!(left.is_empty(), "containers left behind: {left:?}");
    let dirs: Vec<_> = std::fs::read_dir(work).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(dirs.is_empty(), "directories left behind: {dirs:?}");
}

/// A scored run names the image that trained it by its content id: checked, then set aside so that
/// outcomes compare by their scores.
pub(super) fn recorded_image(mut outcome: RunOutcome) -> RunOutcome {
    if let RunOutcome::Success { eval, .. } = &mut outcome {
        assert_image_id(eval.image.take().expect("a scored run records the image that trained it"));
    }
    outcome
}

fn assert_image_id(image: String) {
    assert!(image.starts_with("sha256:") && image.len() == 71, "{image}");
}

pub(super) fn failed(outcome: Option<RunOutcome>) -> Option<String> {
    match outcome? {
        RunOutcome::Failed { reason, .. } => Some(reason),
        other => panic!("expected a failed run, got {other:?}"),
    }
}

#[tokio::test]
async fn a_good_repository_trains_under_the_contract_and_is_scored() {
    // Only the task's own inputs are visible: its model, not another task's dataset.
    let inputs = r#"[ -d /cache/models/org--Tiny-1B ] || fail "the task's model is not in /cache"
[ -e /cache/datasets/other-task_train_data.json ] && fail "another task's dataset is visible"
"#;
    let script = format!("{CHECKS}{inputs}echo 0.25 > \"$OUT/loss\"\necho trained\n");
    let seed = |s: &mut LocalSettings| {
        let cache = Path::new(&s.cache_dir);
        std::fs::create_dir_all(cache.join("models/org--Tiny-1B")).unwrap();
        std::fs::create_dir_all(cache.join("datasets")).unwrap();
        std::fs::write(cache.join("datasets/other-task_train_data.json"), "[]").unwrap();
    };
    let Some(outcome) = run_script("local-good", &script, 60.0, seed).await else { return };
    assert_eq!(outcome, RunOutcome::scored(0.25));
}

#[tokio::test]
async fn a_crash_is_named_by_its_exit_code_and_last_error_line() {
    let script = "echo 'loading model'\necho 'RuntimeError: CUDA error: device-side assert' >&2\nexit 3\n";
    let Some(reason) = failed(run_script("local-crash", script, 60.0, |_| {}).await) else { return };
    assert_eq!(reason, "exit 3: RuntimeError: CUDA error: device-side assert");
}

#[tokio::test]
async fn running_out_of_memory_is_oom() {
    let script = "x=$(head -c 300000000 /dev/zero | tr '\\0' a)\necho ${#x}\n";
    let Some(reason) = failed(run_script("local-oom", script, 60.0, |s| s.memory_mib_per_gpu = 32).await) else {
        return;
    };
    assert_eq!(reason, "oom");
}

#[tokio::test]
async fn a_run_past_its_time_limit_counts_only_with_output() {
    let Some(reason) = failed(run_script("local-hang", "sleep 600\n", 2.0, |_| {}).await) else { return };
    assert_eq!(reason, "timeout without output");

    let script = "echo 0.5 > \"$OUT/loss\"\nsleep 600\n";
    let outcome = run_script("local-slow", script, 2.0, |_| {}).await.unwrap();
    assert_eq!(outcome, RunOutcome::scored(0.5));
}

#[tokio::test]
async fn exiting_without_output_names_the_expected_path() {
    let Some(reason) = failed(run_script("local-empty", "echo done\n", 60.0, |_| {}).await) else { return };
    assert_eq!(reason, "no output at /app/checkpoints/local-empty/local-empty-out");
}

#[tokio::test]
async fn an_output_the_evaluator_rejects_fails_the_evaluation() {
    let script = "echo weights > \"$OUT/model.safetensors\"\n";
    let Some(reason) = failed(run_script("local-noloss", script, 60.0, |_| {}).await) else { return };
    assert!(reason.starts_with("evaluation failed: no loss file in /app/checkpoints/local-noloss/"), "{reason}");
}

#[tokio::test]
async fn a_gpu_the_engine_cannot_give_is_not_a_miner_failure() {
    let script = "echo 0.1 > \"$OUT/loss\"\n";
    let Some(outcome) = run_script("local-gpu", script, 60.0, |s| s.gpus = GpuAccess::Nvidia).await else { return };
    match outcome {
        RunOutcome::NotStarted { reason } => assert!(reason.starts_with("GPU unavailable: "), "{reason}"),
        other => panic!("expected not started, got {other:?}"),
    }
}

#[tokio::test]
async fn the_download_step_fills_the_read_only_cache() {
    let script = "[ -s \"/cache/datasets/${T}_train_data.json\" ] || { echo 'no dataset' >&2; exit 5; }\necho 0.3 > \"$OUT/loss\"\n";
    let Some(outcome) = run_script("local-dl", script, 60.0, |s| s.download_image = DOWNLOADER.into()).await else {
        return;
    };
    assert_eq!(outcome, RunOutcome::scored(0.3));
    let Some(reason) = failed(run_script("local-nodl", script, 60.0, |_| {}).await) else { return };
    assert_eq!(reason, "exit 5: no dataset");
}

#[tokio::test]
async fn build_errors_gates_and_bad_commits_are_named() {
    let Some(engine) = support::engine().await else { return };
    let root = tempfile::tempdir().unwrap();
    let (repo, sha) = support::miner_repo(root.path(), "true\n", &[("setup.sh", "exit 0\n")]);
    support::write(&repo, "dockerfiles/standalone-text-trainer.dockerfile", "FROM crucible-test-base:1\nRUN exit 7\n");
    let executor = LocalExecutor::new(
        engine.clone(),
        settings(root.path()),
        GateRules { allow_local: true, ..GateRules::default() },
    );
    // The dockerfile change is not committed: the pinned commit is what is built.
    let outcome = executor.run(job("local-build", &repo, &sha, 60.0)).await;
    let RunOutcome::Failed { reason, image: Some(image) } = outcome else {
        panic!("a failed training keeps the image it ran: {outcome:?}")
    };
    assert_eq!(reason, "no output at /app/checkpoints/local-build/local-build-out", "the commit was built");
    assert_image_id(image);

    let commit = |msg: &str| {
        let ok = std::process::Command::new("git")
            .args(["-c", "user.name=m", "-c", "user.email=m@x", "commit", "-qam", msg])
            .current_dir(&repo)
            .status()
            .unwrap();
        assert!(ok.success());
        let out = std::process::Command::new("git").args(["rev-parse", "HEAD"]).current_dir(&repo).output().unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let broken = commit("break the build");
    match executor.run(job("local-build2", &repo, &broken, 60.0)).await {
        RunOutcome::Failed { reason, image: None } => {
            assert!(reason.starts_with("build failed: ") && reason.contains("exit"), "{reason}")
        }
        other => panic!("{other:?}"),
    }

    support::write(&repo, "lib/fast.so", "\u{7f}ELF compiled");
    let add = std::process::Command::new("git").args(["add", "-A"]).current_dir(&repo).status().unwrap();
    assert!(add.success());
    let packed = commit("add a compiled library");
    match executor.run(job("local-gate", &repo, &packed, 60.0)).await {
        RunOutcome::Unfetchable { reason } => assert!(reason.starts_with("gate failed: lib/fast.so"), "{reason}"),
        other => panic!("{other:?}"),
    }

    match executor.run(job("local-nocommit", &repo, &"0".repeat(40), 60.0)).await {
        RunOutcome::Unfetchable { reason } => {
            assert!(reason.starts_with("fetch failed: git fetch of 0000"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_nothing_left(&engine, "local-build2", &root.path().join("work")).await;
}

#[tokio::test]
async fn a_missing_evaluator_image_means_the_run_did_not_start() {
    let script = "echo 0.1 > \"$OUT/loss\"\n";
    let outcome = run_script("local-noeval", script, 60.0, |s| s.evaluator_image = "crucible-absent:0".into()).await;
    let Some(outcome) = outcome else { return };
    assert_eq!(
        outcome,
        RunOutcome::NotStarted {
            reason: "evaluator image crucible-absent:0 is not present on the Docker engine \
                     (`crucible images build` makes it)"
                .into()
        }
    );
}

#[tokio::test]
async fn after_a_restart_a_running_container_is_followed_and_a_vanished_one_is_lost() {
    let Some(engine) = support::engine().await else { return };
    let root = tempfile::tempdir().unwrap();
    let script = "sleep 2\necho 0.125 > \"$OUT/loss\"\n";
    let (repo, sha) = support::miner_repo(root.path(), script, &[]);
    // The attempt began an hour ago (its fetch and build, say): its time counts from the container's
    // own start, so the two-minute limit still has nearly all of its time.
    let started = Utc::now() - chrono::Duration::hours(1);
    let j = job("local-reattach", &repo, &sha, 120.0);
    let executor = || {
        let gates = GateRules { allow_local: true, ..GateRules::default() };
        LocalExecutor::new(engine.clone(), settings(root.path()), gates).with_instance("reattach-test")
    };
    die_while_training(&engine, &executor(), j.clone()).await;
    let second = executor();
    let outcome = second.reattach(j.clone(), started).expect("the local executor always answers").await;
    assert_eq!(recorded_image(outcome), RunOutcome::scored(0.125));

    // A restart before any container was made (during the fetch or the build) costs no attempt.
    let never = second.reattach(TrainingJob { attempt: 2, ..j.clone() }, started).unwrap().await;
    assert_eq!(
        never,
        RunOutcome::NotStarted { reason: "the validator restarted before the training container was made".into() }
    );

    // A container that was made and is gone is a lost run.
    let third = TrainingJob { attempt: 3, ..j };
    die_while_training(&engine, &executor(), third.clone()).await;
    let made = container::find(&engine, &[(labels::TASK, "local-reattach"), (labels::ATTEMPT, "3")]).await.unwrap();
    for c in made {
        container::remove(&engine, &c.id.unwrap()).await;
    }
    match second.reattach(third, started).unwrap().await {
        RunOutcome::Failed { reason, .. } => assert!(reason.starts_with("lost: "), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_nothing_left(&engine, "local-reattach", &root.path().join("work")).await;
}

/// A cancelled attempt (its tournament cancelled while it trains): its run is dropped and the executor
/// told, and its container, image and directories go at once, long before its hours.
#[tokio::test]
async fn a_cancelled_attempt_is_killed_and_leaves_nothing() {
    let Some(engine) = support::engine().await else { return };
    let root = tempfile::tempdir().unwrap();
    let (repo, sha) = support::miner_repo(root.path(), "echo training\nsleep 600\n", &[]);
    let j = job("local-cancel", &repo, &sha, 3600.0);
    let gates = GateRules { allow_local: true, ..GateRules::default() };
    let executor = LocalExecutor::new(engine.clone(), settings(root.path()), gates);
    die_while_training(&engine, &executor, j.clone()).await;
    let running = container::find(&engine, &[(labels::TASK, "local-cancel"), (labels::ROLE, "train")]).await.unwrap();
    assert_eq!(running.len(), 1, "the training runs until it is cancelled");
    executor.cancel(j).await;
    assert_nothing_left(&engine, "local-cancel", &root.path().join("work")).await;
}

/// Runs `j` until its training container runs, then drops the run as a dying validator would: its
/// future is gone, the container is not.
async fn die_while_training(engine: &Engine, first: &LocalExecutor, j: TrainingJob) {
    let run = first.run(j.clone());
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::select! {
            _ = run => panic!("the run ended before the restart"),
            _ = wait_for_container(engine, j.task_id.as_str(), j.attempt) => {}
        }
    })
    .await;
}

/// Waits until the training container of `task`'s `attempt` runs.
pub(super) async fn wait_for_container(engine: &Engine, task: &str, attempt: u32) {
    let attempt = attempt.to_string();
    loop {
        let wanted = [(labels::TASK, task), (labels::ROLE, "train"), (labels::ATTEMPT, attempt.as_str())];
        let found = container::find(engine, &wanted).await.unwrap();
        if found.iter().any(|c| c.state.as_ref().is_some_and(|s| format!("{s:?}").to_lowercase().contains("running"))) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn containers_no_open_training_claims_are_reaped() {
    let Some(engine) = support::engine().await else { return };
    let root = tempfile::tempdir().unwrap();
    let (repo, sha) = support::miner_repo(root.path(), "sleep 600\n", &[]);
    let j = job("local-orphan", &repo, &sha, 600.0);
    let executor = LocalExecutor::new(
        engine.clone(),
        settings(root.path()),
        GateRules { allow_local: true, ..GateRules::default() },
    );
    let run = executor.run(j.clone());
    tokio::select! {
        _ = run => panic!("the run ended"),
        _ = wait_for_container(&engine, "local-orphan", 1) => {}
    }
    // Another open training is kept; this one is not claimed, so it goes.
    let keep = [(TaskId::parse("other").unwrap(), j.hotkey.clone(), 1)];
    assert!(executor.reap(&keep).await.unwrap() >= 1);
    let left = container::find(&engine, &[(labels::TASK, "local-orphan")]).await.unwrap();
    assert!(left.is_empty(), "{left:?}");
    let built = engine.docker().list_images(None::<bollard::query_parameters::ListImagesOptions>).await.unwrap();
    let tags: Vec<String> = built.into_iter().flat_map(|i| i.repo_tags).collect();
    let image = format!("{}:a1", running_image(&j));
    assert!(!tags.contains(&image), "the reaped run's image {image} is left: {tags:?}");
}

/// The image name the local executor gives a job's first attempt (its names are derived from the job).
fn running_image(j: &TrainingJob) -> String {
    let key = format!("{}/{}/{}", j.tournament_id, j.task_id, j.hotkey);
    format!("crucible-miner-{:016x}", crucible::domain::ids::stable_hash(key.as_bytes()))
}

/// An evaluator that cannot finish runs again on the same output, four times in all, and then fails
/// the attempt; an evaluator's verdict on the output is not asked again.
#[test]
fn an_evaluator_that_cannot_finish_runs_again_without_training_four_times_in_all() {
    use std::cell::Cell;
    use std::rc::Rc;

    use crucible::exec::local::{Step, StepStatus};
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let Some(engine) = runtime.block_on(support::engine()) else { return };
    let dir = tempfile::tempdir().unwrap();
    let evaluate = |image: &str, file: &'static str| {
        let starts = Rc::new(Cell::new(0));
        let counted = starts.clone();
        let observer = Rc::new(move |step: Step, status: &StepStatus| {
            if step == Step::Evaluate && *status == StepStatus::Started {
                counted.set(counted.get() + 1);
            }
        });
        let local = LocalSettings { evaluator_image: image.into(), eval_timeout_secs: 1, ..settings(dir.path()) };
        let executor =
            LocalExecutor::new(engine.clone(), local, GateRules { allow_local: true, ..GateRules::default() })
                .with_observer(observer);
        let job = job("eval-tries", dir.path(), "main", 60.0);
        let outcome = runtime.block_on(executor.evaluate_fetched(job, move |out| async move {
            std::fs::write(out.join(file), "0.5").map_err(|e| e.to_string())?;
            Ok("the test".to_owned())
        }));
        (outcome, starts.get())
    };
    let (outcome, starts) = evaluate(super::support::SLOW_EVALUATOR, "loss");
    let RunOutcome::Failed { reason, .. } = outcome else { panic!("{outcome:?}") };
    assert!(reason.contains("took longer than 1 s") && reason.contains("(4 evaluation attempts)"), "{reason}");
    assert_eq!(starts, 4);
    let (outcome, starts) = evaluate(EVALUATOR, "not-a-loss");
    let RunOutcome::Failed { reason, .. } = outcome else { panic!("{outcome:?}") };
    assert!(reason.contains("no loss file"), "{reason}");
    assert_eq!(starts, 1, "a verdict is not asked again");
    let (outcome, _) = evaluate(EVALUATOR, "loss");
    assert_eq!(outcome, RunOutcome::scored(0.5));
}
