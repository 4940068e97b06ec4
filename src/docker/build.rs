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

/// [`build_image`] with `ARG` values, handing every line of the build's output to `on_line`.
pub async fn build_reporting(
    engine: &Engine,
    context: Vec<u8>,
    build: Build<'_>,
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
        let mut stream = engine.docker().build_image(options, None, Some(bollard::body_full(context.into())));
        let mut last = String::new();
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| BuildError::Engine(engine_message(&e)))?;
            if let Some(detail) = info.error_detail {
                let message = detail.message.unwrap_or_else(|| "the engine reported an error".into());
                return Err(BuildError::Engine(one_line(&message)));
            }
            if let Some(line) = info.stream.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
                tracing::debug!(tag, line, "build");
                on_line(line);
                last = line.to_owned();
            }
        }
        tracing::debug!(tag, last, "built");
        Ok(())
    };
    tokio::time::timeout(limit, build).await.map_err(|_| BuildError::Timeout(limit.as_secs()))?
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
