//! `[local_executor]`: where a local training keeps its files, which validator-owned images download
//! inputs and evaluate outputs, and the container limits of execution.md §3 (per GPU where it says so).

use serde::{Deserialize, Serialize};

/// How training containers get their GPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GpuAccess {
    /// A device request for exactly the reserved GPU ids (capability `gpu`, NVIDIA runtime).
    Nvidia,
    /// No GPU device at all: CPU-only hosts, tests, a miner's dry run.
    None,
}

/// How a training's output directory is mounted into its container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputMount {
    /// An overlay whose upper layer is the output directory, mounted `nosuid,nodev`: the default.
    #[default]
    Overlay,
    /// A plain bind mount, for a work directory on a filesystem that cannot be an overlay's upper
    /// layer (an overlay itself, some network filesystems): only as safe as that filesystem's own
    /// mount flags (docs/security.md).
    Bind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalSettings {
    /// Private per-training directories (checkout and output) are made under this one.
    pub work_dir: String,
    /// The input cache, mounted read-only at `/cache` in training and evaluation containers.
    pub cache_dir: String,
    /// The held-out (test) splits the download step writes: mounted into the evaluator only, never into
    /// a training.
    pub heldout_dir: String,
    /// The validator-owned image that places the model and dataset in the cache. Empty: the download
    /// image this binary's recipe builds when there is task content, else no download step.
    pub download_image: String,
    /// The validator-owned image that scores an output (it writes JSON with `test_loss` and the run's
    /// nonce to `$CRUCIBLE_RESULT`).
    /// Empty: the evaluator this binary's recipe builds (`crucible images list`).
    pub evaluator_image: String,
    pub gpus: GpuAccess,
    pub memory_mib_per_gpu: u64,
    pub cpus_per_gpu: f64,
    pub shm_mib: u64,
    /// The shared memory of a training with 4 or more GPUs.
    pub shm_mib_many_gpus: u64,
    pub pids_limit: i64,
    pub fetch_timeout_secs: u64,
    pub download_timeout_secs: u64,
    pub build_timeout_secs: u64,
    pub eval_timeout_secs: u64,
    /// The largest output a training may leave behind, WandB's directory included; watched while the
    /// training runs.
    pub max_output_bytes: u64,
    /// The most files and directories an output may hold.
    #[serde(default = "default_max_output_entries")]
    pub max_output_entries: u64,
    /// How often the output's size is looked at while a training runs.
    #[serde(default = "default_output_watch_secs")]
    pub output_watch_secs: f64,
    /// The size of the training's `/tmp` (its root filesystem is read-only), counted in its memory.
    #[serde(default = "default_tmp_mib")]
    pub tmp_mib: u64,
    /// Limits of a miner's build (its RUN steps): memory, CPUs, and processes.
    #[serde(default = "default_build_memory_mib")]
    pub build_memory_mib: u64,
    #[serde(default = "default_build_cpus")]
    pub build_cpus: f64,
    #[serde(default = "default_build_pids_limit")]
    pub build_pids_limit: u64,
    /// The cgroup each build gets a cgroup of its own under (its `pids.max` is `build_pids_limit`);
    /// empty: builds run without a process limit.
    #[serde(default = "default_build_cgroup_parent")]
    pub build_cgroup_parent: String,
    /// The network of a build's RUN steps: `none`, or a network the operator isolated from the host and
    /// private addresses (docs/security.md).
    #[serde(default = "default_build_network")]
    pub build_network: String,
    /// How the output directory is mounted into the training: `overlay` (nosuid, nodev) or `bind`.
    #[serde(default)]
    pub output_mount: OutputMount,
}

fn default_build_memory_mib() -> u64 {
    16 * 1024
}

fn default_build_cpus() -> f64 {
    8.0
}

fn default_build_pids_limit() -> u64 {
    4096
}

fn default_build_cgroup_parent() -> String {
    "crucible-build".into()
}

fn default_build_network() -> String {
    "none".into()
}

fn default_max_output_entries() -> u64 {
    100_000
}

fn default_output_watch_secs() -> f64 {
    10.0
}

fn default_tmp_mib() -> u64 {
    8 * 1024
}

impl Default for LocalSettings {
    fn default() -> Self {
        Self {
            work_dir: "crucible-work".into(),
            cache_dir: "crucible-cache".into(),
            heldout_dir: "crucible-heldout".into(),
            download_image: String::new(),
            evaluator_image: String::new(),
            gpus: GpuAccess::Nvidia,
            memory_mib_per_gpu: 110 * 1024,
            cpus_per_gpu: 24.0,
            shm_mib: 8 * 1024,
            shm_mib_many_gpus: 16 * 1024,
            pids_limit: 4096,
            fetch_timeout_secs: 600,
            download_timeout_secs: 7200,
            build_timeout_secs: 3600,
            eval_timeout_secs: 3600,
            max_output_bytes: 200 * 1024 * 1024 * 1024,
            max_output_entries: default_max_output_entries(),
            output_watch_secs: default_output_watch_secs(),
            tmp_mib: default_tmp_mib(),
            build_memory_mib: default_build_memory_mib(),
            build_cpus: default_build_cpus(),
            build_pids_limit: default_build_pids_limit(),
            build_cgroup_parent: default_build_cgroup_parent(),
            build_network: default_build_network(),
            output_mount: OutputMount::Overlay,
        }
    }
}

impl LocalSettings {
    /// The evaluator image: the configured one, else the one this binary's recipe builds.
    pub fn evaluator(&self) -> String {
        match self.evaluator_image.trim() {
            "" => crate::images::evaluator_image(),
            image => image.to_owned(),
        }
    }

    /// The download image, if there is a download step: the configured one, else (with task content
    /// to prepare) the one this binary's recipe builds.
    pub fn downloader(&self, with_content: bool) -> Option<String> {
        match self.download_image.trim() {
            "" if with_content => Some(crate::images::download_image()),
            "" => None,
            image => Some(image.to_owned()),
        }
    }

    /// Every problem, each naming its key.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let key = |k: &str| format!("local_executor.{k}");
        if self.work_dir.trim().is_empty() {
            problems.push(format!("{}: must not be empty", key("work_dir")));
        }
        if self.cache_dir.trim().is_empty() {
            problems.push(format!("{}: must not be empty", key("cache_dir")));
        }
        if self.heldout_dir.trim().is_empty() {
            problems.push(format!("{}: must not be empty", key("heldout_dir")));
        }
        if self.memory_mib_per_gpu < 6 {
            problems.push(format!("{}: at least 6 MiB (the engine's minimum)", key("memory_mib_per_gpu")));
        }
        if !(self.cpus_per_gpu.is_finite() && self.cpus_per_gpu > 0.0) {
            problems.push(format!("{}: must be a positive number", key("cpus_per_gpu")));
        }
        if self.max_output_entries == 0 || self.tmp_mib == 0 {
            problems.push(format!("{} and {}: must be positive", key("max_output_entries"), key("tmp_mib")));
        }
        if !(self.output_watch_secs.is_finite() && self.output_watch_secs > 0.0) {
            problems.push(format!("{}: must be a positive number", key("output_watch_secs")));
        }
        if self.build_memory_mib < 6
            || self.build_pids_limit == 0
            || !(self.build_cpus.is_finite() && self.build_cpus > 0.0)
        {
            problems.push(format!(
                "{}, {} and {}: must be positive (memory at least 6 MiB)",
                key("build_memory_mib"),
                key("build_cpus"),
                key("build_pids_limit")
            ));
        }
        if self.build_network.trim().is_empty() || self.build_network == "host" {
            problems.push(format!("{}: \"none\" or a network of your own, never empty or host", key("build_network")));
        }
        if self.pids_limit <= 0 {
            problems.push(format!("{}: must be positive", key("pids_limit")));
        }
        for (name, secs) in [
            ("fetch_timeout_secs", self.fetch_timeout_secs),
            ("download_timeout_secs", self.download_timeout_secs),
            ("build_timeout_secs", self.build_timeout_secs),
            ("eval_timeout_secs", self.eval_timeout_secs),
        ] {
            if secs == 0 {
                problems.push(format!("{}: must be positive", key(name)));
            }
        }
        problems
    }
}
