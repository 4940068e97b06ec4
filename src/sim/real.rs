//! The miners of a real simulation (`simulate --real`): variants of the example trainer
//! (`examples/trainer`), each a commit of one local git repository that differs from the example only
//! in `trainer.toml`, the way a miner copies the example and tunes it. The house trains the `base`
//! variant (the example as shipped) while there is no champion.
//!
//! The repository is rebuilt the same way every time (fixed author, dates and order), so its commit
//! SHAs are the same and a resumed run finds the commits its trainings were given.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::miners::Submission;

/// One variant: a name, what it is for, and the `trainer.toml` keys it changes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Variant {
    pub name: &'static str,
    pub about: &'static str,
    /// `(table, key, value)`: the value as TOML text.
    pub edits: &'static [(&'static str, &'static str, &'static str)],
}

/// The house's trainer while there is no champion: the example as shipped.
pub const BASE: Variant = Variant { name: "base", about: "the example trainer as shipped (the house)", edits: &[] };

/// The miners, best first by design: what the tournament should find out.
pub const MINERS: [Variant; 4] = [
    Variant {
        name: "tuned",
        about: "two epochs, DPO to the end, GRPO at a higher learning rate",
        edits: &[
            ("train", "epochs", "2"),
            ("DpoTask", "max_steps", "0"),
            ("GrpoTask", "learning_rate", "5e-3"),
            ("GrpoTask", "max_steps", "30"),
        ],
    },
    Variant {
        name: "timid",
        about: "a learning rate ten times lower",
        edits: &[
            ("train", "learning_rate", "3e-4"),
            ("DpoTask", "learning_rate", "3e-4"),
            ("GrpoTask", "learning_rate", "2e-4"),
            ("GrpoTask", "max_steps", "30"),
        ],
    },
    Variant {
        name: "unchanged",
        about: "returns the base model unchanged",
        edits: &[("train", "mode", "\"unchanged\""), ("image", "mode", "\"unchanged\"")],
    },
    Variant {
        name: "diverging",
        about: "a learning rate of 10 (1 for images), for a few steps",
        edits: &[
            ("train", "learning_rate", "10.0"),
            ("train", "max_steps", "30"),
            ("DpoTask", "learning_rate", "10.0"),
            ("DpoTask", "max_steps", "30"),
            ("GrpoTask", "learning_rate", "10.0"),
            ("GrpoTask", "max_steps", "30"),
            ("image", "learning_rate", "1.0"),
            ("image", "max_steps", "20"),
        ],
    },
];

/// The miner variant called `name`.
pub fn miner(name: &str) -> Option<&'static Variant> {
    MINERS.iter().find(|v| v.name == name)
}

/// The variants' repository, made: where it is and each variant's submission.
#[derive(Debug, Clone)]
pub struct Repository {
    pub path: PathBuf,
    pub base: Submission,
    /// In the order of [`MINERS`].
    pub miners: Vec<(Variant, Submission)>,
}

/// Makes (or remakes) the repository of the variants in `dir` from the example trainer at `example`:
/// one commit per variant on its own branch, each on top of the example as shipped.
pub fn prepare(example: &Path, dir: &Path) -> anyhow::Result<Repository> {
    let config = example.join("trainer.toml");
    let original = std::fs::read_to_string(&config)
        .map_err(|e| anyhow::anyhow!("{} is not the example trainer: {e}", config.display()))?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot clear {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    copy_tree(example, dir)?;
    let path = std::fs::canonicalize(dir)?;
    git(&path, &["init", "-q", "-b", "base"])?;
    git(&path, &["add", "-A"])?;
    git(&path, &["commit", "-q", "-m", BASE.about])?;
    let base = Submission { repo_url: path.display().to_string(), commit_hash: git(&path, &["rev-parse", "HEAD"])? };
    let mut miners = Vec::new();
    for variant in MINERS {
        git(&path, &["checkout", "-q", "-b", variant.name, "base"])?;
        std::fs::write(path.join("trainer.toml"), edit(&original, variant.edits))?;
        git(&path, &["commit", "-q", "-am", &format!("{}: {}", variant.name, variant.about)])?;
        let commit_hash = git(&path, &["rev-parse", "HEAD"])?;
        miners.push((variant, Submission { repo_url: path.display().to_string(), commit_hash }));
    }
    git(&path, &["checkout", "-q", "base"])?;
    Ok(Repository { path, base, miners })
}

/// Runs git in `dir` with a fixed identity and dates and none of the operator's configuration;
/// returns its trimmed output.
fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .args(["-c", "user.name=crucible", "-c", "user.email=simulate@crucible.invalid", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_DATE", "2026-12-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-12-01T00:00:00Z")
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run git: {e}"))?;
    anyhow::ensure!(out.status.success(), "git {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Copies a repository's files (not its `.git`, nor Python caches) from `from` into `to`, in name order.
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(from)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        if name == ".git" || name == "__pycache__" || name == ".pytest_cache" {
            continue;
        }
        let kind = entry.file_type()?;
        let target = to.join(&name);
        if kind.is_dir() {
            std::fs::create_dir_all(&target)?;
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// `text` (a TOML file) with each `(table, key, value)` set: the key's line in its table replaced, or
/// added at the top of the table, or the table added at the end. Comments and the rest stay as they are.
pub fn edit(text: &str, edits: &[(&str, &str, &str)]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for (table, key, value) in edits {
        let header = format!("[{table}]");
        let setting = format!("{key} = {value}");
        let Some(start) = lines.iter().position(|l| l.trim() == header) else {
            lines.extend([String::new(), header, setting]);
            continue;
        };
        let end = lines[start + 1..]
            .iter()
            .position(|l| l.trim_start().starts_with('['))
            .map_or(lines.len(), |i| start + 1 + i);
        let existing = (start + 1..end).find(|&i| {
            let line = lines[i].trim_start();
            line.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('='))
        });
        match existing {
            Some(i) => lines[i] = setting,
            None => lines.insert(start + 1, setting),
        }
    }
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_replaces_a_key_in_its_own_table_and_keeps_the_rest() {
        let text = "# top\n[train]\n# lr\nlearning_rate = 3e-3\nepochs = 1\n\n[DpoTask]\nlearning_rate = 1e-3\n";
        let edited = edit(text, &[("DpoTask", "learning_rate", "2e-3"), ("train", "epochs", "3")]);
        assert_eq!(
            edited,
            "# top\n[train]\n# lr\nlearning_rate = 3e-3\nepochs = 3\n\n[DpoTask]\nlearning_rate = 2e-3\n"
        );
    }

    #[test]
    fn a_missing_key_or_table_is_added() {
        let text = "[train]\nmode = \"lora\"\nmax_steps_x = 1\n";
        let edited = edit(text, &[("train", "max_steps", "5"), ("GrpoTask", "max_steps", "7")]);
        assert_eq!(edited, "[train]\nmax_steps = 5\nmode = \"lora\"\nmax_steps_x = 1\n\n[GrpoTask]\nmax_steps = 7\n");
    }

    #[test]
    fn the_repository_has_a_commit_per_variant_and_the_same_shas_every_time() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/trainer");
        let dir = tempfile::tempdir().unwrap();
        let first = prepare(&example, &dir.path().join("miners")).unwrap();
        let again = prepare(&example, &dir.path().join("miners")).unwrap();
        assert_eq!(first.base, again.base);
        assert_eq!(
            first.miners.iter().map(|m| &m.1).collect::<Vec<_>>(),
            again.miners.iter().map(|m| &m.1).collect::<Vec<_>>()
        );
        let shas: std::collections::HashSet<_> = first.miners.iter().map(|(_, s)| &s.commit_hash).collect();
        assert_eq!(shas.len(), MINERS.len());
        let shown = git(&first.path, &["show", &format!("{}:trainer.toml", first.miners[2].1.commit_hash)]).unwrap();
        assert!(shown.contains("mode = \"unchanged\""), "{shown}");
    }
}
