//! One container run to its end: create with the limits of a [`ContainerSpec`], start, wait with a
//! time limit (stopping it when the limit strikes), then read how it ended (exit code, OOM kill) and the
//! tail of its output. Containers carry labels so a restarted validator can find them again.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, ContainerSummary, DeviceRequest, HostConfig, HostConfigLogConfig, Mount, MountType,
    MountVolumeOptions, MountVolumeOptionsDriverConfig,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};

use super::Engine;
use super::build::engine_message;

/// Everything that defines one container: image, arguments, environment, mounts and limits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    /// Arguments to the image's ENTRYPOINT.
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub labels: HashMap<String, String>,
    /// `host:container[:ro]` bind mounts.
    pub binds: Vec<String>,
    pub memory_bytes: Option<i64>,
    /// Capped at the host's CPUs, which the engine would otherwise refuse.
    pub nano_cpus: Option<i64>,
    pub shm_bytes: Option<i64>,
    pub pids_limit: Option<i64>,
    /// A device request for exactly these GPU ids (capability `gpu`); `None` asks for no GPU.
    pub gpu_ids: Option<Vec<String>>,
    /// The network mode; `None` is `none` (no network at all).
    pub network: Option<String>,
    /// Replaces the image's ENTRYPOINT (validator-owned images that serve several commands).
    pub entrypoint: Option<Vec<String>>,
    /// Capabilities kept although all others are dropped (the evaluator's, to drop to an unprivileged
    /// user for the reward functions it runs).
    pub cap_add: Vec<String>,
    /// `uid:gid` the process runs as; `None`: the image's user.
    pub user: Option<String>,
    /// The image's filesystem mounted read-only; writable places are the binds and `tmpfs`.
    pub read_only_root: bool,
    /// `(path, options)` tmpfs mounts, such as `("/tmp", "size=64m")`; always nosuid and nodev.
    pub tmpfs: Vec<(String, String)>,
    /// Writable host directories mounted nosuid and nodev (which a bind mount cannot be).
    pub overlays: Vec<OverlayMount>,
}

/// A host directory mounted writable at `target` as the upper layer of an overlay over an empty
/// `lower` (`work` is overlayfs's own, on the same filesystem as `upper`): what the container writes
/// lands in `upper` as it would through a bind mount, but the mount carries `nosuid` and `nodev`. The
/// engine mounts it as an anonymous volume of its `local` driver, removed with the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayMount {
    pub target: String,
    pub upper: String,
    pub lower: String,
    pub work: String,
    /// Labels of the volume (its container's, so it can be told whose it is).
    pub labels: HashMap<String, String>,
}

impl OverlayMount {
    fn mount(&self) -> Mount {
        let data = format!("lowerdir={},upperdir={},workdir={},nosuid,nodev", self.lower, self.upper, self.work);
        let options = HashMap::from([
            ("type".to_owned(), "overlay".to_owned()),
            ("device".to_owned(), "overlay".to_owned()),
            ("o".to_owned(), data),
        ]);
        Mount {
            target: Some(self.target.clone()),
            typ: Some(MountType::VOLUME),
            volume_options: Some(MountVolumeOptions {
                // Nothing of the image's own files at the target is copied into the host directory.
                no_copy: Some(true),
                labels: Some(self.labels.clone()),
                driver_config: Some(MountVolumeOptionsDriverConfig {
                    name: Some("local".into()),
                    options: Some(options),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// Whether an engine's refusal to start a container is its failure to mount a volume (an overlay the
/// filesystem under it cannot carry), not anything of the image's.
pub fn mount_refusal(message: &str) -> bool {
    message.contains("error while mounting volume")
}

/// Why a container never ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// The engine cannot give the requested GPUs (no NVIDIA runtime, ids not present).
    #[error("GPU unavailable: {0}")]
    GpuUnavailable(String),
    /// The engine refused to create the container (its settings, a missing image, the engine itself).
    #[error("container could not be created: {0}")]
    Create(String),
    /// The container was created but its process did not start (a bad ENTRYPOINT, ...).
    #[error("container did not start: {0}")]
    Start(String),
}

/// Creates and starts a container, then follows it to its end or the time limit.
pub async fn run(engine: &Engine, spec: &ContainerSpec, limit: Duration) -> Result<ContainerEnd, StartError> {
    run_watched(engine, spec, limit, None).await
}

/// [`run`], stopping the container early when `watch` resolves.
pub async fn run_watched(
    engine: &Engine,
    spec: &ContainerSpec,
    limit: Duration,
    watch: Option<Watch>,
) -> Result<ContainerEnd, StartError> {
    let id = create(engine, spec).await?;
    if let Err(e) = engine.docker().start_container(&id, None).await {
        remove(engine, &id).await;
        let message = engine_message(&e);
        return Err(if spec.gpu_ids.is_some() && gpu_refusal(&message) {
            StartError::GpuUnavailable(message)
        } else {
            StartError::Start(message)
        });
    }
    Ok(follow_watched(engine, &id, limit, watch).await)
}

async fn create(engine: &Engine, spec: &ContainerSpec) -> Result<String, StartError> {
    let device_requests = spec.gpu_ids.clone().map(|ids| {
        vec![DeviceRequest {
            driver: Some("nvidia".into()),
            device_ids: Some(ids),
            capabilities: Some(vec![vec!["gpu".into()]]),
            ..Default::default()
        }]
    });
    let host = HostConfig {
        binds: Some(spec.binds.clone()),
        mounts: (!spec.overlays.is_empty()).then(|| spec.overlays.iter().map(OverlayMount::mount).collect()),
        memory: spec.memory_bytes,
        memory_swap: spec.memory_bytes,
        nano_cpus: spec.nano_cpus.map(|n| n.min(engine.cpus() * 1_000_000_000)),
        shm_size: spec.shm_bytes,
        pids_limit: spec.pids_limit,
        network_mode: Some(spec.network.clone().unwrap_or_else(|| "none".into())),
        cap_drop: Some(vec!["ALL".into()]),
        cap_add: (!spec.cap_add.is_empty()).then(|| spec.cap_add.clone()),
        security_opt: Some(vec!["no-new-privileges".into()]),
        readonly_rootfs: Some(spec.read_only_root),
        tmpfs: (!spec.tmpfs.is_empty()).then(|| {
            spec.tmpfs.iter().map(|(path, options)| (path.clone(), format!("{options},nosuid,nodev"))).collect()
        }),
        device_requests,
        // Whatever the engine's default, a container's log is capped: a flood cannot fill the disk.
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([("max-size".into(), "10m".into()), ("max-file".into(), "1".into())])),
        }),
        ..Default::default()
    };
    let body = ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: Some(spec.args.clone()),
        entrypoint: spec.entrypoint.clone(),
        env: Some(spec.env.clone()),
        labels: Some(spec.labels.clone()),
        user: spec.user.clone(),
        network_disabled: Some(spec.network.is_none()),
        host_config: Some(host),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::default().name(&spec.name).build();
    let created = engine.docker().create_container(Some(options), body).await;
    created.map(|c| c.id).map_err(|e| StartError::Create(engine_message(&e)))
}

fn gpu_refusal(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("device driver") || m.contains("gpu") || m.contains("nvidia")
}

pub use super::follow::{ContainerEnd, Watch, follow, follow_watched, logs};

/// When a container's process started and the id of the image it runs, as the engine says.
pub async fn started(engine: &Engine, id: &str) -> (Option<chrono::DateTime<chrono::Utc>>, Option<String>) {
    let Ok(inspected) = engine.docker().inspect_container(id, None).await else { return (None, None) };
    let started = inspected.state.and_then(|s| s.started_at);
    let at = started.and_then(|s| chrono::DateTime::parse_from_rfc3339(&s).ok()).map(|t| t.with_timezone(&chrono::Utc));
    (at, inspected.image)
}

/// Removes a container, stopping it if needed; a missing one is fine.
pub async fn remove(engine: &Engine, id: &str) {
    // With its anonymous volumes (an image's VOLUME): nothing of a run outlives its container.
    let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
    if let Err(e) = engine.docker().remove_container(id, Some(options)).await
        && !super::is_not_found(&e)
    {
        tracing::warn!(container = id, error = %engine_message(&e), "could not remove container");
    }
}

/// Every container (running or not) carrying all of `labels`.
pub async fn find(engine: &Engine, labels: &[(&str, &str)]) -> Result<Vec<ContainerSummary>, String> {
    let wanted: Vec<String> =
        labels.iter().map(|(k, v)| if v.is_empty() { (*k).to_owned() } else { format!("{k}={v}") }).collect();
    let filters = HashMap::from([("label".to_owned(), wanted)]);
    let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
    engine.docker().list_containers(Some(options)).await.map_err(|e| engine_message(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overlay_the_engine_cannot_mount_is_told_from_an_images_failure() {
        // As Docker 20.10 answers when the upper and work directories are on different filesystems.
        let refused = "error while mounting volume '/var/lib/docker/volumes/3f1c/_data': failed to mount local \
                       volume: mount overlay:/var/lib/docker/volumes/3f1c/_data, flags: 0x6, data: lowerdir=/w/l,\
                       upperdir=/w/o,workdir=/w/w: invalid argument";
        assert!(mount_refusal(refused));
        let entrypoint = "OCI runtime create failed: exec: \"/train.sh\": stat /train.sh: no such file or directory";
        assert!(!mount_refusal(entrypoint));
    }

    #[test]
    fn an_overlay_is_a_nosuid_nodev_volume_of_the_local_driver_that_copies_nothing_in() {
        let overlay = OverlayMount {
            target: "/out".into(),
            upper: "/w/o".into(),
            lower: "/w/l".into(),
            work: "/w/w".into(),
            labels: HashMap::from([("crucible.task".to_owned(), "t".to_owned())]),
        };
        let mount = overlay.mount();
        assert_eq!(mount.typ, Some(MountType::VOLUME));
        assert_eq!(mount.source, None, "anonymous: removed with its container");
        let volume = mount.volume_options.unwrap();
        assert_eq!(volume.no_copy, Some(true));
        assert_eq!(volume.labels.unwrap()["crucible.task"], "t");
        let options = volume.driver_config.unwrap().options.unwrap();
        assert_eq!(options["type"], "overlay");
        assert_eq!(options["o"], "lowerdir=/w/l,upperdir=/w/o,workdir=/w/w,nosuid,nodev");
    }
}
