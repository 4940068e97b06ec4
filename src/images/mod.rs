//! The validator-owned images, built without a registry (`crucible images build`): a Debian root
//! filesystem with Debian's torch, `crucible-ml-base` (it plus pinned wheels; miner repositories build
//! `FROM` it), the evaluator and the download step. Every tag is derived from what goes into the
//! image, so the binary names exactly the images its own recipe makes, a second build is a no-op, and
//! a changed recipe can never be mistaken for an old image.

mod build;

use sha2::{Digest, Sha256};

pub use build::{BuildOptions, ImagesError, build_all};

include!(concat!(env!("OUT_DIR"), "/evaluator_files.rs"));

/// The Debian release the root filesystem is made from (its `python3-torch` is 2.6, on Python 3.13).
pub const SUITE: &str = "trixie";
/// Where Debian's packages come from unless `--mirror` says otherwise.
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
/// The Python the wheels are downloaded for: the one in [`SUITE`].
pub const PYTHON_VERSION: &str = "3.13";

pub const DEBIAN_PACKAGES: &str = include_str!("../../images/debian-packages.txt");
pub const REQUIREMENTS: &str = include_str!("../../images/requirements.txt");
pub const ML_BASE_DOCKERFILE: &str = include_str!("../../images/ml-base.dockerfile");
pub const EVALUATOR_DOCKERFILE: &str = include_str!("../../images/evaluator.dockerfile");
pub const DOWNLOAD_DOCKERFILE: &str = include_str!("../../images/download.dockerfile");

/// The repository names of the images.
pub const ROOT_REPO: &str = "crucible-ml-root";
pub const ML_BASE_REPO: &str = "crucible-ml-base";
pub const EVALUATOR_REPO: &str = "crucible-evaluator";
pub const DOWNLOAD_REPO: &str = "crucible-download";

/// The lines of a list file that mean something: no comments, no blank lines.
pub fn entries(list: &str) -> Vec<&str> {
    list.lines().map(|l| l.split('#').next().unwrap_or("").trim()).filter(|l| !l.is_empty()).collect()
}

fn digest(parts: &[&[u8]]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part);
    }
    hash.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The tags of one recipe, each derived from its own inputs and the image it builds on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tags {
    pub root: String,
    pub ml_base: String,
    pub evaluator: String,
    pub download: String,
}

impl Tags {
    /// The tags of the recipe this binary carries.
    pub fn current() -> Tags {
        let packages = entries(DEBIAN_PACKAGES).join("\n");
        let root = digest(&[SUITE.as_bytes(), packages.as_bytes()]);
        let wheels = entries(REQUIREMENTS).join("\n");
        let base = digest(&[root.as_bytes(), wheels.as_bytes(), ML_BASE_DOCKERFILE.as_bytes()]);
        let mut parts: Vec<&[u8]> = vec![base.as_bytes(), EVALUATOR_DOCKERFILE.as_bytes()];
        for (path, contents) in EVALUATOR_FILES {
            parts.push(path.as_bytes());
            parts.push(contents);
        }
        let evaluator = digest(&parts);
        let download = digest(&[evaluator.as_bytes(), DOWNLOAD_DOCKERFILE.as_bytes()]);
        Tags {
            root: format!("{ROOT_REPO}:{root}"),
            ml_base: format!("{ML_BASE_REPO}:{base}"),
            evaluator: format!("{EVALUATOR_REPO}:{evaluator}"),
            download: format!("{DOWNLOAD_REPO}:{download}"),
        }
    }
}

/// The evaluator image this binary's recipe builds: the default `local_executor.evaluator_image`.
pub fn evaluator_image() -> String {
    Tags::current().evaluator
}

/// The download image this binary's recipe builds: the default `local_executor.download_image`.
pub fn download_image() -> String {
    Tags::current().download
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_stable_hex_digests_per_repository() {
        let tags = Tags::current();
        assert_eq!(tags, Tags::current());
        for (tag, repo) in [
            (&tags.root, ROOT_REPO),
            (&tags.ml_base, ML_BASE_REPO),
            (&tags.evaluator, EVALUATOR_REPO),
            (&tags.download, DOWNLOAD_REPO),
        ] {
            let (name, digest) = tag.split_once(':').unwrap();
            assert_eq!(name, repo);
            assert_eq!(digest.len(), 12);
            assert!(digest.chars().all(|c| c.is_ascii_hexdigit()));
        }
    }

    #[test]
    fn list_entries_ignore_comments_and_blank_lines() {
        assert_eq!(entries("# a\n\npython3-torch\n  numpy # why\n"), ["python3-torch", "numpy"]);
        assert!(entries(DEBIAN_PACKAGES).contains(&"python3-torch"));
        assert!(entries(REQUIREMENTS).iter().all(|l| l.contains("==") && l.contains("--hash=sha256:")));
    }

    #[test]
    fn the_evaluator_sources_are_carried_by_the_binary() {
        assert!(EVALUATOR_FILES.iter().any(|(path, _)| *path == "crucible_eval/__main__.py"));
        assert!(EVALUATOR_FILES.iter().all(|(path, _)| !path.contains("__pycache__")));
    }
}
