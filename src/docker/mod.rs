//! The Docker engine through bollard (execution.md §3): connecting with a clear error, building an
//! image from a checkout, and running one container under the limits of a training or an evaluation.
//! Never shells out to the `docker` program.

pub mod build;
pub mod cgroup;
pub mod container;
mod follow;

use bollard::Docker;

pub use build::{BuildError, BuildLimits, build_image, context_tar};
pub use container::{ContainerEnd, ContainerSpec, StartError};

/// A connected, answering Docker engine.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    /// The host's CPU count as the engine reports it; CPU limits above it are refused.
    cpus: i64,
    /// The engine's cgroup driver (`cgroupfs` or `systemd`), which decides what a cgroup parent is.
    cgroup_driver: String,
}

/// Why no engine can be used.
#[derive(Debug, thiserror::Error)]
#[error("Docker engine at {place} cannot be used: {reason}")]
pub struct EngineError {
    pub place: String,
    pub reason: String,
}

impl Engine {
    /// Connects to `DOCKER_HOST`, or the local socket, negotiates the API version and pings.
    pub async fn connect() -> Result<Engine, EngineError> {
        let place = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
        let fail = |e: bollard::errors::Error| EngineError { place: place.clone(), reason: e.to_string() };
        let docker = Docker::connect_with_local_defaults().map_err(fail)?;
        Self::with_docker(docker, &place).await
    }

    /// An engine through a connection made elsewhere (`place` names it in errors): negotiates the API
    /// version and pings.
    pub async fn with_docker(docker: Docker, place: &str) -> Result<Engine, EngineError> {
        let fail = |e: bollard::errors::Error| EngineError { place: place.to_owned(), reason: e.to_string() };
        let docker = docker.negotiate_version().await.map_err(fail)?;
        docker.ping().await.map_err(fail)?;
        let info = docker.info().await.map_err(fail)?;
        let cpus = info.ncpu.unwrap_or(1).max(1);
        let cgroup_driver = info.cgroup_driver.map(|d| d.to_string()).unwrap_or_else(|| "cgroupfs".into());
        Ok(Engine { docker, cpus, cgroup_driver })
    }

    /// How many CPUs the engine's host has.
    pub fn cpus(&self) -> i64 {
        self.cpus
    }

    /// The engine's cgroup driver: `cgroupfs` or `systemd`.
    pub fn cgroup_driver(&self) -> &str {
        &self.cgroup_driver
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Whether an image with this name is present on the engine (nothing is ever pulled).
    pub async fn has_image(&self, name: &str) -> bool {
        self.docker.inspect_image(name).await.is_ok()
    }

    /// Removes an image; a missing one is fine.
    pub async fn remove_image(&self, name: &str) {
        let options = bollard::query_parameters::RemoveImageOptionsBuilder::default().force(true).build();
        if let Err(e) = self.docker.remove_image(name, Some(options), None).await
            && !is_not_found(&e)
        {
            tracing::warn!(image = name, error = %e, "could not remove image");
        }
    }
}

/// Whether bollard reports a 404 from the engine.
pub fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}
