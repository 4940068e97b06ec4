//! Fetches of real git repositories made here: hostile trees refused before checkout, limits that
//! name themselves, and git run with nothing of the caller's environment.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

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

fn local(rules: GateRules) -> FetchLimits {
    FetchLimits::new(&GateRules { allow_local: true, ..rules }, Duration::from_secs(60))
}

#[tokio::test]
async fn bad_references_and_urls_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let limits = FetchLimits::new(&GateRules::default(), Duration::from_secs(5));
    let err = fetch("", "main", dir.path(), &limits).await.unwrap_err();
    assert_eq!(err, FetchError::EmptyUrl);
    let err = fetch("/x", "-x", dir.path(), &limits).await.unwrap_err();
    assert!(err.to_string().contains("\"-x\""), "{err}");
    let err = fetch("--upload-pack=x", "main", dir.path(), &limits).await.unwrap_err();
    assert!(err.to_string().contains("not a URL"), "{err}");
    let err = fetch("/srv/repo", "main", dir.path(), &limits).await.unwrap_err();
    assert_eq!(err.to_string(), "\"/srv/repo\" is not an https:// URL");
    let err = fetch("https://10.0.0.7/miner/trainer", "main", dir.path(), &limits).await.unwrap_err();
    assert_eq!(err.to_string(), "host \"10.0.0.7\" is a local or private address (10.0.0.7)");
}

/// Runs git in `dir` with a fixed identity; its trimmed stdout (`input` on its stdin).
fn git(dir: &Path, args: &[&str], input: &str) -> String {
    let mut child = StdCommand::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A repository whose one commit holds `files`; its path.
fn repository(root: &Path, files: &[(&str, &[u8])]) -> PathBuf {
    let path = root.join("source");
    std::fs::create_dir_all(&path).unwrap();
    git(&path, &["init", "-q"], "");
    for (name, bytes) in files {
        std::fs::write(path.join(name), bytes).unwrap();
    }
    git(&path, &["add", "-A"], "");
    git(&path, &["commit", "-qm", "files"], "");
    path
}

fn checked_out(dest: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dest)
        .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.retain(|n| n != ".git");
    names.sort();
    names
}

#[tokio::test]
async fn a_local_repository_is_fetched_at_its_branch_and_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let source = repository(dir.path(), &[("train.sh", b"echo train\n")]);
    let head = git(&source, &["rev-parse", "HEAD"], "");
    let dest = dir.path().join("dest");
    let sha = fetch(&source.display().to_string(), "main", &dest, &local(GateRules::default())).await.unwrap();
    assert_eq!(sha, head);
    assert_eq!(checked_out(&dest), ["train.sh"]);
}

/// A tree of `depth` levels of ten directories each, all the same object, over ten copies of one
/// blob: 10^(depth+1) files in a few hundred bytes of objects.
fn git_bomb(root: &Path, depth: usize) -> PathBuf {
    let path = root.join("bomb");
    std::fs::create_dir_all(&path).unwrap();
    git(&path, &["init", "-q"], "");
    let blob = git(&path, &["hash-object", "-w", "--stdin"], "boom\n");
    let entries = |mode: &str, kind: &str, object: &str| {
        (0..10).map(|i| format!("{mode} {kind} {object}\tf{i}\n")).collect::<String>()
    };
    let mut tree = git(&path, &["mktree"], &entries("100644", "blob", &blob));
    for _ in 0..depth {
        tree = git(&path, &["mktree"], &entries("040000", "tree", &tree));
    }
    let commit = git(&path, &["commit-tree", &tree, "-m", "bomb"], "");
    git(&path, &["update-ref", "refs/heads/main", &commit], "");
    path
}

#[tokio::test]
async fn a_git_bomb_is_refused_from_its_objects_before_any_checkout() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = git_bomb(dir.path(), 8); // a billion files
    let dest = dir.path().join("dest");
    let err = fetch(&bomb.display().to_string(), "main", &dest, &local(GateRules::default())).await.unwrap_err();
    assert_eq!(err.to_string(), "repository too large: more than 20000 files (checked before checkout)");
    assert!(checked_out(&dest).is_empty(), "nothing was checked out");
}

#[tokio::test]
async fn a_tree_larger_than_the_cap_is_refused_before_checkout() {
    let dir = tempfile::tempdir().unwrap();
    // Zeros pack small: the fetch passes, the tree's recorded size does not.
    let source = repository(dir.path(), &[("weights.bin", &vec![0u8; 3 << 20])]);
    let dest = dir.path().join("dest");
    let rules = GateRules { max_repo_bytes: 1 << 20, ..GateRules::default() };
    let err = fetch(&source.display().to_string(), "main", &dest, &local(rules)).await.unwrap_err();
    assert_eq!(err.to_string(), "repository too large: more than 1048576 bytes (checked before checkout)");
    assert!(checked_out(&dest).is_empty());
}

#[tokio::test]
async fn a_pack_past_the_file_size_limit_stops_git_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    // Bytes that do not compress make a pack larger than the limit: git is stopped as it writes it.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..3 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect();
    let source = repository(dir.path(), &[("noise.bin", &noise)]);
    let dest = dir.path().join("dest");
    let rules = GateRules { max_repo_bytes: 1 << 20, ..GateRules::default() };
    let err = fetch(&source.display().to_string(), "main", &dest, &local(rules)).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("git is limited to files of 1048576 bytes"), "{text}");
    assert!(checked_out(&dest).is_empty());
}

#[tokio::test]
async fn a_source_that_never_answers_ends_at_the_time_limit() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    // Accepts and holds every connection without a byte of answer.
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let limits = FetchLimits { time: Duration::from_secs(2), ..local(GateRules::default()) };
    let url = format!("http://{address}/miner/trainer");
    let err = fetch(&url, "main", &dir.path().join("dest"), &limits).await.unwrap_err();
    assert_eq!(err, FetchError::Timeout { url, secs: 2 });
    held.abort();
}

#[test]
fn git_runs_with_none_of_the_callers_configuration_or_environment() {
    let dir = tempfile::tempdir().unwrap();
    let admitted = source::admit("https://github.com/miner/trainer", &[], false).unwrap();
    let limits = FetchLimits::new(&GateRules::default(), Duration::from_secs(5));
    let git = Git { dir: dir.path(), admitted: &admitted, limits: &limits };
    let command = git.command(&["fetch"]);
    let command = command.as_std();
    let envs: std::collections::BTreeMap<String, Option<String>> = command
        .get_envs()
        .map(|(k, v)| (k.to_string_lossy().into_owned(), v.map(|v| v.to_string_lossy().into_owned())))
        .collect();
    let value = |name: &str| envs.get(name).cloned().flatten();
    assert_eq!(value("GIT_CONFIG_GLOBAL").as_deref(), Some("/dev/null"));
    assert_eq!(value("GIT_CONFIG_NOSYSTEM").as_deref(), Some("1"));
    assert_eq!(value("GIT_ALLOW_PROTOCOL").as_deref(), Some("https"));
    assert_eq!(value("GIT_LFS_SKIP_SMUDGE").as_deref(), Some("1"));
    let allowed = ["PATH", "HOME", "LC_ALL", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"];
    for name in envs.keys().filter(|n| !n.starts_with("GIT_")) {
        assert!(allowed.contains(&name.as_str()), "{name} reaches git");
    }
    let args: Vec<String> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    assert!(args.windows(2).any(|w| w == ["-c", "credential.helper="]), "{args:?}");
    assert!(args.windows(2).any(|w| w == ["-c", "core.hooksPath=/dev/null"]), "{args:?}");
}
