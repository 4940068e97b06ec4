//! A cgroup of its own for each miner build, under the operator's parent cgroup, whose `pids.max`
//! caps the processes of the build's RUN steps. The classic builder has no pids option: a cgroup
//! parent is the one limit the engine honours for builds (docs/security.md). One cgroup per build, so
//! one miner's fork bomb never starves a competitor's build.
//!
//! Works with the engine's `cgroupfs` driver on cgroup v1 (the pids hierarchy) and v2 (the unified
//! one). The validator needs to write under the parent: root does; a non-root validator needs the
//! parent created and given to its user once (docs/security.md shows how).

use std::path::{Path, PathBuf};

/// Where cgroup hierarchies are mounted.
const ROOT: &str = "/sys/fs/cgroup";

/// One build's cgroup; removed (in every hierarchy the engine made it in) when dropped.
#[derive(Debug)]
pub struct BuildCgroup {
    /// The engine's `cgroupparent` for the build: `/<parent>/<id>`.
    pub parent: String,
    relative: PathBuf,
}

/// Makes `<parent>/<id>` with `pids.max = pids`.
pub fn prepare(parent: &str, id: &str, pids: u64) -> Result<BuildCgroup, String> {
    let parent = parent.trim_matches('/');
    let relative = Path::new(parent).join(id);
    let unified = unified();
    let fail = |what: &Path, e: std::io::Error| {
        format!(
            "build cgroup {}: {e} (create {parent} and give it to the validator's user, see docs/security.md)",
            what.display()
        )
    };
    let (base, dir) = (hierarchy().join(parent), hierarchy().join(&relative));
    std::fs::create_dir_all(&base).map_err(|e| fail(&base, e))?;
    if unified {
        // The pids controller must be handed down for `pids.max` to exist in the build's cgroup.
        let control = base.join("cgroup.subtree_control");
        std::fs::write(&control, "+pids").map_err(|e| fail(&control, e))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| fail(&dir, e))?;
    let cgroup = BuildCgroup { parent: format!("/{}", relative.display()), relative };
    let max = dir.join("pids.max");
    std::fs::write(&max, pids.to_string()).map_err(|e| fail(&max, e))?;
    Ok(cgroup)
}

/// Whether this process can make builds' cgroups under `parent`: root can, another user when the
/// parent exists and is its to write.
pub fn usable(parent: &str) -> bool {
    // SAFETY: getuid cannot fail and touches no memory.
    if unsafe { libc::getuid() } == 0 {
        return true;
    }
    let base = hierarchy().join(parent.trim_matches('/'));
    let Ok(path) = std::ffi::CString::new(base.as_os_str().as_encoded_bytes()) else { return false };
    // SAFETY: access reads the NUL-terminated path it is given.
    unsafe { libc::access(path.as_ptr(), libc::W_OK) == 0 }
}

/// Whether this host has the unified (v2) hierarchy.
fn unified() -> bool {
    Path::new(ROOT).join("cgroup.controllers").exists()
}

/// The hierarchy a build's `pids.max` lives in: the unified one, or v1's pids hierarchy.
fn hierarchy() -> PathBuf {
    if unified() { PathBuf::from(ROOT) } else { Path::new(ROOT).join("pids") }
}

impl Drop for BuildCgroup {
    fn drop(&mut self) {
        // The engine made the build's cgroup in every hierarchy (v1) under ours: remove them bottom up.
        let Ok(hierarchies) = std::fs::read_dir(ROOT) else { return };
        let mut roots: Vec<PathBuf> = hierarchies.flatten().map(|e| e.path()).collect();
        roots.push(PathBuf::from(ROOT));
        for root in roots {
            remove_under(&root.join(&self.relative));
        }
    }
}

/// Removes an (emptied) cgroup directory and its sub-cgroups, deepest first; cgroup directories
/// hold only control files, which go with `rmdir`.
fn remove_under(dir: &Path) {
    if !dir.is_dir() {
        return;
    }
    if let Ok(children) = std::fs::read_dir(dir) {
        for child in children.flatten() {
            if child.file_type().is_ok_and(|t| t.is_dir()) {
                remove_under(&child.path());
            }
        }
    }
    if let Err(e) = std::fs::remove_dir(dir) {
        tracing::debug!(cgroup = %dir.display(), error = %e, "could not remove a build cgroup");
    }
}
