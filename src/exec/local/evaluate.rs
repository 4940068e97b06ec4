//! The evaluation step (execution.md §4): the validator-owned evaluator image scores the trained output,
//! mounted read-only at the path the miner wrote it to, with no network. Its arguments name the task;
//! its last stdout line must be a JSON object with a finite `test_loss` and optionally `synth_loss`.

use std::time::Duration;

use serde::Deserialize;

use super::pipeline::{Attempt, absolute, clip, exit_reason};
use crate::docker::{ContainerSpec, StartError, container};
use crate::domain::TaskType;
use crate::exec::RunOutcome;
use crate::exec::contract;

#[derive(Debug, Deserialize)]
struct Scores {
    test_loss: f64,
    #[serde(default)]
    synth_loss: Option<f64>,
}

/// The arguments the evaluator receives.
pub fn evaluator_args(a: &Attempt) -> Vec<String> {
    let job = &a.job;
    let mut args = vec![
        "--task-id".into(),
        job.task_id.to_string(),
        "--task-type".into(),
        job.task_type.to_string(),
        "--model".into(),
        job.model.clone(),
        "--trained-model-path".into(),
        contract::output_path(job),
        "--dataset".into(),
        contract::dataset_path(job),
    ];
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

/// Runs the evaluator: `Ok(Success)`, or why there is no score.
pub async fn run(a: &Attempt) -> Result<RunOutcome, Unscored> {
    let s = &a.settings;
    let out = contract::output_path(&a.job);
    let spec = ContainerSpec {
        name: a.names.evaluate.clone(),
        image: s.evaluator_image.clone(),
        args: evaluator_args(a),
        env: vec!["HF_HUB_OFFLINE=1".into(), "TRANSFORMERS_OFFLINE=1".into()],
        labels: a.labels("evaluate"),
        binds: vec![
            format!("{}:{}:ro", absolute(&s.cache_dir), contract::CACHE_DIR),
            format!("{}:{out}:ro", a.output_host_dir()),
        ],
        memory_bytes: Some(
            (s.memory_mib_per_gpu * a.job.placement.gpu_indices.len().max(1) as u64 * 1024 * 1024) as i64,
        ),
        shm_bytes: Some((s.shm_mib * 1024 * 1024) as i64),
        pids_limit: Some(s.pids_limit),
        gpu_ids: a.gpu_ids(),
        network: None,
        ..Default::default()
    };
    container::remove(&a.engine, &spec.name).await;
    let limit = Duration::from_secs(s.eval_timeout_secs);
    let failed = |reason: String| RunOutcome::Failed { reason: format!("evaluation failed: {reason}") };
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
    if end.exit_code != 0 {
        return Err(Unscored::Verdict(failed(exit_reason(&end))));
    }
    let last = end.stdout.iter().rev().map(|l| l.trim()).find(|l| !l.is_empty()).unwrap_or("");
    parse_scores(last).map_err(|reason| Unscored::Verdict(failed(reason)))
}

/// The evaluator's last line as scores.
pub fn parse_scores(line: &str) -> Result<RunOutcome, String> {
    let scores: Scores = serde_json::from_str(line)
        .map_err(|e| format!("last output line is not JSON with test_loss ({e}): {:?}", clip(line, 200)))?;
    let finite = |x: f64| x.is_finite() && x >= 0.0;
    if !finite(scores.test_loss) || scores.synth_loss.is_some_and(|s| !finite(s)) {
        return Err(format!("losses must be finite and non-negative: {line}"));
    }
    Ok(RunOutcome::Success { test_loss: scores.test_loss, synth_loss: scores.synth_loss })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_line_must_carry_a_finite_test_loss() {
        assert_eq!(
            parse_scores(r#"{"test_loss": 0.5, "synth_loss": 0.7}"#),
            Ok(RunOutcome::Success { test_loss: 0.5, synth_loss: Some(0.7) })
        );
        assert_eq!(parse_scores(r#"{"test_loss": 1}"#), Ok(RunOutcome::Success { test_loss: 1.0, synth_loss: None }));
        assert!(parse_scores("done").unwrap_err().contains("not JSON with test_loss"));
        assert!(parse_scores(r#"{"synth_loss": 1}"#).unwrap_err().contains("test_loss"));
        assert!(parse_scores(r#"{"test_loss": -1}"#).unwrap_err().contains("finite"));
        assert!(parse_scores("").is_err());
    }
}
