//! The shipped Python on the images `crucible images build` makes: the evaluator's and the example
//! trainer's pytest suites, a miner's first run (`crucible tasks tiny`, then `crucible trial` of the
//! example trainer on it) ending with a real test loss, and the real tournament of `simulate --real`,
//! where a real fine-tune beats the base model returned unchanged, which beats a diverged one.
//!
//! The images take minutes to build, so tests do not build them: `.ci/run` does, with `crucible images
//! build`. Without them the tests fail when `CI` is set, and otherwise say that they did not run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crucible::docker::{ContainerSpec, Engine, container};
use crucible::images::Tags;
use crucible::sim::real::MINERS;

use super::{ranking, support};

/// The tests on the real images train and evaluate with torch. Each runs its containers with a quota
/// of one CPU and one thread ([`ONE_CPU`]) and holds one of as many turns as the host has cores for
/// its whole run (the real tournament, which trains two at once, holds two): side by side without
/// quotas, torch's threads would contend so badly that a training of two minutes takes twenty.
static TURNS: std::sync::LazyLock<tokio::sync::Semaphore> =
    std::sync::LazyLock::new(|| tokio::sync::Semaphore::new(host_cores() as usize));

fn host_cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// The setting that gives a trial's training and evaluation one CPU and one thread.
const ONE_CPU: (&str, &str) = ("CRUCIBLE_LOCAL_EXECUTOR__CPUS_PER_GPU", "1");

pub(super) type Turn = tokio::sync::SemaphorePermit<'static>;

pub(super) async fn real_images() -> Option<(Engine, Tags, Turn)> {
    real_images_on(1).await
}

/// [`real_images`] holding `cores` turns (at most the host's).
pub(super) async fn real_images_on(cores: u32) -> Option<(Engine, Tags, Turn)> {
    let engine = support::engine().await?;
    let tags = Tags::current();
    for tag in [&tags.ml_base, &tags.evaluator, &tags.download] {
        if !engine.has_image(tag).await {
            let why = format!("{tag} is not on the engine: run `crucible images build`");
            if std::env::var_os("CI").is_some() {
                panic!("{why}");
            }
            eprintln!("tests on the real images did not run: {why}");
            return None;
        }
    }
    let cores = cores.clamp(1, host_cores());
    Some((engine, tags, TURNS.acquire_many(cores).await.expect("the turns are never closed")))
}

pub(super) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a pytest suite in a container of `image` with no network; panics with its output on failure.
async fn pytest(engine: &Engine, name: &str, image: &str, script: &str, binds: Vec<String>) {
    let spec = ContainerSpec {
        name: format!("crucible-test-{name}-{}", std::process::id()),
        image: image.into(),
        entrypoint: Some(vec!["sh".into(), "-c".into(), script.into()]),
        env: ["PYTHONDONTWRITEBYTECODE=1", "CRUCIBLE_EVALUATOR=/evaluator", "OMP_NUM_THREADS=1", "MKL_NUM_THREADS=1"]
            .map(String::from)
            .to_vec(),
        nano_cpus: Some(1_000_000_000),
        binds,
        network: None,
        cap_add: crucible::exec::local::EVALUATOR_CAPABILITIES.iter().map(|c| (*c).to_owned()).collect(),
        ..Default::default()
    };
    container::remove(engine, &spec.name).await;
    let end = container::run(engine, &spec, Duration::from_secs(3600)).await.expect("the pytest container runs");
    container::remove(engine, &spec.name).await;
    let tail = end.stdout.iter().rev().take(40).rev().cloned().collect::<Vec<_>>().join("\n");
    assert_eq!(end.exit_code, 0, "{name}: pytest failed:\n{tail}\n{}", end.stderr.join("\n"));
    assert!(tail.contains(" passed"), "{name}: {tail}");
    assert!(!tail.contains(" skipped"), "{name}: no test may be skipped in CI: {tail}");
}

#[tokio::test]
async fn the_evaluator_suite_passes_in_the_evaluator_image() {
    let Some((engine, tags, _turn)) = real_images().await else { return };
    let script = "cd /opt/crucible && python3 -m pytest -q -p no:cacheprovider tests";
    pytest(&engine, "evaluator-suite", &tags.evaluator, script, vec![]).await;
}

#[tokio::test]
async fn the_example_trainer_suite_passes_on_crucible_ml_base() {
    let Some((engine, tags, _turn)) = real_images().await else { return };
    let root = repo_root();
    let binds = vec![
        format!("{}:/src:ro", root.join("examples/trainer").display()),
        format!("{}:/evaluator:ro", root.join("evaluator").display()),
    ];
    let script = "cd /src && python3 -m pytest -q -p no:cacheprovider tests";
    pytest(&engine, "trainer-suite", &tags.ml_base, script, binds).await;
}

/// Runs the crucible binary in `dir` (a trial on one CPU); its exit code and its stdout and stderr
/// together.
pub(super) fn crucible(dir: &Path, args: &[&str]) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_crucible"));
    let out = command.current_dir(dir).args(args).env(ONE_CPU.0, ONE_CPU.1).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test]
async fn a_miners_first_run_on_the_tiny_world_ends_with_a_real_test_loss() {
    let Some((_, _, _turn)) = real_images().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = crucible(dir.path(), &["tasks", "tiny", "--out", "tiny"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("wrote ") && out.contains("reward functions"), "{out}");
    let (code, out) = crucible(dir.path(), &["tasks", "tiny", "--out", "tiny"]);
    assert_eq!(code, 2, "an existing world is not overwritten: {out}");

    // The example trainer as a miner has it counts with a real test loss. That it beats the base model
    // returned unchanged, which beats a learning rate of 10, is shown for Instruct by the real
    // tournament below and for the other types by `ranking`.
    let loss = ranking::shipped_trial(dir.path(), "InstructTextTask");
    assert!(loss.is_finite() && loss > 0.0, "{loss}");
}

/// The hotkey of each variant of `simulate --real` (miner `i` submits variant `i mod 4`).
fn variant_hotkeys(miners: usize, seed: u64) -> Vec<(String, &'static str)> {
    use crucible::sim::{Shares, SimSettings, SimWorld};
    let none = Shares::none();
    let world = SimWorld::new(SimSettings { miners, seed, shares: none });
    world.miners.iter().enumerate().map(|(i, m)| (m.hotkey.to_string(), MINERS[i % MINERS.len()].name)).collect()
}

#[tokio::test]
async fn a_real_text_tournament_on_the_tiny_world_is_won_by_the_better_trainers() {
    // It trains two at a time, each on one CPU.
    let Some((_, _, _turns)) = real_images_on(2).await else { return };
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = crucible(dir.path(), &["tasks", "tiny", "--out", "tiny"]);
    assert_eq!(code, 0, "{out}");
    // The tiny-world rules, with every round drawing Instruct tasks only: the other task types' real
    // scores are tested in `ranking`, and each of their trainings takes minutes on a CPU. README.md
    // records a measured run of the full text tournament.
    let rules = std::fs::read_to_string(repo_root().join("config/tiny-world.toml")).unwrap();
    let instruct = "knockout_types = [{ task_type = \"InstructTextTask\", weight = 1.0 }]\n\
                    boss_text_types = [\"InstructTextTask\"]\n";
    std::fs::write(dir.path().join("tiny-world.toml"), rules + instruct).unwrap();
    let example = repo_root().join("examples/trainer");
    let (config, example) = ("tiny-world.toml", example.to_string_lossy());
    let args = ["--config", config, "simulate", "--real", "--content", "tiny", "--example", &example];
    let (code, out) = crucible(dir.path(), &[&args[..], &["--report", "report.json"]].concat());
    assert_eq!(code, 0, "{out}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap()).unwrap();

    let names: std::collections::HashMap<String, &str> = variant_hotkeys(4, 1).into_iter().collect();
    let name = |h: &serde_json::Value| names.get(h.as_str().unwrap()).copied().unwrap_or("house");
    let order = ["tuned", "timid", "unchanged", "diverging"];
    let rank = |n: &str| order.iter().position(|o| *o == n).unwrap_or(usize::MAX);
    let tournaments = report["tournaments"].as_array().unwrap();
    assert_eq!(tournaments.len(), 1, "one text tournament: {out}");
    let t = &tournaments[0];
    assert_eq!(t["status"], "completed", "{out}");
    let (mut trainings, mut scored) = (0, 0);
    for round in t["rounds"].as_array().unwrap() {
        for task in round["tasks"].as_array().unwrap() {
            for tr in task["trainings"].as_array().unwrap() {
                // Every training ran to an end, and the evaluator scored every success.
                trainings += 1;
                match tr["status"].as_str().unwrap() {
                    "success" => {
                        assert!(tr["test_loss"].as_f64().unwrap().is_finite(), "{tr}");
                        scored += 1;
                    }
                    "failure" => assert!(tr["failure_reason"].is_string(), "a failure says why: {tr}"),
                    other => panic!("a training ended {other}: {tr}"),
                }
                assert!(tr["task_score"].is_number(), "{tr}");
                let who = name(&tr["hotkey"]);
                if who == "unchanged" && tr["status"] == "success" {
                    assert_eq!(tr["score_reason"], "Non-finetuned submission", "{tr}");
                }
                if who == "diverging" {
                    assert_ne!(tr["task_score"], 3.0, "the diverging trainer never wins a task: {tr}");
                }
            }
        }
        // In the knockout rounds the better variant of each pair advances.
        if round["is_final"] == false {
            for pair in round["brackets"].as_array().unwrap() {
                let players: Vec<&str> = pair.as_array().unwrap().iter().map(name).collect();
                let best = *players.iter().min_by_key(|p| rank(p)).unwrap();
                let advanced: Vec<&str> = round["advanced"].as_array().unwrap().iter().map(name).collect();
                if best != "unchanged" {
                    assert!(advanced.contains(&best), "{players:?} advanced {advanced:?}\n{out}");
                }
            }
        }
    }
    // Four knockout and boss tasks of two trainings each; every variant's output is a model the
    // evaluator can score (the diverging one's loss is huge, the unchanged one's is the base model's).
    assert!(trainings >= 8, "{trainings} trainings: {out}");
    assert_eq!(scored, trainings, "every training is scored by the evaluator: {out}");
    let boss = t["rounds"].as_array().unwrap().last().unwrap();
    assert_eq!(boss["is_final"], true);
    let challenger: Vec<&str> =
        boss["brackets"][0].as_array().unwrap().iter().map(name).filter(|n| *n != "house").collect();
    assert_eq!(challenger, ["tuned"], "the best trainer reaches the boss round: {out}");
    assert!(out.contains("took ") && out.contains("minutes on the wall clock"), "{out}");
}
