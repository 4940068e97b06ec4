//! The train and collect steps of a local attempt: the training container as untrusted code runs it
//! (an unprivileged user, a read-only root with a sized `/tmp`, no network, no capabilities, only the
//! task's own inputs, an environment the image cannot widen, an output quota watched while it runs),
//! then the output judged as hostile data.

use std::path::Path;

use super::attempt::{Attempt, Step, StepStatus, Stop, absolute, off_loop};
use super::output::{self, OutputLimits};
use super::settings::OutputMount;
use crate::docker::container::{self, OverlayMount};
use crate::docker::{ContainerEnd, ContainerSpec, StartError};
use crate::exec::RunOutcome;
use crate::exec::contract;

/// The user a training runs as: the validator's own when it is not root (so every file the training
/// leaves is the validator's to remove), else `nobody`; never root.
pub fn training_user() -> String {
    // SAFETY: getuid and getgid cannot fail and touch no memory.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    if uid == 0 { "65534:65534".to_owned() } else { format!("{uid}:{gid}") }
}

impl Attempt {
    /// Runs the training container to its end, its time limit, or its output quota.
    pub(super) async fn train(&self) -> Result<ContainerEnd, Stop> {
        let spec = self.training_spec();
        container::remove(&self.engine, &spec.name).await;
        let overlay = spec.overlays.iter().flat_map(|o| [&o.lower, &o.work]);
        if let Err((path, e)) = overlay.into_iter().try_for_each(|d| std::fs::create_dir_all(d).map_err(|e| (d, e))) {
            let reason = format!("cannot make {path}: {e}");
            return Err(self.fail(Step::Train, RunOutcome::NotStarted { reason }));
        }
        if let Err(e) = std::fs::write(self.train_marker(), b"") {
            let reason = format!("cannot write {}: {e}", self.train_marker().display());
            return Err(self.fail(Step::Train, RunOutcome::NotStarted { reason }));
        }
        let limit = self.time_limit();
        self.report(Step::Train, StepStatus::Started);
        match container::run_watched(&self.engine, &spec, limit, Some(self.quota_watch())).await {
            Ok(end) => Ok(end),
            Err(StartError::GpuUnavailable(m)) => {
                Err(self.fail(Step::Train, RunOutcome::NotStarted { reason: format!("GPU unavailable: {m}") }))
            }
            Err(StartError::Start(m) | StartError::Create(m)) if container::mount_refusal(&m) => {
                tracing::error!(work_dir = %self.settings.work_dir, error = %m, "the output overlay cannot be mounted");
                let reason = format!(
                    "the validator could not mount the output directory nosuid,nodev ({m}): its work directory \
                     must be on a filesystem an overlay can write to, or local_executor.output_mount = \"bind\""
                );
                Err(self.fail(Step::Train, RunOutcome::NotStarted { reason }))
            }
            Err(e @ StartError::Create(_)) => {
                Err(self.fail(Step::Train, RunOutcome::NotStarted { reason: e.to_string() }))
            }
            Err(e @ StartError::Start(_)) => Err(self.fail(Step::Train, RunOutcome::failed(e.to_string()))),
        }
    }

    /// The output directory's mount: an overlay carrying `nosuid,nodev` (its lower and work
    /// directories beside it, in the attempt's private directory), or a bind mount where the
    /// operator chose one.
    fn output_mount(&self) -> (Option<String>, Option<OverlayMount>) {
        let target = contract::output_path(&self.job);
        match self.settings.output_mount {
            OutputMount::Bind => (Some(format!("{}:{target}", self.output_host_dir())), None),
            OutputMount::Overlay => {
                let beside = |name: &str| absolute(&self.names.dir.join(name).to_string_lossy());
                let overlay = OverlayMount {
                    target,
                    upper: self.output_host_dir(),
                    lower: beside("overlay-lower"),
                    work: beside("overlay-work"),
                    labels: self.labels("train"),
                };
                (None, Some(overlay))
            }
        }
    }

    /// The attempt's CPU share, which its training and its evaluation each get: the quota
    /// (`cpus_per_gpu` per GPU) and the thread-pool sizes that fill it. Thread pools size themselves by
    /// the host's cores, not by the container's quota: a quota of 24 CPUs on a host of 192 cores would
    /// run 192 threads taking turns.
    pub(super) fn cpu_share(&self) -> (Option<i64>, [String; 2]) {
        let gpus = self.job.placement.gpu_indices.len().max(1) as f64;
        let cpus = self.settings.cpus_per_gpu * gpus;
        let threads = cpus.min(self.engine.cpus() as f64).floor().max(1.0) as u64;
        (Some((cpus * 1e9) as i64), [format!("OMP_NUM_THREADS={threads}"), format!("MKL_NUM_THREADS={threads}")])
    }

    fn training_spec(&self) -> ContainerSpec {
        let s = &self.settings;
        let gpus = self.job.placement.gpu_indices.len().max(1) as u64;
        let (nano_cpus, threads) = self.cpu_share();
        let mut env = contract::environment(&self.job);
        env.extend(threads);
        // The image's own environment is the miner's: nothing it sets may preload code into the
        // training or widen what the NVIDIA container toolkit exposes (its hook reads these).
        let devices = self.gpu_ids().map_or("void".to_owned(), |ids| ids.join(","));
        env.extend([
            "LD_PRELOAD=".to_owned(),
            "NVIDIA_DRIVER_CAPABILITIES=compute,utility".to_owned(),
            format!("NVIDIA_VISIBLE_DEVICES={devices}"),
            // The root filesystem is read-only: home and temporary files live in /tmp.
            "HOME=/tmp".to_owned(),
            "TMPDIR=/tmp".to_owned(),
        ]);
        let mut binds = self.task_inputs();
        let (bind, overlay) = self.output_mount();
        binds.extend(bind);
        ContainerSpec {
            name: self.names.train.clone(),
            image: self.names.image.clone(),
            args: contract::standard_args(&self.job),
            env,
            labels: self.labels("train"),
            binds,
            memory_bytes: Some((s.memory_mib_per_gpu * gpus * 1024 * 1024) as i64),
            nano_cpus,
            shm_bytes: Some((if gpus >= 4 { s.shm_mib_many_gpus } else { s.shm_mib } * 1024 * 1024) as i64),
            pids_limit: Some(s.pids_limit),
            gpu_ids: self.gpu_ids(),
            network: None,
            entrypoint: None,
            cap_add: Vec::new(),
            user: Some(training_user()),
            read_only_root: true,
            tmpfs: vec![("/tmp".into(), format!("size={}m,mode=1777", s.tmp_mib))],
            overlays: overlay.into_iter().collect(),
        }
    }

    /// Read-only binds of this task's own inputs in the cache (its base model and its dataset), those
    /// that exist: no other task's inputs are visible, and the engine creates nothing on the host.
    fn task_inputs(&self) -> Vec<String> {
        let cache = absolute(&self.settings.cache_dir);
        let inputs = [contract::model_path(&self.job.model), contract::dataset_path(&self.job)];
        inputs
            .iter()
            .filter_map(|inside| {
                let relative = inside.strip_prefix(contract::CACHE_DIR)?.trim_start_matches('/');
                let host = Path::new(&cache).join(relative);
                host.exists().then(|| format!("{}:{inside}:ro", host.display()))
            })
            .collect()
    }

    fn output_limits(&self) -> OutputLimits {
        OutputLimits { max_bytes: self.settings.max_output_bytes, max_entries: self.settings.max_output_entries }
    }

    /// Resolves when the output passes its quota while the training runs.
    pub(super) fn quota_watch(&self) -> container::Watch {
        let interval = std::time::Duration::from_secs_f64(self.settings.output_watch_secs);
        Box::pin(output::over_quota(self.output_dir(), self.output_limits(), interval))
    }

    /// The output must be where the contract says, hold model files, nothing but regular files and
    /// links inside it, and stay under its caps.
    pub(super) async fn collect(&self) -> Result<u64, String> {
        let (dir, limits) = (self.output_dir(), self.output_limits());
        let inspected = off_loop(move || Ok(output::inspect(&dir, limits))).await;
        let summary = inspected.map_err(|e| e.to_string())??;
        if summary.files == 0 {
            return Err(format!("no output at {}", contract::output_path(&self.job)));
        }
        Ok(summary.bytes)
    }
}
