//! A real Docker engine for the execution tests, and what they build on it: a base image `FROM scratch`
//! holding Debian's static busybox (no registry is reachable), the validator-owned evaluator and
//! download images, and miner repositories as real git repositories holding only scripts.
//!
//! Without a reachable engine the tests fail when `CI` is set, and otherwise say on stderr that they
//! did not run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crucible::docker::{Engine, build_image};
use tokio::sync::OnceCell;

pub const BASE: &str = "crucible-test-base:1";
pub const EVALUATOR: &str = "crucible-test-evaluator:1";
pub const DOWNLOADER: &str = "crucible-test-download:1";
/// An evaluator that never finishes.
pub const SLOW_EVALUATOR: &str = "crucible-test-slow-evaluator:1";

/// The engine, with the test images built once per test process.
pub async fn engine() -> Option<Engine> {
    let engine = match Engine::connect().await {
        Ok(engine) => engine,
        Err(e) if std::env::var_os("CI").is_some() => panic!("Docker is required in CI: {e}"),
        Err(e) => {
            eprintln!("Docker tests did not run: {e}");
            return None;
        }
    };
    static IMAGES: OnceCell<()> = OnceCell::const_new();
    IMAGES.get_or_init(|| build_test_images(&engine)).await;
    Some(engine)
}

async fn build_test_images(engine: &Engine) {
    let busybox = std::env::var("CRUCIBLE_TEST_BUSYBOX").unwrap_or_else(|_| "/bin/busybox".into());
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&busybox, dir.path().join("busybox"))
        .unwrap_or_else(|e| panic!("{busybox}: {e} (install Debian's busybox-static)"));
    write(
        dir.path(),
        "Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    );
    build(engine, dir.path(), BASE).await;

    // Scores the output: its `loss` file is the test loss; a missing file is a failed evaluation.
    let evaluator = r#"while [ $# -gt 0 ]; do case "$1" in --trained-model-path) P="$2"; shift 2;; *) shift;; esac; done
[ -f "$P/loss" ] || { echo "no loss file in $P" >&2; exit 2; }
# The evaluation runs on the attempt's CPU share, its thread pools sized to it.
[ -n "$OMP_NUM_THREADS" ] && [ "$OMP_NUM_THREADS" = "$MKL_NUM_THREADS" ] || { echo "threads: $OMP_NUM_THREADS" >&2; exit 3; }
echo "scoring $P"
printf '{"test_loss": %s, "nonce": "%s"}\n' "$(cat "$P/loss")" "$CRUCIBLE_NONCE" > "$CRUCIBLE_RESULT"
# What a model makes an evaluator print (generated text, say) is the miner's: it ends the output here.
[ -f "$P/note" ] && cat "$P/note"
exit 0
"#;
    script_image(engine, EVALUATOR, evaluator).await;
    script_image(engine, SLOW_EVALUATOR, "sleep 600\n").await;
    // Places a dataset file for the task in the cache, as a real download step would.
    let downloader = r#"while [ $# -gt 0 ]; do case "$1" in --task-id) T="$2"; shift 2;; *) shift;; esac; done
mkdir -p /cache/datasets && echo '[{"instruction": "x", "output": "y"}]' > "/cache/datasets/${T}_train_data.json"
"#;
    script_image(engine, DOWNLOADER, downloader).await;
}

/// A dockerfile building `FROM` the base image whose ENTRYPOINT runs the shell script `script`.
pub fn script_dockerfile(script: &str) -> String {
    format!("FROM {BASE}\nCOPY {script} /{script}\nENTRYPOINT [\"/bin/sh\", \"/{script}\"]\n")
}

/// An image `tag` running `script` with busybox's shell.
async fn script_image(engine: &Engine, tag: &str, script: &str) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Dockerfile", &script_dockerfile("run.sh"));
    write(dir.path(), "run.sh", script);
    build(engine, dir.path(), tag).await;
}

async fn build(engine: &Engine, dir: &Path, tag: &str) {
    let context = crucible::docker::context_tar(dir).unwrap();
    build_image(engine, context, "Dockerfile", tag, &HashMap::new(), Duration::from_secs(120))
        .await
        .unwrap_or_else(|e| panic!("building {tag}: {e}"));
}

pub fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Parses the standard arguments into `$T` (task id), `$M` (model), `$R` (expected repo name), `$H`
/// (hours) and `$OUT`.
pub const ARGS: &str = r#"while [ $# -gt 0 ]; do case "$1" in --task-id) T="$2"; shift 2;; --model) M="$2"; shift 2;; --expected-repo-name) R="$2"; shift 2;; --hours-to-complete) H="$2"; shift 2;; *) shift;; esac; done
OUT="/app/checkpoints/$T/$R"
"#;

/// A miner repository as a git repository: the text dockerfile building `FROM` the base image and
/// running `train.sh` (`ARGS` then `script`), plus `extra` files. Returns its path and commit.
pub fn miner_repo(root: &Path, script: &str, extra: &[(&str, &str)]) -> (PathBuf, String) {
    let dir = root.join("repo");
    // Every miner image declares an environment the validator must not let through.
    let hostile = "ENV LD_PRELOAD=/hostile.so NVIDIA_DRIVER_CAPABILITIES=all NVIDIA_VISIBLE_DEVICES=all\n";
    write(
        &dir,
        "dockerfiles/standalone-text-trainer.dockerfile",
        &format!("{}{hostile}", script_dockerfile("train.sh")),
    );
    write(&dir, "train.sh", &format!("{ARGS}{script}"));
    for (name, text) in extra {
        write(&dir, name, text);
    }
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=miner", "-c", "user.email=miner@example.invalid", "-c", "init.defaultBranch=main"])
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "training repository"]);
    let sha = git(&["rev-parse", "HEAD"]);
    (dir, sha)
}
