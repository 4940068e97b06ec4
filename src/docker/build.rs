//! `docker build` of a miner's dockerfile with its checkout as the context, from a plain tar. The
//! build stream is read to the end: any entry carrying an error fails the build, with the engine's
//! message, and the whole build has a time limit.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use bollard::query_parameters::BuildImageOptionsBuilder;
use futures_util::StreamExt;

use super::Engine;

/// Why an image was not built: what a miner reads after `build failed: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Engine(String),
    #[error("took longer than {0} s")]
    Timeout(u64),
    #[error("cannot pack the build context: {0}")]
    Context(String),
}

/// A tar of `dir` as a build context: every file but `.git`, symbolic links kept as links.
pub fn context_tar(dir: &Path) -> Result<Vec<u8>, BuildError> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    let entries = std::fs::read_dir(dir).map_err(|e| BuildError::Context(format!("{}: {e}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(|e| BuildError::Context(e.to_string()))?;
        let name = entry.file_name();
        if name == ".git" {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| BuildError::Context(e.to_string()))?;
        let added =
            if kind.is_dir() { tar.append_dir_all(&name, &path) } else { tar.append_path_with_name(&path, &name) };
        added.map_err(|e| BuildError::Context(format!("{}: {e}", path.display())))?;
    }
    tar.into_inner().map_err(|e| BuildError::Context(e.to_string()))
}

/// Builds `tag` from `context` (a tar) with `dockerfile` (a path inside it), without the layer cache
/// and without pulling base images that are already present.
pub async fn build_image(
    engine: &Engine,
    context: Vec<u8>,
    dockerfile: &str,
    tag: &str,
    labels: &HashMap<String, String>,
    limit: Duration,
) -> Result<(), BuildError> {
    let build = Build { dockerfile, tag, labels, args: &HashMap::new() };
    build_reporting(engine, context, build, limit, &mut |_| {}).await
}

/// What to build: the dockerfile inside the context, the tag, labels and `ARG` values.
pub struct Build<'a> {
    pub dockerfile: &'a str,
    pub tag: &'a str,
    pub labels: &'a HashMap<String, String>,
    pub args: &'a HashMap<String, String>,
}

/// What a build's RUN steps may use. bollard's build options cap memory at 2 GiB and know no cgroup
/// parent, so these reach the engine's `/build` query directly.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuildLimits {
    pub memory_bytes: Option<i64>,
    pub cpus: Option<f64>,
    pub shm_bytes: Option<i64>,
    /// A cgroup the RUN steps run under, whose `pids.max` caps their processes.
    pub cgroup_parent: Option<String>,
    /// The network of the RUN steps: `none`, or a network the operator isolated.
    pub network: Option<String>,
}

impl BuildLimits {
    /// The query parameters these limits add to `/build`.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if let Some(memory) = self.memory_bytes {
            query.extend([("memory", memory.to_string()), ("memswap", memory.to_string())]);
        }
        if let Some(cpus) = self.cpus {
            query.extend([("cpuperiod", "100000".to_owned()), ("cpuquota", ((cpus * 100_000.0) as i64).to_string())]);
        }
        if let Some(shm) = self.shm_bytes {
            query.push(("shmsize", shm.to_string()));
        }
        if let Some(parent) = &self.cgroup_parent {
            query.push(("cgroupparent", parent.clone()));
        }
        if let Some(network) = &self.network {
            query.push(("networkmode", network.clone()));
        }
        query
    }

    /// A connection to `engine` whose `/build` requests carry these limits.
    fn docker(&self, engine: &Engine) -> bollard::Docker {
        let extra: String = self.query().iter().map(|(k, v)| format!("&{k}={}", encode(v))).collect();
        engine.docker().clone().with_request_modifier(move |mut request| {
            if request.uri().path().ends_with("/build") && !extra.is_empty() {
                let uri = request.uri().to_string();
                let joined = if uri.contains('?') { format!("{uri}{extra}") } else { format!("{uri}?{}", &extra[1..]) };
                if let Ok(limited) = joined.parse() {
                    *request.uri_mut() = limited;
                }
            }
            request
        })
    }
}

/// Percent-encodes a query value (cgroup paths hold `/`).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// [`build_image`] with `ARG` values, handing every line of the build's output to `on_line`.
pub async fn build_reporting(
    engine: &Engine,
    context: Vec<u8>,
    build: Build<'_>,
    limit: Duration,
    on_line: &mut (dyn FnMut(&str) + Send),
) -> Result<(), BuildError> {
    build_limited(engine, context, build, &BuildLimits::default(), limit, on_line).await
}

/// [`build_reporting`] with its RUN steps under `limits`.
pub async fn build_limited(
    engine: &Engine,
    context: Vec<u8>,
    build: Build<'_>,
    limits: &BuildLimits,
    limit: Duration,
    on_line: &mut (dyn FnMut(&str) + Send),
) -> Result<(), BuildError> {
    let Build { dockerfile, tag, labels, args } = build;
    let options = BuildImageOptionsBuilder::default()
        .dockerfile(dockerfile)
        .t(tag)
        .rm(true)
        .forcerm(true)
        .nocache(true)
        .labels(labels)
        .buildargs(args)
        .build();
    let build = async {
        let docker = limits.docker(engine);
        let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
        let mut last = String::new();
        while let Some(item) = stream.next().await {
            // The step's own last words say why (a failed fork, a missing file), the engine's only that
            // it failed.
            let failed = |message: String, last: &str| {
                let said = if last.is_empty() { String::new() } else { format!(" (last output: {})", one_line(last)) };
                BuildError::Engine(format!("{message}{said}"))
            };
            let info = item.map_err(|e| failed(engine_message(&e), &last))?;
            if let Some(detail) = info.error_detail {
                let message = detail.message.unwrap_or_else(|| "the engine reported an error".into());
                return Err(failed(one_line(&message), &last));
            }
            // The engine colours a step's stderr with escape sequences, sometimes in chunks of their own.
            let text = info.stream.as_deref().map(without_escapes).unwrap_or_default();
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                tracing::debug!(tag, line, "build");
                on_line(line);
                if !engine_bookkeeping(line) {
                    last = line.to_owned();
                }
            }
        }
        tracing::debug!(tag, last, "built");
        Ok(())
    };
    tokio::time::timeout(limit, build).await.map_err(|_| BuildError::Timeout(limit.as_secs()))?
}

/// `text` without ANSI escape sequences (`ESC [ ... letter`).
fn without_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// A line the engine writes about the build itself rather than one a step printed.
fn engine_bookkeeping(line: &str) -> bool {
    line.starts_with("Step ")
        || line.starts_with("--->")
        || line.starts_with("Removing intermediate container")
        || line.starts_with("Successfully ")
}

/// The message of an engine error without bollard's wrapping.
pub fn engine_message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => one_line(message),
        other => one_line(&other.to_string()),
    }
}

fn one_line(s: &str) -> String {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_bookkeeping_are_not_a_steps_words() {
        assert_eq!(without_escapes("\u{1b}[91msh: can't fork\n\u{1b}[0m"), "sh: can't fork\n");
        assert!(engine_bookkeeping("Removing intermediate container 1f2e"));
        assert!(engine_bookkeeping("Step 2/4 : RUN make"));
        assert!(!engine_bookkeeping("make: *** [all] Error 1"));
    }
}
