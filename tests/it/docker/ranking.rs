//! Variants of the example trainer, built `FROM crucible-ml-base` and tried with `crucible trial` on
//! the tiny world, are ranked by their real scores for DPO, GRPO and images (Instruct is ranked by the
//! real tournament of `real`): the example as shipped (a real fine-tune) beats the base model returned
//! unchanged, which beats a learning rate of 10 (1 for images). And outputs the evaluator cannot count (garbage, a pickle-only checkpoint, another
//! architecture) fail with the reason a miner can act on.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crucible::sim::real::{Variant, miner};

use super::real::{Turn, crucible, real_images, repo_root};
use super::support;

/// A copy of the example trainer whose `trainer.toml` has the variant's edits, in
/// `<dir>/<variant name>`: what a miner does when copying the example and tuning it.
fn variant(dir: &Path, variant: &Variant) -> PathBuf {
    let to = dir.join(variant.name);
    std::fs::create_dir_all(&to).unwrap();
    crucible::sim::real::copy_tree(&repo_root().join("examples/trainer"), &to).unwrap();
    let config = std::fs::read_to_string(to.join("trainer.toml")).unwrap();
    std::fs::write(to.join("trainer.toml"), crucible::sim::real::edit(&config, variant.edits)).unwrap();
    to
}

/// The value a trial's verdict reports: its test loss, or its reward for GRPO.
fn verdict_value(output: &str) -> f64 {
    let line = output.lines().find(|l| l.starts_with("verdict: ")).unwrap_or_else(|| panic!("{output}"));
    let value = ["test_loss ", "reward "]
        .iter()
        .find_map(|measure| line.split(measure).nth(1))
        .unwrap_or_else(|| panic!("no value in the verdict:\n{output}"));
    value.split([')', ';', ',']).next().unwrap().parse().unwrap_or_else(|e| panic!("{e}: {line}"))
}

/// Runs `crucible trial <repo>` in `dir` on a task of `task_type` from the tiny world at `<dir>/tiny`,
/// or the shared one when `dir` has none (`ImageTask` followed by a model id: that image model).
fn trial(dir: &Path, repo: &Path, task_type: &str) -> (i32, String) {
    let repo = repo.to_string_lossy();
    let own = dir.join("tiny");
    let content = if own.is_dir() { own } else { SHARED.get().expect("the shared tiny world").clone() };
    let content = content.to_string_lossy();
    let mut args = vec!["trial", &repo, "--content", &content, "--time-limit", "1800", "--task-type"];
    match task_type.split_once(' ') {
        Some((image, model)) => args.extend([image, "--model", model]),
        None => args.push(task_type),
    }
    crucible(dir, &args)
}

/// The three trials' values on one task type.
#[derive(Debug)]
struct Ranked {
    pub task_type: String,
    pub fine_tune: f64,
    pub unchanged: f64,
    /// None when the evaluator could not score it (it said why).
    pub diverged: Option<f64>,
}

impl Ranked {
    /// Asserts fine-tune > unchanged > diverged, in the task type's direction.
    pub fn assert_ranked(&self, higher_is_better: bool) {
        let better = |a: f64, b: f64| if higher_is_better { a > b } else { a < b };
        let what = &self.task_type;
        assert!(better(self.fine_tune, self.unchanged), "{what}: the fine-tune must beat the unchanged base: {self:?}");
        if let Some(diverged) = self.diverged {
            assert!(
                better(self.unchanged, diverged),
                "{what}: the unchanged base must beat the diverged one: {self:?}"
            );
        }
    }
}

/// A trial of the example trainer as shipped on a `task_type` task of the tiny world in `<dir>/tiny`:
/// every step passes and it would count; its value.
pub(super) fn shipped_trial(dir: &Path, task_type: &str) -> f64 {
    let (code, shipped) = trial(dir, &repo_root().join("examples/trainer"), task_type);
    assert_eq!(code, 0, "{shipped}");
    assert!(shipped.contains("verdict: would count in a tournament"), "{shipped}");
    for step in ["download: ok", "build: ok", "train: ok", "evaluate: ok"] {
        assert!(shipped.contains(step), "{step:?} missing in:\n{shipped}");
    }
    verdict_value(&shipped)
}

/// Trials of the example trainer as shipped, of its `unchanged` variant and of its `diverging` one
/// on a `task_type` task of the tiny world in `<dir>/tiny`; asserts each verdict.
fn trial_variants(dir: &Path, task_type: &str) -> Ranked {
    let fine_tune = shipped_trial(dir, task_type);

    let (code, unchanged) = trial(dir, &variant(dir, miner("unchanged").unwrap()), task_type);
    if task_type.starts_with("ImageTask") {
        // An image output is a LoRA, always a fine-tune: the all-zero one counts and scores as the base.
        assert_eq!(code, 0, "{unchanged}");
    } else {
        // The evaluator finds the base model unchanged: it may rank in a group but never wins a task.
        assert_eq!(code, 1, "{unchanged}");
        assert!(unchanged.contains("verdict: would NOT count: Non-finetuned submission"), "{unchanged}");
    }

    let (code, diverging) = trial(dir, &variant(dir, miner("diverging").unwrap()), task_type);
    assert!(diverging.contains("train: ok"), "a diverging run still ends and saves a model:\n{diverging}");
    let diverged = match code {
        0 => Some(verdict_value(&diverging)),
        _ => {
            assert!(diverging.contains("verdict: would NOT count: "), "{diverging}");
            None
        }
    };
    let ranked = Ranked { task_type: task_type.to_owned(), fine_tune, unchanged: verdict_value(&unchanged), diverged };
    eprintln!("{ranked:?}");
    ranked
}

/// The tiny world the tests of this file share (`crucible tasks tiny` takes half a minute), made once
/// per test process under the target directory.
static SHARED: OnceLock<PathBuf> = OnceLock::new();

/// A working directory for one test, once the images and the shared tiny world are there, and the
/// test's turn on the real images (see `real::real_images`).
async fn tiny_world() -> Option<(tempfile::TempDir, Turn)> {
    let (_, _, turn) = real_images().await?;
    SHARED.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ranking-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let (code, out) = crucible(&root, &["tasks", "tiny", "--out", "tiny"]);
        assert_eq!(code, 0, "{out}");
        root.join("tiny")
    });
    Some((tempfile::tempdir().unwrap(), turn))
}

#[tokio::test]
async fn dpo_variants_rank_by_their_real_test_loss() {
    let Some((dir, _turn)) = tiny_world().await else { return };
    trial_variants(dir.path(), "DpoTask").assert_ranked(false);
}

#[tokio::test]
async fn grpo_variants_rank_by_their_real_reward() {
    let Some((dir, _turn)) = tiny_world().await else { return };
    trial_variants(dir.path(), "GrpoTask").assert_ranked(true);
}

/// On SDXL; the example trainer's own suite ranks the same three on Flux through the evaluator
/// (`examples/trainer/tests/test_image_flux.py`, run by `real`), at a fraction of the time.
#[tokio::test]
async fn image_variants_rank_by_their_real_loss() {
    let Some((dir, _turn)) = tiny_world().await else { return };
    trial_variants(dir.path(), "ImageTask tiny/sdxl").assert_ranked(false);
}

#[tokio::test]
async fn outputs_that_cannot_count_fail_with_their_reasons() {
    let Some((dir, _turn)) = tiny_world().await else { return };
    let model = r#"BASE="/cache/models/$(echo "$M" | sed 's#/#--#g')"
"#;
    let cases = [
        (
            "garbage",
            "echo 'not a model' > \"$OUT/config.json\"\nhead -c 4096 /dev/urandom > \"$OUT/model.safetensors\"\n",
            "would NOT count: ",
            "config.json is not a usable Hugging Face config",
        ),
        (
            "pickle-only",
            "cp \"$BASE/config.json\" \"$OUT/\"\nhead -c 4096 /dev/urandom > \"$OUT/pytorch_model.bin\"\n",
            "would NOT count: ",
            "only pickle checkpoints found (pytorch_model.bin)",
        ),
        (
            "another architecture",
            "cp \"$BASE\"/* \"$OUT/\"\nsed -i 's/LlamaForCausalLM/MistralForCausalLM/; s/\"llama\"/\"mistral\"/' \"$OUT/config.json\"\n",
            "would NOT count: Non-finetuned submission",
            "its architectures ['MistralForCausalLM'] differ from the base model's ['LlamaForCausalLM']",
        ),
    ];
    for (name, script, verdict, reason) in cases {
        let root = dir.path().join(name.replace(' ', "-"));
        std::fs::create_dir_all(&root).unwrap();
        let (repo, _) = support::miner_repo(&root, &format!("{model}{script}"), &[]);
        let (code, out) = trial(dir.path(), &repo, "InstructTextTask");
        assert_eq!(code, 1, "{name}: {out}");
        assert!(out.contains("train: ok"), "{name}: {out}");
        let line = out.lines().find(|l| l.starts_with("verdict: ")).unwrap_or_else(|| panic!("{out}"));
        assert!(line.contains(verdict), "{name}: {out}");
        assert!(out.contains(reason), "{name}: the reason {reason:?} is not shown:\n{out}");
    }
}
