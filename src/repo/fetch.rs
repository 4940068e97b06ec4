//! Fetching a miner repository at the commit it submitted (execution.md §2 step 1, §3 "fetch"): a
//! shallow fetch of exactly that commit (or of a branch, resolved once to its SHA) into a directory
//! private to one training or one registration check.
//!
//! Runs the `git` program with a time limit, no terminal prompts and no inherited credentials helper;
//! the source may be any URL git understands or a local path (for `trial` and tests).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

/// Why a repository could not be fetched: what a miner reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("repository URL is empty")]
    EmptyUrl,
    #[error("commit {0:?} is neither a 40-hex SHA nor a plain branch name")]
    BadReference(String),
    #[error("git fetch of {reference} from {url} failed: {detail}")]
    Git { url: String, reference: String, detail: String },
    #[error("git fetch of {url} took longer than {secs} s")]
    Timeout { url: String, secs: u64 },
    #[error("fetched {got}, not the submitted commit {wanted}")]
    WrongCommit { wanted: String, got: String },
    #[error("cannot run git: {0}")]
    NoGit(String),
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
pub async fn fetch(url: &str, reference: &str, dest: &Path, limit: Duration) -> Result<String, FetchError> {
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
    let steps = async {
        std::fs::create_dir_all(dest).map_err(|e| FetchError::NoGit(format!("{}: {e}", dest.display())))?;
        git(dest, &["init", "--quiet"]).await?;
        git(dest, &["fetch", "--quiet", "--depth", "1", "--no-tags", url, reference]).await?;
        git(dest, &["-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", "FETCH_HEAD"]).await?;
        git(dest, &["rev-parse", "HEAD"]).await
    };
    let got = match tokio::time::timeout(limit, steps).await {
        Err(_) => return Err(FetchError::Timeout { url: url.into(), secs: limit.as_secs() }),
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

/// Runs one git command in `dir`; its trimmed stdout, or the last line of stderr as the failure.
async fn git(dir: &Path, args: &[&str]) -> Result<String, FetchError> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("GIT_DIR")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| FetchError::NoGit(e.to_string()))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let detail = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("git failed").trim().to_owned();
    Err(FetchError::Git { url: String::new(), reference: String::new(), detail })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_shas_or_plain_branches() {
        assert!(is_sha(&"a".repeat(40)));
        assert!(!is_sha(&"a".repeat(39)));
        assert!(plain_branch("main"));
        assert!(plain_branch("feature/x-1.2"));
        assert!(!plain_branch("--upload-pack=evil"));
        assert!(!plain_branch("a..b"));
        assert!(!plain_branch("a b"));
    }

    #[tokio::test]
    async fn bad_references_and_urls_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = fetch("", "main", dir.path(), Duration::from_secs(5)).await.unwrap_err();
        assert_eq!(err, FetchError::EmptyUrl);
        let err = fetch("/x", "-x", dir.path(), Duration::from_secs(5)).await.unwrap_err();
        assert!(err.to_string().contains("\"-x\""), "{err}");
        let err = fetch("--upload-pack=x", "main", dir.path(), Duration::from_secs(5)).await.unwrap_err();
        assert!(err.to_string().contains("not a URL"), "{err}");
    }
}
