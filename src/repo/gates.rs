//! The repository gates (execution.md §2) on a checked-out repository: the tournament's dockerfile is
//! there, no compiled or obfuscated code (each rejection names the file and the rule), optional
//! LICENSE/NOTICE texts, and size caps so a hostile repository cannot exhaust the validator.
//!
//! Reads the checkout only; never follows a symbolic link, and rejects links that point outside it.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::sniff;
use crate::domain::TournamentType;

/// The gates' limits (`[gates]` in the configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateRules {
    pub max_repo_bytes: u64,
    pub max_files: usize,
    /// A text line at least this long is checked for its entropy.
    pub packed_line_chars: usize,
    /// A line at least `packed_line_chars` long with more bits of entropy per character than this is packed.
    pub max_line_entropy_bits: f64,
    /// A text file holding at least `min_encoded_bytes` of encoded payload (base64, long hex runs) that
    /// make more than this share of its non-blank bytes is packed, however its lines are wrapped.
    #[serde(default = "default_max_encoded_share")]
    pub max_encoded_share: f64,
    #[serde(default = "default_min_encoded_bytes")]
    pub min_encoded_bytes: usize,
    /// Paths (`*` within a directory, `**` across) where archives and serialized objects are
    /// allowed, as data the training reads; executables are refused everywhere.
    #[serde(default)]
    pub allowed_binaries: Vec<String>,
    /// When set, `LICENSE` (or `LICENSE.md`) must equal this text line by line, trailing spaces ignored.
    #[serde(default)]
    pub license_text: Option<String>,
    /// When set, `NOTICE` must equal this text likewise.
    #[serde(default)]
    pub notice_text: Option<String>,
    /// The hosts a repository URL may name; empty: any public host (always over `https://`).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Also fetch from `file://` URLs, local paths, `http://` and private addresses: for `trial` and
    /// tests, never for a validator facing miners.
    #[serde(default)]
    pub allow_local: bool,
    /// The address space of each git process of a fetch, in MiB.
    #[serde(default = "default_fetch_memory_mib")]
    pub fetch_memory_mib: u64,
    /// The time one repository's fetch may take at registration, so a slow one never holds the others
    /// past it.
    #[serde(default = "default_registration_fetch_secs")]
    pub registration_fetch_secs: u64,
}

fn default_max_encoded_share() -> f64 {
    0.5
}

fn default_min_encoded_bytes() -> usize {
    4096
}

fn default_fetch_memory_mib() -> u64 {
    4096
}

fn default_registration_fetch_secs() -> u64 {
    120
}

impl Default for GateRules {
    fn default() -> Self {
        Self {
            max_repo_bytes: 256 * 1024 * 1024,
            max_files: 20_000,
            packed_line_chars: 2_000,
            max_line_entropy_bits: 5.2,
            max_encoded_share: default_max_encoded_share(),
            min_encoded_bytes: default_min_encoded_bytes(),
            allowed_binaries: Vec::new(),
            license_text: None,
            notice_text: None,
            allowed_hosts: Vec::new(),
            allow_local: false,
            fetch_memory_mib: default_fetch_memory_mib(),
            registration_fetch_secs: default_registration_fetch_secs(),
        }
    }
}

/// Why a repository fails the gates: what a miner reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateFailure {
    #[error("missing {0}")]
    MissingDockerfile(String),
    #[error("{file}: compiled or binary code is not allowed ({rule})")]
    Compiled { file: String, rule: String },
    #[error("{file}: {rule} is not allowed here (gates.allowed_binaries lists where data files may be)")]
    Binary { file: String, rule: String },
    #[error("{file}: looks packed or obfuscated ({rule})")]
    Packed { file: String, rule: String },
    #[error("{file}: does not match the required text (line {line})")]
    Licence { file: String, line: usize },
    #[error("missing {0}, which must hold the required text")]
    MissingLicence(String),
    #[error("repository too large: {0}")]
    TooLarge(String),
    #[error("{file}: symbolic link pointing outside the repository")]
    EscapingLink { file: String },
    #[error("cannot read {file}: {reason}")]
    Unreadable { file: String, reason: String },
}

/// The dockerfile a tournament type builds.
pub fn dockerfile(tournament_type: TournamentType) -> String {
    format!("dockerfiles/standalone-{tournament_type}-trainer.dockerfile")
}

const COMPILED_EXTENSIONS: &[&str] =
    &["pyc", "pyo", "so", "dll", "dylib", "exe", "bin", "o", "a", "class", "jar", "wasm"];
/// Serialized Python objects, which run code when loaded.
const SERIALIZED_EXTENSIONS: &[&str] = &["pkl", "pickle", "joblib", "pt", "pth", "ckpt"];
const PACKER_MARKERS: &[&str] =
    &["pyarmor", "__pyarmor__", "PyArmor", "pytransform", "PY00", "marshal.loads(", "exec(zlib.decompress"];

/// Runs every gate on the checkout at `root`; the first failure found is returned.
pub fn check(root: &Path, tournament_type: TournamentType, rules: &GateRules) -> Result<(), GateFailure> {
    let files = walk(root, rules)?;
    let wanted = dockerfile(tournament_type);
    if !root.join(&wanted).is_file() {
        return Err(GateFailure::MissingDockerfile(wanted));
    }
    for file in &files {
        inspect(root, file, rules)?;
    }
    licence(root, &["LICENSE", "LICENSE.md"], rules.license_text.as_deref())?;
    licence(root, &["NOTICE"], rules.notice_text.as_deref())
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

/// Every regular file of the checkout (`.git` excluded), within the size caps.
fn walk(root: &Path, rules: &GateRules) -> Result<Vec<PathBuf>, GateFailure> {
    let unreadable =
        |p: &Path, e: std::io::Error| GateFailure::Unreadable { file: relative(root, p), reason: e.to_string() };
    let (mut files, mut bytes, mut pending) = (Vec::new(), 0u64, vec![root.to_path_buf()]);
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).map_err(|e| unreadable(&dir, e))? {
            let path = entry.map_err(|e| unreadable(&dir, e))?.path();
            let meta = fs::symlink_metadata(&path).map_err(|e| unreadable(&path, e))?;
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).map_err(|e| unreadable(&path, e))?;
                let escapes = target.is_absolute() || target.components().any(|c| c == std::path::Component::ParentDir);
                if escapes {
                    return Err(GateFailure::EscapingLink { file: relative(root, &path) });
                }
            } else if meta.is_dir() {
                if path.file_name().is_some_and(|n| n == ".git") && dir == root {
                    continue;
                }
                pending.push(path);
            } else {
                bytes += meta.len();
                files.push(path);
                if files.len() > rules.max_files {
                    return Err(GateFailure::TooLarge(format!("more than {} files", rules.max_files)));
                }
                if bytes > rules.max_repo_bytes {
                    return Err(GateFailure::TooLarge(format!("more than {} bytes", rules.max_repo_bytes)));
                }
            }
        }
    }
    files.sort();
    Ok(files)
}

fn inspect(root: &Path, path: &Path, rules: &GateRules) -> Result<(), GateFailure> {
    let file = relative(root, path);
    let compiled = |rule: String| GateFailure::Compiled { file: file.clone(), rule };
    let allowed = rules.allowed_binaries.iter().any(|p| sniff::matches(p, &file));
    let binary = |rule: String| if allowed { Ok(()) } else { Err(GateFailure::Binary { file: file.clone(), rule }) };
    if let Some(ext) = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase) {
        if COMPILED_EXTENSIONS.contains(&ext.as_str()) {
            return Err(compiled(format!("*.{ext} files")));
        }
        if SERIALIZED_EXTENSIONS.contains(&ext.as_str()) {
            binary(format!("a serialized object (*.{ext})"))?;
        }
    }
    let bytes = fs::read(path).map_err(|e| GateFailure::Unreadable { file: file.clone(), reason: e.to_string() })?;
    match sniff::kind(&bytes) {
        Some(sniff::Kind::Executable(what)) => return Err(compiled(format!("{what}, by its content"))),
        Some(sniff::Kind::Packed(what)) => binary(format!("{what}, by its content"))?,
        None => {}
    }
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(()); // Binary data (images, audio) is data, not code; the kinds above were caught.
    };
    let packed = |rule: String| GateFailure::Packed { file: file.clone(), rule };
    for marker in PACKER_MARKERS {
        if text.contains(marker) {
            return Err(packed(format!("packer marker {marker:?}")));
        }
    }
    let (encoded, total) = sniff::encoded(text);
    if encoded >= rules.min_encoded_bytes && encoded as f64 > rules.max_encoded_share * total as f64 {
        let share = 100.0 * encoded as f64 / total as f64;
        return Err(packed(format!("{encoded} bytes of base64 or hex, {share:.0} % of the file")));
    }
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.len() < rules.packed_line_chars {
            continue;
        }
        let bits = entropy(line);
        if bits > rules.max_line_entropy_bits {
            return Err(packed(format!("line {} has {bits:.2} bits of entropy per character", number + 1)));
        }
    }
    Ok(())
}

/// Shannon entropy in bits per character.
fn entropy(text: &str) -> f64 {
    let mut counts = [0usize; 256];
    for b in text.bytes() {
        counts[b as usize] += 1;
    }
    let n = text.len() as f64;
    counts.iter().filter(|c| **c > 0).map(|c| *c as f64 / n).map(|p| -p * p.log2()).sum()
}

fn licence(root: &Path, names: &[&str], required: Option<&str>) -> Result<(), GateFailure> {
    let Some(required) = required else { return Ok(()) };
    let Some(name) = names.iter().find(|n| root.join(n).is_file()) else {
        return Err(GateFailure::MissingLicence(names.join(" or ")));
    };
    let found = fs::read_to_string(root.join(name))
        .map_err(|e| GateFailure::Unreadable { file: (*name).into(), reason: e.to_string() })?;
    let lines = |t: &str| t.trim_end().lines().map(|l| l.trim_end().to_owned()).collect::<Vec<_>>();
    let (want, have) = (lines(required), lines(&found));
    if let Some(line) = (0..want.len().max(have.len())).find(|i| want.get(*i) != have.get(*i)) {
        return Err(GateFailure::Licence { file: (*name).into(), line: line + 1 });
    }
    Ok(())
}

#[cfg(test)]
#[path = "gates_tests.rs"]
mod tests;
