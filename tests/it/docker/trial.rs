//! `crucible trial` as a miner runs it: the real binary, a real repository, a real engine; each step
//! printed, then the verdict and the exit code.

use std::process::Command;

use super::support::{self, EVALUATOR};

fn trial(root: &std::path::Path, repo: &std::path::Path, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_crucible"))
        .current_dir(root)
        .args(["trial", &repo.to_string_lossy(), "--task-type", "InstructTextTask", "--time-limit", "30"])
        .args(["--evaluator-image", EVALUATOR, "--memory-mib", "128"])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_good_repository_would_count_and_every_step_is_shown() {
    if support::engine().await.is_none() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let script = "[ \"$H\" = 1 ] || { echo \"hours: $H\" >&2; exit 9; }\necho 0.375 > \"$OUT/loss\"\n";
    let (repo, _) = support::miner_repo(root.path(), script, &[]);
    let (code, stdout, stderr) = trial(root.path(), &repo, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    for step in ["fetch: ok, checked out", "gates: ok, passed", "download: skipped", "build: ok", "train: ok, exited 0"]
    {
        assert!(stdout.contains(step), "{step:?} missing in:\n{stdout}");
    }
    assert!(stdout.contains("evaluate: ok, test_loss 0.375"), "{stdout}");
    assert!(stdout.contains("verdict: would count in a tournament (test_loss 0.375)"), "{stdout}");
    assert!(!root.path().join("crucible-work").read_dir().unwrap().any(|_| true), "work directory left behind");
}

#[tokio::test]
async fn a_failing_repository_is_told_why_and_exits_non_zero() {
    if support::engine().await.is_none() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let (repo, _) = support::miner_repo(root.path(), "echo 'ValueError: bad dataset column' >&2\nexit 2\n", &[]);
    let (code, stdout, stderr) = trial(root.path(), &repo, &[]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("train: FAILED, exit 2: ValueError: bad dataset column"), "{stdout}");
    assert!(stdout.contains("verdict: would NOT count: exit 2: ValueError: bad dataset column"), "{stdout}");

    let (code, stdout, _) = trial(root.path(), &repo, &["--gpus", "zero"]);
    assert_eq!(code, 2, "{stdout}");
    let (code, _, stderr) = trial(root.path(), &repo, &["--task-type", "Nope"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("Nope") || stderr.contains("task-type"), "{stderr}");
}
