//! The simulated executor: a training takes virtual time proportional to its hours; some runs crash,
//! hang to their limit or end without output; the simulated evaluator scores the rest from the miner's
//! skill plus seeded noise. Every attempt's fate is a function of (seed, task, hotkey, attempt), so an
//! attempt followed again after a restart ends exactly as it would have.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{SimWorld, unit};
use crate::clock::SharedClock;
use crate::domain::task_scores::EvalFacts;
use crate::exec::{Executor, RunFuture, RunOutcome, TrainingJob};

pub struct SimulatedExecutor {
    world: Arc<SimWorld>,
    clock: SharedClock,
    /// Every attempt ends as its fate says, but at once (`crucible bench`).
    instant: bool,
}

/// What one attempt will do.
#[derive(Debug, Clone, PartialEq)]
pub struct Fate {
    /// From the container's start to its end.
    pub duration: Duration,
    pub outcome: RunOutcome,
}

impl SimulatedExecutor {
    pub fn new(world: Arc<SimWorld>, clock: SharedClock) -> Self {
        Self { world, clock, instant: false }
    }

    /// Attempts end at once, with the outcome their fate gives (`crucible bench`).
    pub fn instant(mut self) -> Self {
        self.instant = true;
        self
    }

    /// The fate of an attempt, decided by the seed alone.
    pub fn fate(&self, job: &TrainingJob) -> Fate {
        let s = &self.world.settings.shares;
        let key = format!("{}/{}/{}", job.task_id, job.hotkey, job.attempt);
        // Whole seconds, so times stored at microsecond precision replay exactly after a restart.
        let whole = |secs: f64| Duration::from_secs(secs.max(1.0).round() as u64);
        let limit = whole(job.hours_to_complete * 3600.0);
        let seed = self.world.settings.seed;
        let roll = unit(seed, &format!("fate/{key}"));
        let share = 0.3 + 0.65 * unit(seed, &format!("duration/{key}"));
        let ran = whole(limit.as_secs_f64() * share);
        let output = format!("/app/checkpoints/{}/{}", job.task_id, job.expected_repo_name);
        let failed = |duration, reason: String| Fate { duration, outcome: RunOutcome::failed(reason) };
        if roll < s.crash_rate {
            return failed(
                whole(ran.as_secs_f64() * 0.2),
                "exit 1: RuntimeError: CUDA error: an illegal memory access was encountered".into(),
            );
        }
        if roll < s.crash_rate + s.hang_rate {
            return failed(limit, "timeout without output".into());
        }
        if roll < s.crash_rate + s.hang_rate + s.no_output_rate {
            return failed(ran, format!("no output at {output}"));
        }
        Fate { duration: ran, outcome: self.evaluate(job) }
    }

    /// The simulated evaluator: a task difficulty, lowered by skill, plus noise; GRPO scores a reward.
    fn evaluate(&self, job: &TrainingJob) -> RunOutcome {
        let seed = self.world.settings.seed;
        let skill = self.world.miner(&job.hotkey).map_or(0.5, |m| m.skill);
        let difficulty = 0.5 + unit(seed, &format!("difficulty/{}", job.task_id));
        let noise = unit(seed, &format!("noise/{}/{}", job.task_id, job.hotkey)) - 0.5;
        let loss = difficulty * (1.4 - 0.8 * skill) * (1.0 + 0.08 * noise);
        let test_loss = if job.task_type.higher_is_better() { 1.0 / loss } else { loss };
        let synth_loss = Some(test_loss * (1.0 + 0.02 * noise));
        RunOutcome::Success {
            test_loss,
            synth_loss,
            eval: EvalFacts { is_finetune: Some(true), ..EvalFacts::default() },
        }
    }

    fn after(&self, wait: Duration, outcome: RunOutcome) -> RunFuture {
        let wait = if self.instant { Duration::ZERO } else { wait };
        Box::pin(async move {
            tokio::time::sleep(wait).await;
            outcome
        })
    }
}

impl Executor for SimulatedExecutor {
    fn name(&self) -> &'static str {
        "simulated"
    }

    fn run(&self, job: TrainingJob) -> RunFuture {
        let fate = self.fate(&job);
        self.after(fate.duration, fate.outcome)
    }

    fn reattach(&self, job: TrainingJob, started_at: DateTime<Utc>) -> Option<RunFuture> {
        let fate = self.fate(&job);
        let ends = started_at + chrono::Duration::from_std(fate.duration).ok()?;
        Some(self.after(self.clock.until(ends), fate.outcome))
    }
}
