//! The build step of a local attempt: the miner's dockerfile built with the checkout as its context,
//! its RUN steps under memory, CPU and process limits and on the configured network (`none` by
//! default), after a check that it reads none of the validator's own images (any build can read any
//! local image, docs/security.md).

use std::collections::HashMap;
use std::time::Duration;

use super::attempt::{Attempt, Step, StepStatus, Stop, off_loop};
use crate::docker::{self, build::Build};
use crate::exec::RunOutcome;
use crate::exec::contract::labels;
use crate::repo::{dockerfile, gates};

impl Attempt {
    /// Builds the miner's image, or ends the attempt with the reason.
    pub(super) async fn build(&self) -> Result<(), Stop> {
        let s = &self.settings;
        self.report(Step::Build, StepStatus::Started);
        let file = gates::dockerfile(self.job.task_type.tournament_type());
        if let Err(reason) = self.reads_no_private_image(&file).await {
            return Err(self.fail(Step::Build, RunOutcome::Unfetchable { reason: format!("build refused: {reason}") }));
        }
        if let Err(reason) = self.build_network_isolated(&s.build_network).await {
            return Err(self.fail(Step::Build, RunOutcome::NotStarted { reason }));
        }
        // Dropped (and removed) once the build is over.
        let mut cgroup = None;
        let cgroup_parent = match s.build_cgroup_parent.trim() {
            "" => None,
            // A systemd slice the operator limited (TasksMax): the engine's systemd driver takes it as is.
            slice if slice.ends_with(".slice") => Some(slice.to_owned()),
            _ if self.engine.cgroup_driver() == "systemd" => {
                let reason = "the engine's systemd cgroup driver needs local_executor.build_cgroup_parent to be a \
                              slice with TasksMax set (docs/security.md)"
                    .to_owned();
                return Err(self.fail(Step::Build, RunOutcome::NotStarted { reason }));
            }
            parent => match docker::cgroup::prepare(parent, &self.names.train, s.build_pids_limit) {
                Ok(made) => Some(cgroup.insert(made).parent.clone()),
                Err(reason) => return Err(self.fail(Step::Build, RunOutcome::NotStarted { reason })),
            },
        };
        let limits = docker::BuildLimits {
            memory_bytes: Some((s.build_memory_mib * 1024 * 1024) as i64),
            cpus: Some(s.build_cpus.min(self.engine.cpus() as f64)),
            shm_bytes: Some(64 * 1024 * 1024),
            cgroup_parent,
            network: Some(s.build_network.clone()),
        };
        let built = async {
            let repo = self.repo_dir();
            let packed = off_loop(move || Ok(docker::context_tar(&repo))).await;
            let context = packed.map_err(|e| docker::BuildError::Context(e.to_string()))??;
            let labels = HashMap::from([(labels::BUILD.to_owned(), self.build_label())]);
            let limit = Duration::from_secs(s.build_timeout_secs);
            let what = Build { dockerfile: &file, tag: &self.names.image, labels: &labels, args: &HashMap::new() };
            docker::build::build_limited(&self.engine, context, what, &limits, limit, &mut |_| {}).await
        };
        match built.await {
            Ok(()) => {
                let id = self.engine.docker().inspect_image(&self.names.image).await.ok().and_then(|i| i.id);
                let shown = id.as_deref().unwrap_or("its id unknown");
                tracing::info!(task = %self.job.task_id, hotkey = %self.job.hotkey, attempt = self.job.attempt, image = shown, "miner image built");
                self.report(Step::Build, StepStatus::Done(format!("built {} ({shown})", self.names.image)));
                *self.image_id.borrow_mut() = id;
            }
            Err(e) => return Err(self.fail(Step::Build, RunOutcome::failed(format!("build failed: {e}")))),
        }
        Ok(())
    }

    /// Every image the dockerfile names (`FROM`, `COPY --from`) must not be one of the validator's: its
    /// evaluator, its download image, or another miner's build.
    async fn reads_no_private_image(&self, file: &str) -> Result<(), String> {
        let text = std::fs::read_to_string(self.repo_dir().join(file)).map_err(|e| format!("{file}: {e}"))?;
        let references = dockerfile::image_references(&text).map_err(|e| format!("{file}: {e}"))?;
        let mut private = Vec::new();
        let evaluator = self.settings.evaluator();
        let downloader = self.settings.downloader(true);
        for name in std::iter::once(evaluator.as_str()).chain(downloader.as_deref()) {
            if let Ok(image) = self.engine.docker().inspect_image(name).await {
                private.extend(image.id);
            }
        }
        for reference in references {
            let Ok(image) = self.engine.docker().inspect_image(&reference).await else { continue };
            let miners =
                image.config.as_ref().and_then(|c| c.labels.as_ref()).is_some_and(|l| l.contains_key(labels::BUILD));
            if miners || image.id.as_ref().is_some_and(|id| private.contains(id)) {
                return Err(format!("{file} reads {reference}, an image of the validator's own"));
            }
        }
        Ok(())
    }
}
