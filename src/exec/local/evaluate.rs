//! The evaluation step (execution.md §4): the validator-owned evaluator image scores the trained output,
//! mounted read-only at the path the miner wrote it to, with no network. Its arguments name the task
//! (evaluator/README.md). Its scores reach the validator through a file, not its output: a JSON object
//! with a finite `test_loss` (a reward for GRPO, which may be negative; a loss otherwise), optionally
//! `synth_loss`, and the run's nonce, written to `/result/score.json` in a directory only the
//! evaluator's own user may write (its reward-function sandbox runs as another), so nothing the
//! trained model makes it print can pass for a score. Exit code 2 is its verdict on the output (the
//! reason is its last `error:` line); any other failure is trouble of its own, worth another try.

use std::time::Duration;

use serde::Deserialize;

use super::attempt::{Attempt, EVALUATOR_CAPABILITIES, HELDOUT_DIR, absolute, clip, exit_reason, private};
use crate::docker::{ContainerSpec, StartError, container};
use crate::domain::TaskType;
use crate::domain::task_scores::EvalFacts;
use crate::exec::RunOutcome;
use crate::exec::contract;

#[derive(Debug, Deserialize)]
struct Scores {
    test_loss: f64,
    #[serde(default)]
    synth_loss: Option<f64>,
    /// False when the output is the base model unchanged, or of another architecture.
    #[serde(default)]
    is_finetune: Option<bool>,
    /// Why the output is not a fine-tune, when the evaluator can tell.
    #[serde(default)]
    not_finetune: Option<String>,
    /// GRPO: the KL divergence from the base model.
    #[serde(default)]
    kl_divergence: Option<f64>,
    /// GRPO: the mean reward of each reward function, in the task's order.
    #[serde(default)]
    rewards: Vec<f64>,
}

/// The exit code with which the evaluator gives its verdict on the output.
pub const VERDICT_EXIT_CODE: i64 = 2;

/// A score, with what the evaluator said about it for the miner to read.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub outcome: RunOutcome,
    pub detail: String,
}

/// The arguments the evaluator receives. With task content, `--dataset` is the held-out split the
/// download step wrote; without, the task's dataset in the cache.
pub fn evaluator_args(a: &Attempt) -> Vec<String> {
    let job = &a.job;
    let dataset = match (&a.content, job.task_type) {
        (Some(_), TaskType::Image) => format!("{HELDOUT_DIR}/{}_test_data.zip", job.task_id),
        (Some(_), _) => format!("{HELDOUT_DIR}/{}_test_data.json", job.task_id),
        (None, _) => contract::dataset_path(job),
    };
    let mut args = a.task_args();
    args.extend([
        "--base-model-path".into(),
        contract::model_path(&job.model),
        "--trained-model-path".into(),
        contract::output_path(job),
        "--dataset".into(),
        dataset,
    ]);
    match job.task_type {
        TaskType::Image => {
            args.extend(["--model-type".into(), job.model_type.map(|t| t.to_string()).unwrap_or_else(|| "sdxl".into())])
        }
        _ => args.extend(["--dataset-type".into(), job.dataset_type_json.clone()]),
    }
    args
}

/// Why an evaluation gave no score.
#[derive(Debug, Clone, PartialEq)]
pub enum Unscored {
    /// The evaluator judged the output (it exited with an error of its own, or printed no or bad
    /// scores): evaluating again would say the same.
    Verdict(RunOutcome),
    /// The evaluator could not finish (it did not start, ran out of time or memory): worth another try
    /// on the same output, without training again.
    Trouble(RunOutcome),
}

/// Runs the evaluator: its score, or why there is none.
pub async fn run(a: &Attempt) -> Result<Scored, Unscored> {
    let s = &a.settings;
    let out = contract::output_path(&a.job);
    let results = a.names.dir.join("result");
    if let Err(e) = result_dir(&results) {
        let reason = format!("cannot prepare {}: {e}", results.display());
        return Err(Unscored::Trouble(RunOutcome::NotStarted { reason }));
    }
    let nonce = format!("{:032x}", rand::random::<u128>());
    let (nano_cpus, threads) = a.cpu_share();
    let spec = ContainerSpec {
        name: a.names.evaluate.clone(),
        image: s.evaluator(),
        args: evaluator_args(a),
        env: vec![
            "HF_HUB_OFFLINE=1".into(),
            "TRANSFORMERS_OFFLINE=1".into(),
            format!("CRUCIBLE_RESULT={RESULT_DIR}/{RESULT_FILE}"),
            format!("CRUCIBLE_NONCE={nonce}"),
        ]
        .into_iter()
        .chain(threads)
        .collect(),
        labels: a.labels("evaluate"),
        binds: [
            Some(format!("{}:{}:ro", absolute(&s.cache_dir), contract::CACHE_DIR)),
            Some(format!("{}:{out}:ro", a.output_host_dir())),
            Some(format!("{}:{RESULT_DIR}", absolute(&results.to_string_lossy()))),
            a.content.as_ref().map(|_| format!("{}:{HELDOUT_DIR}:ro", absolute(&s.heldout_dir))),
        ]
        .into_iter()
        .flatten()
        .collect(),
        memory_bytes: Some(
            (s.memory_mib_per_gpu * a.job.placement.gpu_indices.len().max(1) as u64 * 1024 * 1024) as i64,
        ),
        nano_cpus,
        shm_bytes: Some((s.shm_mib * 1024 * 1024) as i64),
        pids_limit: Some(s.pids_limit),
        gpu_ids: a.gpu_ids(),
        network: None,
        cap_add: EVALUATOR_CAPABILITIES.iter().map(|c| (*c).to_owned()).collect(),
        ..Default::default()
    };
    container::remove(&a.engine, &spec.name).await;
    let limit = Duration::from_secs(s.eval_timeout_secs);
    let failed = |reason: String| RunOutcome::failed(format!("evaluation failed: {reason}"));
    let end = match container::run(&a.engine, &spec, limit).await {
        Ok(end) => end,
        Err(StartError::GpuUnavailable(m)) => {
            return Err(Unscored::Trouble(RunOutcome::NotStarted { reason: format!("GPU unavailable: {m}") }));
        }
        Err(e @ (StartError::Create(_) | StartError::Start(_))) => {
            return Err(Unscored::Trouble(RunOutcome::NotStarted { reason: format!("evaluator {e}") }));
        }
    };
    if end.timed_out {
        return Err(Unscored::Trouble(failed(format!("took longer than {} s", limit.as_secs()))));
    }
    if end.oom_killed {
        return Err(Unscored::Trouble(failed("oom".into())));
    }
    if end.exit_code == VERDICT_EXIT_CODE {
        let reason = end.last_error_line().map(|l| l.trim_start_matches("error:").trim().to_owned());
        return Err(Unscored::Verdict(failed(reason.unwrap_or_else(|| exit_reason(&end)))));
    }
    if end.exit_code != 0 {
        return Err(Unscored::Trouble(failed(format!("the evaluator broke: {}", exit_reason(&end)))));
    }
    let text = match read_result(&results.join(RESULT_FILE), &nonce) {
        Ok(text) => text,
        Err(reason) => return Err(Unscored::Trouble(failed(reason))),
    };
    let mut scored = parse_scores(a.job.task_type, &text).map_err(|reason| Unscored::Verdict(failed(reason)))?;
    if let RunOutcome::Success { eval, .. } = &mut scored.outcome {
        eval.image = a.image_id.borrow().clone();
    }
    Ok(scored)
}

/// Where the evaluator writes its result, inside its container.
pub const RESULT_DIR: &str = "/result";
const RESULT_FILE: &str = "score.json";

/// A fresh, empty result directory, writable by its owner only.
fn result_dir(dir: &std::path::Path) -> std::io::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    private(dir)
}

/// The result file's JSON, once it is known to be this run's: present, small, and carrying `nonce`.
fn read_result(path: &std::path::Path, nonce: &str) -> Result<String, String> {
    let meta = std::fs::symlink_metadata(path)
        .map_err(|_| format!("the evaluator exited 0 but wrote no result ({RESULT_DIR}/{RESULT_FILE})"))?;
    if !meta.is_file() || meta.len() > 1 << 20 {
        return Err(format!("the evaluator's result {RESULT_DIR}/{RESULT_FILE} is not a small regular file"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the evaluator's result: {e}"))?;
    let stamped = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("nonce").and_then(|n| n.as_str()).map(|n| n == nonce));
    match stamped {
        Some(true) => Ok(text.trim().to_owned()),
        _ => Err("the evaluator's result does not carry this run's nonce".into()),
    }
}

/// The evaluator's last line as scores: losses finite and non-negative, a GRPO reward finite.
pub fn parse_scores(task_type: TaskType, line: &str) -> Result<Scored, String> {
    let scores: Scores = serde_json::from_str(line)
        .map_err(|e| format!("the result is not JSON with test_loss ({e}): {:?}", clip(line, 200)))?;
    let allowed = |x: f64| x.is_finite() && (task_type.higher_is_better() || x >= 0.0);
    if !allowed(scores.test_loss) || scores.synth_loss.is_some_and(|s| !allowed(s)) {
        let what = if task_type.higher_is_better() {
            "rewards must be finite"
        } else {
            "losses must be finite and non-negative"
        };
        return Err(format!("{what}: {line}"));
    }
    let measure = if task_type.higher_is_better() { "reward" } else { "test_loss" };
    let mut detail = format!("{measure} {}", scores.test_loss);
    if let Some(synth) = scores.synth_loss {
        detail.push_str(&format!(", synth_loss {synth}"));
    }
    if let Some(kl) = scores.kl_divergence {
        detail.push_str(&format!(", kl_divergence {kl}"));
    }
    if scores.is_finetune == Some(false) {
        match &scores.not_finetune {
            Some(why) => detail.push_str(&format!(", not a fine-tune of the task's base model: {}", clip(why, 300))),
            None => detail.push_str(", not a fine-tune of the task's base model (is_finetune false)"),
        }
    }
    if scores.rewards.iter().any(|r| !r.is_finite()) || scores.kl_divergence.is_some_and(|k| !k.is_finite()) {
        return Err(format!("rewards and kl_divergence must be finite: {line}"));
    }
    let eval = EvalFacts {
        is_finetune: scores.is_finetune,
        collected_at: None,
        rewards: scores.rewards,
        kl_divergence: scores.kl_divergence,
        image: None,
    };
    Ok(Scored {
        outcome: RunOutcome::Success { test_loss: scores.test_loss, synth_loss: scores.synth_loss, eval },
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_result_file_with_the_runs_nonce_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RESULT_FILE);
        assert!(read_result(&path, "n1").unwrap_err().contains("wrote no result"));
        std::fs::write(&path, r#"{"test_loss": 0.5, "nonce": "n0"}"#).unwrap();
        assert_eq!(read_result(&path, "n1").unwrap_err(), "the evaluator's result does not carry this run's nonce");
        assert_eq!(read_result(&path, "n0").unwrap(), r#"{"test_loss": 0.5, "nonce": "n0"}"#);
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", &path).unwrap();
        assert!(read_result(&path, "n0").unwrap_err().contains("not a small regular file"));
    }

    #[test]
    fn the_last_line_must_carry_a_finite_test_loss() {
        let parse = |line| parse_scores(TaskType::InstructText, line).map(|s| s.outcome);
        assert_eq!(
            parse(r#"{"test_loss": 0.5, "synth_loss": 0.7}"#),
            Ok(RunOutcome::Success { test_loss: 0.5, synth_loss: Some(0.7), eval: EvalFacts::default() })
        );
        assert_eq!(parse(r#"{"test_loss": 1}"#), Ok(RunOutcome::scored(1.0)));
        assert!(parse("done").unwrap_err().contains("not JSON with test_loss"));
        let stamped = r#"{"test_loss": 0.5, "nonce": "ab"}"#;
        assert_eq!(parse(stamped), Ok(RunOutcome::scored(0.5)), "the nonce is no score");
        assert!(parse(r#"{"synth_loss": 1}"#).unwrap_err().contains("test_loss"));
        assert!(parse(r#"{"test_loss": -1}"#).unwrap_err().contains("finite"));
        assert!(parse("").is_err());
    }

    #[test]
    fn a_grpo_reward_may_be_negative_and_the_detail_says_what_the_evaluator_saw() {
        let line = r#"{"test_loss": -0.25, "is_finetune": true, "rewards": [0.1], "kl_divergence": 0.5}"#;
        let scored = parse_scores(TaskType::Grpo, line).unwrap();
        let eval =
            EvalFacts { is_finetune: Some(true), rewards: vec![0.1], kl_divergence: Some(0.5), ..EvalFacts::default() };
        assert_eq!(scored.outcome, RunOutcome::Success { test_loss: -0.25, synth_loss: None, eval });
        assert_eq!(scored.detail, "reward -0.25, kl_divergence 0.5");
        assert!(parse_scores(TaskType::Grpo, r#"{"test_loss": NaN}"#).is_err());
        assert!(parse_scores(TaskType::Grpo, r#"{"test_loss": 0.1, "rewards": [1e999]}"#).is_err());
        let copy = parse_scores(TaskType::Dpo, r#"{"test_loss": 0.693, "is_finetune": false}"#).unwrap();
        assert!(copy.detail.ends_with("not a fine-tune of the task's base model (is_finetune false)"));
        let line = r#"{"test_loss": 2.5, "is_finetune": false, "not_finetune": "its hidden_size 48 differs"}"#;
        let other = parse_scores(TaskType::InstructText, line).unwrap();
        assert!(other.detail.ends_with("not a fine-tune of the task's base model: its hidden_size 48 differs"));
    }
}
