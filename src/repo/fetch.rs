//! Fetching a miner repository at the commit it submitted (execution.md §2 step 1, §3 "fetch"): a
//! shallow fetch of exactly that commit (or of a branch, resolved once to its SHA) into a directory
//! private to one training or one registration check.
//!
//! Every byte is hostile: the source must pass [`super::source`]'s policy; git runs with no user or
//! system configuration, no credential helper, no hooks, no LFS smudge, only the admitted protocols,
//! under a time limit and file-size and memory limits; the fetched tree's file count and size are read
//! from its objects and checked before anything is checked out, so a git bomb never reaches the disk.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncBufReadExt;
use tokio::process::Command;

use super::gates::GateRules;
use super::source::{self, Admitted, SourceRefused};

/// Why a repository could not be fetched: what a miner reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("repository URL is empty")]
    EmptyUrl,
    #[error("{0}")]
    Refused(SourceRefused),
    #[error("commit {0:?} is neither a 40-hex SHA nor a plain branch name")]
    BadReference(String),
    #[error("git fetch of {reference} from {url} failed: {detail}")]
    Git { url: String, reference: String, detail: String },
    #[error("git fetch of {url} took longer than {secs} s")]
    Timeout { url: String, secs: u64 },
    #[error("fetched {got}, not the submitted commit {wanted}")]
    WrongCommit { wanted: String, got: String },
    #[error("repository too large: {0} (checked before checkout)")]
    TooLarge(String),
    #[error("cannot run git: {0}")]
    NoGit(String),
}

/// What a fetch may use and where it may come from.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchLimits {
    pub time: Duration,
    /// The tree's total size, and the largest file git may write (its pack included).
    pub max_bytes: u64,
    pub max_files: usize,
    /// The address space of each git process.
    pub memory_bytes: u64,
    pub allowed_hosts: Vec<String>,
    pub allow_local: bool,
}

impl FetchLimits {
    /// The gates' limits and sources, with `time` for the whole fetch.
    pub fn new(rules: &GateRules, time: Duration) -> Self {
        Self {
            time,
            max_bytes: rules.max_repo_bytes,
            max_files: rules.max_files,
            memory_bytes: rules.fetch_memory_mib.saturating_mul(1024 * 1024),
            allowed_hosts: rules.allowed_hosts.clone(),
            allow_local: rules.allow_local,
        }
    }
}

/// A repository as given by a user: an existing local path becomes absolute (the fetch runs in another
/// directory); anything else is a URL and stays as it is.
pub fn source(repo: &str) -> std::io::Result<String> {
    let path = Path::new(repo);
    if repo.is_empty() || !path.exists() {
        return Ok(repo.to_owned());
    }
    Ok(std::fs::canonicalize(path)?.display().to_string())
}

/// Whether `reference` is a full commit SHA (otherwise it is a branch name to resolve).
pub fn is_sha(reference: &str) -> bool {
    reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A branch name git would accept and that cannot be read as an option or a path trick.
fn plain_branch(reference: &str) -> bool {
    !reference.is_empty()
        && !reference.starts_with('-')
        && !reference.contains("..")
        && reference.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b))
}

/// Fetches `url` at `reference` into `dest` (created empty) and checks it out detached. Returns the
/// commit SHA that was checked out, which pins a branch for the rest of the tournament.
pub async fn fetch(url: &str, reference: &str, dest: &Path, limits: &FetchLimits) -> Result<String, FetchError> {
    let url = url.trim();
    if url.is_empty() {
        return Err(FetchError::EmptyUrl);
    }
    if url.starts_with('-') {
        return Err(FetchError::Git { url: url.into(), reference: reference.into(), detail: "not a URL".into() });
    }
    let reference = reference.trim();
    if !is_sha(reference) && !plain_branch(reference) {
        return Err(FetchError::BadReference(reference.into()));
    }
    let admitted = source::admit(url, &limits.allowed_hosts, limits.allow_local).map_err(FetchError::Refused)?;
    let steps = async {
        source::resolve(&admitted).await.map_err(FetchError::Refused)?;
        std::fs::create_dir_all(dest).map_err(|e| FetchError::NoGit(format!("{}: {e}", dest.display())))?;
        let git = Git { dir: dest, admitted: &admitted, limits };
        git.run(&["init", "--quiet"]).await?;
        git.run(&["fetch", "--quiet", "--depth", "1", "--no-tags", "--end-of-options", url, reference]).await?;
        git.tree_within_limits().await?;
        git.run(&["-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", "FETCH_HEAD"]).await?;
        git.run(&["rev-parse", "HEAD"]).await
    };
    let got = match tokio::time::timeout(limits.time, steps).await {
        Err(_) => return Err(FetchError::Timeout { url: url.into(), secs: limits.time.as_secs() }),
        Ok(result) => result.map_err(|e| match e {
            FetchError::Git { detail, .. } => FetchError::Git { url: url.into(), reference: reference.into(), detail },
            other => other,
        })?,
    };
    if is_sha(reference) && !got.eq_ignore_ascii_case(reference) {
        return Err(FetchError::WrongCommit { wanted: reference.into(), got });
    }
    Ok(got)
}

/// Git in one directory, with nothing of the operator's configuration and under the fetch's limits.
struct Git<'a> {
    dir: &'a Path,
    admitted: &'a Admitted,
    limits: &'a FetchLimits,
}

/// Settings given on every command line: they win over anything a repository's own config could say.
const HARDENING: &[&str] = &[
    "-c",
    "credential.helper=",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.askPass=true",
    "-c",
    "submodule.recurse=false",
    "-c",
    "pack.threads=1",
    "-c",
    "index.threads=1",
];

impl Git<'_> {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("git");
        command
            .args(HARDENING)
            .args(args)
            .current_dir(self.dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()))
            .env("HOME", self.dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_ALLOW_PROTOCOL", self.admitted.protocols)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "true")
            .env("GIT_LFS_SKIP_SMUDGE", "1")
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        // An operator's HTTPS proxy still applies; nothing else of the environment does.
        for name in ["https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"] {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        let (file_size, memory) = (self.limits.max_bytes, self.limits.memory_bytes);
        // SAFETY: between fork and exec the closure only calls setrlimit, which is async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                limit(libc::RLIMIT_FSIZE, file_size)?;
                limit(libc::RLIMIT_AS, memory)
            });
        }
        command
    }

    /// Runs one git command; its trimmed stdout, or the last line of stderr as the failure.
    async fn run(&self, args: &[&str]) -> Result<String, FetchError> {
        let out = self.command(args).output().await.map_err(|e| FetchError::NoGit(e.to_string()))?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut detail = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("git failed").trim().to_owned();
        if stderr.contains("signal") || std::os::unix::process::ExitStatusExt::signal(&out.status).is_some() {
            detail.push_str(&format!(
                " (git is limited to files of {} bytes and {} MiB of memory)",
                self.limits.max_bytes,
                self.limits.memory_bytes / (1024 * 1024)
            ));
        }
        Err(FetchError::Git { url: String::new(), reference: String::new(), detail })
    }

    /// Reads the fetched tree's entries from its objects and stops at the first cap it passes: a tree
    /// that would check out more files or bytes than the gates allow is never checked out.
    async fn tree_within_limits(&self) -> Result<(), FetchError> {
        let mut child = self
            .command(&["ls-tree", "-r", "-l", "-z", "--full-tree", "FETCH_HEAD"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| FetchError::NoGit(e.to_string()))?;
        let stdout = child.stdout.take().ok_or_else(|| FetchError::NoGit("no output from git ls-tree".into()))?;
        let mut reader = tokio::io::BufReader::new(stdout);
        let (mut entry, mut files, mut bytes) = (Vec::new(), 0usize, 0u64);
        let unreadable = |e: std::io::Error| FetchError::NoGit(format!("reading git ls-tree: {e}"));
        while reader.read_until(0, &mut entry).await.map_err(unreadable)? > 0 {
            // `<mode> <type> <object> <size>\t<path>\0`; only blobs take space in a checkout.
            let meta = entry.split(|b| *b == b'\t').next().unwrap_or_default();
            let fields: Vec<&[u8]> = meta.split(|b| *b == b' ').filter(|f| !f.is_empty()).collect();
            if fields.get(1) == Some(&&b"blob"[..]) {
                files += 1;
                bytes += fields.get(3).and_then(|f| std::str::from_utf8(f).ok()?.parse::<u64>().ok()).unwrap_or(0);
            }
            if files > self.limits.max_files {
                return Err(FetchError::TooLarge(format!("more than {} files", self.limits.max_files)));
            }
            if bytes > self.limits.max_bytes {
                return Err(FetchError::TooLarge(format!("more than {} bytes", self.limits.max_bytes)));
            }
            entry.clear();
        }
        let status = child.wait().await.map_err(|e| FetchError::NoGit(e.to_string()))?;
        if !status.success() {
            return Err(FetchError::Git {
                url: String::new(),
                reference: String::new(),
                detail: "the fetched commit's tree cannot be read".into(),
            });
        }
        Ok(())
    }
}

/// Sets a resource limit of the calling process (soft and hard).
fn limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let bound = libc::rlimit { rlim_cur: value as libc::rlim_t, rlim_max: value as libc::rlim_t };
    // SAFETY: setrlimit reads the struct it is given and nothing else.
    if unsafe { libc::setrlimit(resource, &bound) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
#[path = "fetch_tests.rs"]
mod tests;
