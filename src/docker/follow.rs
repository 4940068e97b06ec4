//! Following a running container to its end, its time limit, or a watch that stops it early, and
//! reading how it ended. The engine's wait stream is not the truth: it breaks when the engine
//! restarts, and bollard reports a non-zero exit as an error. Only the container's own state, once it
//! says the container is no longer running, gives an exit code; an engine that cannot say makes the
//! run lost, never an exit 0 whose partial output would be evaluated.

use std::time::Duration;

use bollard::models::ContainerStateStatusEnum;
use bollard::query_parameters::{LogsOptionsBuilder, StopContainerOptionsBuilder, WaitContainerOptionsBuilder};
use futures_util::StreamExt;
use tokio::time::Instant;

use super::Engine;
use super::build::engine_message;

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEnd {
    pub exit_code: i64,
    pub oom_killed: bool,
    /// The time limit struck and the container was stopped.
    pub timed_out: bool,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
    /// Why a watch stopped it before its end (an output over its quota), if one did.
    pub stopped_for: Option<String>,
    /// The engine could not say how it ended (it stopped answering while the container ran): the run
    /// is lost, never read as an exit code.
    pub lost: Option<String>,
}

/// A condition watched while a container runs: when it resolves, the container is stopped and the
/// reason it gives is the [`ContainerEnd::stopped_for`].
pub type Watch = std::pin::Pin<Box<dyn std::future::Future<Output = String>>>;

impl ContainerEnd {
    /// The last non-empty line it wrote to stderr (else stdout): the line a failure is named by.
    pub fn last_error_line(&self) -> Option<&str> {
        fn last(lines: &[String]) -> Option<&str> {
            lines.iter().rev().map(|l| l.trim()).find(|l| !l.is_empty())
        }
        last(&self.stderr).or_else(|| last(&self.stdout))
    }
}

/// How many lines of output are kept.
const TAIL: &str = "200";

/// The last lines of a container's stdout and stderr.
pub async fn logs(engine: &Engine, id: &str) -> (Vec<String>, Vec<String>) {
    let options = LogsOptionsBuilder::default().stdout(true).stderr(true).tail(TAIL).build();
    let mut stream = engine.docker().logs(id, Some(options));
    let (mut out, mut err) = (String::new(), String::new());
    while let Some(Ok(chunk)) = stream.next().await {
        match chunk {
            bollard::container::LogOutput::StdErr { message } => err.push_str(&String::from_utf8_lossy(&message)),
            other => out.push_str(&String::from_utf8_lossy(&other.into_bytes())),
        }
    }
    let lines = |s: String| s.lines().map(str::to_owned).collect::<Vec<_>>();
    (lines(out), lines(err))
}

/// How many times in a row the engine may fail to say how a container is before the run is lost.
const LOOKS: u32 = 6;

/// Waits for a running (or already ended) container; stops it when `limit` strikes.
pub async fn follow(engine: &Engine, id: &str, limit: Duration) -> ContainerEnd {
    follow_watched(engine, id, limit, None).await
}

/// How a wait ended.
enum Waited {
    /// The wait stream ended or broke: the container's state says which.
    Stream,
    TimedOut,
    Watch(String),
}

/// [`follow`], stopping the container early when `watch` resolves.
pub async fn follow_watched(engine: &Engine, id: &str, limit: Duration, watch: Option<Watch>) -> ContainerEnd {
    let deadline = Instant::now() + limit;
    let mut watch = watch;
    let (mut timed_out, mut stopped_for, mut lost, mut failures) = (false, None, None, 0);
    loop {
        match wait(engine, id, deadline, watch.as_mut()).await {
            Waited::TimedOut => timed_out = true,
            Waited::Watch(reason) => stopped_for = Some(reason),
            Waited::Stream => match state(engine, id).await {
                Ok(State::Ended) => {}
                Ok(State::NeverStarted) => lost = Some("the container was created but never started".to_owned()),
                Ok(State::Running) => {
                    // The stream broke while the container runs (an engine restart): wait again.
                    failures = 0;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                Err(e) => {
                    failures += 1;
                    if failures < LOOKS {
                        tokio::time::sleep(Duration::from_millis(200 * u64::from(failures))).await;
                        continue;
                    }
                    lost = Some(format!("the Docker engine could not say how the container ended: {e}"));
                }
            },
        }
        break;
    }
    if timed_out || stopped_for.is_some() || lost.is_some() {
        let grace = if timed_out { 10 } else { 1 };
        let options = StopContainerOptionsBuilder::default().t(grace).build();
        if let Err(e) = engine.docker().stop_container(id, Some(options)).await {
            tracing::warn!(container = id, error = %engine_message(&e), "could not stop a container");
        }
    }
    let (mut exit_code, mut oom_killed) = inspect_end(engine, id).await;
    // A kill by the kernel's OOM killer can reach the engine a moment after the exit: ask again
    // before calling a SIGKILL anything else.
    for _ in 0..4 {
        if exit_code != 137 || oom_killed || timed_out || stopped_for.is_some() || lost.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        (exit_code, oom_killed) = inspect_end(engine, id).await;
    }
    let (stdout, stderr) = logs(engine, id).await;
    ContainerEnd { exit_code, oom_killed, timed_out, stdout, stderr, stopped_for, lost }
}

/// One wait on the engine's stream, bounded by the deadline and the watch.
async fn wait(engine: &Engine, id: &str, deadline: Instant, watch: Option<&mut Watch>) -> Waited {
    let options = WaitContainerOptionsBuilder::default().condition("not-running").build();
    let stream = async {
        // The first item (an answer or an error) or the stream's end: either way, look at the state.
        let _ = engine.docker().wait_container(id, Some(options)).next().await;
    };
    let watched = async {
        match watch {
            Some(watch) => watch.await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        waited = tokio::time::timeout_at(deadline, stream) => match waited {
            Ok(()) => Waited::Stream,
            Err(_) => Waited::TimedOut,
        },
        reason = watched => Waited::Watch(reason),
    }
}

/// Where a container is, as the engine's inspection says.
enum State {
    Running,
    Ended,
    NeverStarted,
}

async fn state(engine: &Engine, id: &str) -> Result<State, String> {
    let inspected = engine.docker().inspect_container(id, None).await.map_err(|e| engine_message(&e))?;
    let status = inspected.state.and_then(|s| s.status).ok_or("the engine reported no state")?;
    Ok(match status {
        ContainerStateStatusEnum::RUNNING | ContainerStateStatusEnum::PAUSED | ContainerStateStatusEnum::RESTARTING => {
            State::Running
        }
        ContainerStateStatusEnum::CREATED => State::NeverStarted,
        _ => State::Ended,
    })
}

/// Exit code and OOM flag of an ended container.
async fn inspect_end(engine: &Engine, id: &str) -> (i64, bool) {
    match engine.docker().inspect_container(id, None).await {
        Ok(c) => {
            let state = c.state.unwrap_or_default();
            (state.exit_code.unwrap_or(-1), state.oom_killed.unwrap_or(false))
        }
        Err(e) => {
            tracing::warn!(container = id, error = %engine_message(&e), "could not inspect container");
            (-1, false)
        }
    }
}

#[cfg(test)]
#[path = "follow_tests.rs"]
mod tests;
