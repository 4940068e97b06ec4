//! One local attempt as every step sees it: its steps and how they are reported, the names of what it
//! creates, its directories, labels and limits, and the helpers the steps share. The steps themselves
//! (`build`, `download`, `train`, `evaluate`) each add to [`Attempt`] in a file of their own and use
//! only this one; `pipeline` runs them in order.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use super::settings::{GpuAccess, LocalSettings};
use crate::docker::{ContainerEnd, Engine};
use crate::domain::ids::stable_hash;
use crate::exec::contract::{self, labels};
use crate::exec::{RunOutcome, TrainingJob};
use crate::repo::GateRules;

/// The steps of one training, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Fetch,
    Gates,
    Download,
    Build,
    Train,
    Collect,
    Evaluate,
    Clean,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::Fetch => "fetch",
            Step::Gates => "gates",
            Step::Download => "download",
            Step::Build => "build",
            Step::Train => "train",
            Step::Collect => "collect",
            Step::Evaluate => "evaluate",
            Step::Clean => "clean",
        }
    }
}

/// What happened at a step.
#[derive(Debug, Clone, PartialEq)]
pub enum StepStatus {
    Started,
    Done(String),
    Skipped(String),
    Failed(String),
}

/// Told of every step as it happens.
pub type Observer = Rc<dyn Fn(Step, &StepStatus)>;

/// The names of everything one attempt creates, derived from the job alone so that a restarted
/// validator finds them again.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub dir: PathBuf,
    pub image: String,
    pub train: String,
    pub download: String,
    pub evaluate: String,
}

impl Names {
    pub(super) fn of(job: &TrainingJob, settings: &LocalSettings) -> Names {
        let key = format!("{}/{}/{}", job.tournament_id, job.task_id, job.hotkey);
        let h = format!("{:016x}", stable_hash(key.as_bytes()));
        let dir = PathBuf::from(&settings.work_dir).join(format!("{h}-a{}", job.attempt));
        Names {
            dir,
            image: format!("crucible-miner-{h}:a{}", job.attempt),
            train: format!("crucible-train-{h}-a{}", job.attempt),
            download: format!("crucible-download-{h}-a{}", job.attempt),
            evaluate: format!("crucible-evaluate-{h}-a{}", job.attempt),
        }
    }
}

pub(crate) struct Attempt {
    pub engine: Engine,
    pub settings: Rc<LocalSettings>,
    pub gates: Rc<GateRules>,
    pub observer: Option<Observer>,
    /// Overrides the limit `hours_to_complete` gives.
    pub time_limit: Option<Duration>,
    pub names: Names,
    /// The owner label of this executor instance ([`labels::OWNER`]).
    pub owner: Rc<str>,
    pub job: TrainingJob,
    /// The task content the download step prepares the inputs from (`[content] dir`), if any.
    pub content: Option<Rc<std::path::PathBuf>>,
    /// The content id of the image the build step made (or the one a re-attached training runs).
    pub image_id: std::cell::RefCell<Option<String>>,
}

/// What the evaluator keeps of root's capabilities (all six are in Docker's default set): enough to
/// run the task's reward functions as an unprivileged user in a directory of their own, to stop one
/// that outlives its time (a process of another user takes KILL), and to clean up afterwards
/// (evaluator/crucible_eval/reward_sandbox.py). The reward functions themselves run with none.
pub const EVALUATOR_CAPABILITIES: [&str; 6] = ["SETUID", "SETGID", "CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL"];

/// Where the download step writes, and the evaluator reads, the held-out splits.
pub const HELDOUT_DIR: &str = "/heldout";

/// Ends the pipeline early with an outcome.
pub(crate) type Stop = RunOutcome;

impl Attempt {
    pub(crate) fn report(&self, step: Step, status: StepStatus) {
        tracing::debug!(step = step.name(), ?status, "step");
        if let Some(observer) = &self.observer {
            observer(step, &status);
        }
    }

    /// Reports the failure at `step`; a failed run carries the image it ran, when one was built.
    pub(crate) fn fail(&self, step: Step, outcome: RunOutcome) -> RunOutcome {
        let reason = outcome.reason().unwrap_or_default().to_owned();
        self.report(step, StepStatus::Failed(reason));
        match outcome {
            RunOutcome::Failed { reason, image: None } => {
                RunOutcome::Failed { reason, image: self.image_id.borrow().clone() }
            }
            other => other,
        }
    }

    /// A file made just before the training container: after a restart it tells a run that had
    /// started from one that had not.
    pub(super) fn train_marker(&self) -> std::path::PathBuf {
        self.names.dir.join("training-started")
    }

    pub(super) fn time_limit(&self) -> Duration {
        if let Some(limit) = self.time_limit {
            return limit;
        }
        Duration::from_secs_f64((self.job.hours_to_complete.max(0.0) * 3600.0).min(1e9))
    }

    pub(super) fn repo_dir(&self) -> std::path::PathBuf {
        self.names.dir.join("repo")
    }

    pub(super) fn output_dir(&self) -> std::path::PathBuf {
        self.names.dir.join("output")
    }

    pub(super) fn gpu_ids(&self) -> Option<Vec<String>> {
        match self.settings.gpus {
            GpuAccess::Nvidia => Some(self.job.placement.gpu_indices.iter().map(|i| i.to_string()).collect()),
            GpuAccess::None => None,
        }
    }

    pub(super) fn labels(&self, role: &str) -> HashMap<String, String> {
        let mut labels: HashMap<String, String> = contract::container_labels(&self.job, role).into_iter().collect();
        labels.insert(labels::OWNER.into(), self.owner.to_string());
        labels
    }

    /// The value of the one label a miner's image carries ([`labels::BUILD`]).
    pub(super) fn build_label(&self) -> String {
        let j = &self.job;
        format!("{} {} {} {}", owner_hash(&self.owner), j.task_id, j.hotkey, j.attempt)
    }

    pub(super) fn output_host_dir(&self) -> String {
        absolute(&self.output_dir().to_string_lossy())
    }
}

/// `exit N: <last error line>`.
pub(super) fn exit_reason(end: &ContainerEnd) -> String {
    match end.last_error_line() {
        Some(line) => format!("exit {}: {}", end.exit_code, clip(line, 300)),
        None => format!("exit {}", end.exit_code),
    }
}

pub(super) fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_owned() } else { s.chars().take(max).collect::<String>() + "…" }
}

/// The owner label of an executor instance without an instance id of its own: its absolute work
/// directory.
pub(super) fn default_owner(settings: &LocalSettings) -> String {
    absolute(&settings.work_dir)
}

/// The owner on an image's [`labels::BUILD`]: a hash of the owner label, which may hold spaces.
pub(super) fn owner_hash(owner: &str) -> String {
    format!("{:016x}", crate::domain::ids::stable_hash(owner.as_bytes()))
}

/// Bind mounts need absolute host paths.
pub(super) fn absolute(path: &str) -> String {
    let p = Path::new(path);
    if p.is_absolute() {
        return path.to_owned();
    }
    std::env::current_dir().map(|d| d.join(p).to_string_lossy().into_owned()).unwrap_or_else(|_| path.to_owned())
}

/// The output directory is written by the training's user, which may not be the validator's: it is
/// open to it, inside the attempt's directory that only the validator can enter.
pub(super) fn open_to_container(dir: &Path) -> std::io::Result<()> {
    set_mode(dir, 0o777)
}

/// The attempt's own directory, and the evaluator's result directory: the validator's alone.
pub(super) fn private(dir: &Path) -> std::io::Result<()> {
    set_mode(dir, 0o700)
}

fn set_mode(dir: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
}

/// Runs filesystem work (walking, packing or removing a tree a miner made) on tokio's blocking pool,
/// never on the event loop the other actors share.
pub(super) async fn off_loop<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(format!("blocking work failed: {e}"))))
}
