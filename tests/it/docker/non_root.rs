//! The pipeline run by a validator that is not root, set up as docs/security.md says: a user of its
//! own in the `docker` group, a build cgroup parent given to that user. The real binary runs as that
//! user (`setpriv`), fetches, builds under its own cgroup, trains as that user's uid, and removes
//! everything the training left, directories it closed included.

use std::process::Command;

use super::support::{self, EVALUATOR};

const USER: &str = "crucible-ci";
const PARENT: &str = "crucible-ci-build";

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The validator's user and its build cgroup parent, as an operator makes them once.
fn set_up() -> String {
    if Command::new("id").arg(USER).output().is_ok_and(|o| !o.status.success()) {
        run("useradd", &["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--groups", "docker", USER]);
    }
    let unified = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let parent = if unified { format!("/sys/fs/cgroup/{PARENT}") } else { format!("/sys/fs/cgroup/pids/{PARENT}") };
    std::fs::create_dir_all(&parent).unwrap();
    if unified {
        std::fs::write(format!("{parent}/cgroup.subtree_control"), "+pids").unwrap();
    }
    run("chown", &["-R", USER, &parent]);
    run("id", &["-u", USER])
}

#[tokio::test]
async fn a_validator_that_is_not_root_runs_the_pipeline_with_its_documented_setup() {
    if support::engine().await.is_none() {
        return;
    }
    // SAFETY: getuid cannot fail and touches no memory.
    if unsafe { libc::getuid() } != 0 {
        assert!(std::env::var_os("CI").is_none(), "CI runs as root, which sets the validator's user up");
        eprintln!("the non-root test needs root to set its user up: not run");
        return;
    }
    let uid = set_up();
    let root = tempfile::tempdir().unwrap();
    // The training checks its uid and leaves a closed directory with a file in it.
    let script = format!(
        "[ \"$(id -u)\" = {uid} ] || {{ echo \"runs as uid $(id -u)\" >&2; exit 9; }}\n\
         mkdir -p \"$OUT/a\" && echo x > \"$OUT/a/f\" && chmod 500 \"$OUT/a\"\necho 0.25 > \"$OUT/loss\"\n"
    );
    let (repo, _) = support::miner_repo(root.path(), &script, &[]);
    let binary = root.path().join("crucible");
    std::fs::copy(env!("CARGO_BIN_EXE_crucible"), &binary).unwrap();
    run("chown", &["-R", USER, &root.path().to_string_lossy()]);
    let out = Command::new("setpriv")
        .args(["--reuid", USER, "--regid", USER, "--init-groups", "--"])
        .arg(&binary)
        .args(["trial", &repo.to_string_lossy(), "--task-type", "InstructTextTask", "--time-limit", "30"])
        .args(["--evaluator-image", EVALUATOR, "--memory-mib", "128"])
        .env("CRUCIBLE_LOCAL_EXECUTOR__BUILD_CGROUP_PARENT", PARENT)
        .env("HOME", root.path())
        .current_dir(root.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains("without a process limit"), "the prepared parent is used:\n{stdout}");
    assert!(stdout.contains("verdict: would count in a tournament (test_loss 0.25)"), "{stdout}");
    let left: Vec<_> = root.path().join("crucible-work").read_dir().unwrap().flatten().map(|e| e.path()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
