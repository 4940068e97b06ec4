//! The steps of `crucible images build`, each skipped when the engine already has its tag: the root
//! filesystem (Debian's `mmdebstrap` on the host, imported into the engine), `crucible-ml-base` (wheels
//! downloaded on the host with their pinned hashes, installed in a build with no network), the
//! evaluator and the download step (this binary's evaluator sources). Every failure names its step.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bollard::query_parameters::{CreateImageOptionsBuilder, TagImageOptionsBuilder};
use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use super::{
    DEBIAN_PACKAGES, DOWNLOAD_DOCKERFILE, EVALUATOR_DOCKERFILE, EVALUATOR_FILES, ML_BASE_DOCKERFILE, ML_BASE_REPO,
    PYTHON_VERSION, REQUIREMENTS, SUITE, Tags, entries,
};
use crate::docker::Engine;
use crate::docker::build::{Build, build_reporting, engine_message};

/// Where the host-side work happens and where Debian's packages come from.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The root filesystem tar and the downloaded wheels are kept here (the wheels for the next run).
    pub work_dir: PathBuf,
    pub mirror: String,
    /// The longest any one step may take.
    pub step_limit: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("{step}: {message}")]
pub struct ImagesError {
    pub step: &'static str,
    pub message: String,
}

fn failed(step: &'static str) -> impl Fn(String) -> ImagesError {
    move |message| ImagesError { step, message }
}

/// Builds whatever of the recipe the engine lacks, reporting progress lines, and returns the tags.
pub async fn build_all(
    engine: &Engine,
    options: &BuildOptions,
    report: &mut (dyn FnMut(&str) + Send),
) -> Result<Tags, ImagesError> {
    let tags = Tags::current();
    let steps = [
        ("root filesystem", &tags.root),
        ("ml-base", &tags.ml_base),
        ("evaluator", &tags.evaluator),
        ("download", &tags.download),
    ];
    for (n, (step, tag)) in steps.into_iter().enumerate() {
        let prefix = format!("[{}/4] {step} {tag}", n + 1);
        if engine.has_image(tag).await {
            report(&format!("{prefix}: present"));
            continue;
        }
        report(&format!("{prefix}: building"));
        let started = std::time::Instant::now();
        let mut detail = |line: &str| report(&format!("      {line}"));
        match n {
            0 => root(engine, options, &tags, &mut detail).await?,
            1 => ml_base(engine, options, &tags, &mut detail).await?,
            2 => evaluator(engine, options, &tags, &mut detail).await?,
            _ => download(engine, options, &tags, &mut detail).await?,
        }
        report(&format!("{prefix}: built in {} s", started.elapsed().as_secs()));
    }
    let latest = TagImageOptionsBuilder::default().repo(ML_BASE_REPO).tag("latest").build();
    engine
        .docker()
        .tag_image(&tags.ml_base, Some(latest))
        .await
        .map_err(|e| failed("ml-base")(format!("cannot tag {ML_BASE_REPO}:latest: {}", engine_message(&e))))?;
    Ok(tags)
}

async fn root(
    engine: &Engine,
    options: &BuildOptions,
    tags: &Tags,
    report: &mut (dyn FnMut(&str) + Send),
) -> Result<(), ImagesError> {
    let step = failed("root filesystem");
    std::fs::create_dir_all(&options.work_dir)
        .map_err(|e| step(format!("cannot create {}: {e}", options.work_dir.display())))?;
    let tar = options.work_dir.join("root.tar");
    let packages = entries(DEBIAN_PACKAGES).join(",");
    let mut command = tokio::process::Command::new("mmdebstrap");
    command.args(["--variant=essential", &format!("--include={packages}"), SUITE]).arg(&tar).arg(&options.mirror);
    run_host(command, "mmdebstrap (Debian package `mmdebstrap`)", options.step_limit, report).await.map_err(&step)?;
    let (repo, tag) = tags.root.split_once(':').expect("tags have a colon");
    let import = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(tag)
        .changes(vec!["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()])
        .build();
    report(&format!("importing {} into the engine", tar.display()));
    let body = file_stream(&tar).await.map_err(&step)?;
    let mut stream = engine.docker().create_image(Some(import), Some(bollard::body_try_stream(body)), None);
    while let Some(item) = stream.next().await {
        item.map_err(|e| step(format!("import: {}", engine_message(&e))))?;
    }
    let _ = std::fs::remove_file(&tar);
    Ok(())
}

async fn ml_base(
    engine: &Engine,
    options: &BuildOptions,
    tags: &Tags,
    report: &mut (dyn FnMut(&str) + Send),
) -> Result<(), ImagesError> {
    let step = failed("ml-base");
    let wheels = options.work_dir.join("wheels");
    std::fs::create_dir_all(&wheels).map_err(|e| step(format!("cannot create {}: {e}", wheels.display())))?;
    let requirements = options.work_dir.join("requirements.txt");
    std::fs::write(&requirements, REQUIREMENTS).map_err(|e| step(format!("{}: {e}", requirements.display())))?;
    let mut command = tokio::process::Command::new("python3");
    command
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--require-hashes"])
        .args(["--python-version", PYTHON_VERSION, "--implementation", "cp"])
        .args(["--platform", "manylinux2014_x86_64", "--platform", "any"])
        .arg("-r")
        .arg(&requirements)
        .arg("-d")
        .arg(&wheels);
    run_host(command, "python3 -m pip download (the host's Python with pip)", options.step_limit, report)
        .await
        .map_err(&step)?;
    let mut files: Vec<(String, Vec<u8>)> =
        vec![("Dockerfile".into(), ML_BASE_DOCKERFILE.into()), ("requirements.txt".into(), REQUIREMENTS.into())];
    for name in wanted_wheels(&wheels).map_err(&step)? {
        let bytes = std::fs::read(wheels.join(&name)).map_err(|e| step(format!("{name}: {e}")))?;
        files.push((format!("wheels/{name}"), bytes));
    }
    let args = HashMap::from([("ROOT".to_owned(), tags.root.clone())]);
    build(engine, files, &tags.ml_base, &args, options.step_limit, report).await.map_err(step)
}

async fn evaluator(
    engine: &Engine,
    options: &BuildOptions,
    tags: &Tags,
    report: &mut (dyn FnMut(&str) + Send),
) -> Result<(), ImagesError> {
    let mut files = vec![("Dockerfile".to_owned(), EVALUATOR_DOCKERFILE.as_bytes().to_vec())];
    files.extend(EVALUATOR_FILES.iter().map(|(path, bytes)| ((*path).to_owned(), bytes.to_vec())));
    let args = HashMap::from([("BASE".to_owned(), tags.ml_base.clone())]);
    build(engine, files, &tags.evaluator, &args, options.step_limit, report).await.map_err(failed("evaluator"))
}

async fn download(
    engine: &Engine,
    options: &BuildOptions,
    tags: &Tags,
    report: &mut (dyn FnMut(&str) + Send),
) -> Result<(), ImagesError> {
    let files = vec![("Dockerfile".to_owned(), DOWNLOAD_DOCKERFILE.as_bytes().to_vec())];
    let args = HashMap::from([("BASE".to_owned(), tags.evaluator.clone())]);
    build(engine, files, &tags.download, &args, options.step_limit, report).await.map_err(failed("download"))
}

/// The wheel files in `dir` that the requirements pin (older downloads of other pins are left out).
fn wanted_wheels(dir: &Path) -> Result<Vec<String>, String> {
    let pins: Vec<(String, String)> = entries(REQUIREMENTS)
        .iter()
        .filter_map(|l| l.split_whitespace().next()?.split_once("=="))
        .map(|(name, version)| (name.to_lowercase().replace('-', "_"), version.to_owned()))
        .collect();
    let mut found = Vec::new();
    let listing = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in listing.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let mut parts = name.split('-');
        let (Some(project), Some(version)) = (parts.next(), parts.next()) else { continue };
        if name.ends_with(".whl") && pins.iter().any(|(p, v)| *p == project.to_lowercase() && v == version) {
            found.push(name);
        }
    }
    if found.len() != pins.len() {
        return Err(format!("expected {} pinned wheels in {}, found {}", pins.len(), dir.display(), found.len()));
    }
    found.sort();
    Ok(found)
}

async fn build(
    engine: &Engine,
    files: Vec<(String, Vec<u8>)>,
    tag: &str,
    args: &HashMap<String, String>,
    limit: Duration,
    report: &mut (dyn FnMut(&str) + Send),
) -> Result<(), String> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, bytes) in &files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        tar.append_data(&mut header, path, bytes.as_slice()).map_err(|e| format!("build context: {e}"))?;
    }
    let context = tar.into_inner().map_err(|e| format!("build context: {e}"))?;
    let labels = HashMap::from([("crucible.role".to_owned(), "image".to_owned())]);
    let build = Build { dockerfile: "Dockerfile", tag, labels: &labels, args };
    let mut steps = |line: &str| {
        if line.starts_with("Step ") {
            report(line);
        }
    };
    build_reporting(engine, context, build, limit, &mut steps).await.map_err(|e| format!("docker build: {e}"))
}

/// Runs a host program to its end, passing its output lines on; an error names the program and ends
/// with its last lines.
async fn run_host(
    mut command: tokio::process::Command,
    what: &str,
    limit: Duration,
    report: &mut (dyn FnMut(&str) + Send),
) -> Result<(), String> {
    command.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null()).kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| format!("cannot run {what}: {e}"))?;
    let stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
    let stderr = BufReader::new(child.stderr.take().expect("piped")).lines();
    let mut lines = futures_util::stream::select(tokio_stream_lines(stdout), tokio_stream_lines(stderr));
    let mut tail: Vec<String> = Vec::new();
    let run = async {
        while let Some(line) = lines.next().await {
            report(&line);
            tail.push(line);
            if tail.len() > 5 {
                tail.remove(0);
            }
        }
        child.wait().await
    };
    let status = tokio::time::timeout(limit, run)
        .await
        .map_err(|_| format!("{what} took longer than {} s", limit.as_secs()))?
        .map_err(|e| format!("{what}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{what} failed ({status}): {}", tail.join(" / "))) }
}

fn tokio_stream_lines<R: tokio::io::AsyncBufRead + Unpin + Send + 'static>(
    lines: tokio::io::Lines<R>,
) -> impl futures_util::Stream<Item = String> + Unpin + Send {
    Box::pin(futures_util::stream::unfold(lines, |mut lines| async move {
        lines.next_line().await.ok().flatten().map(|line| (line, lines))
    }))
}

/// A file as a stream of chunks, for a request body too large to hold in memory.
async fn file_stream(
    path: &Path,
) -> Result<impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static, String> {
    let file = tokio::fs::File::open(path).await.map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(futures_util::stream::unfold(file, |mut file| async move {
        let mut buffer = vec![0u8; 1 << 20];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((Ok(bytes::Bytes::from(buffer)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    }))
}
