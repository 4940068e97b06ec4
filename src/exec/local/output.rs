//! A training's output as hostile data: what counts as output (regular files, and links that stay
//! inside it), what refuses it (special files, links leading out or nowhere, setuid or setgid bits),
//! and the quota watched while the container runs, so a training that fills the disk is stopped then
//! rather than found out after it exits.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What an output may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    pub max_bytes: u64,
    /// Entries of every kind, directories included: inodes, which a disk runs out of too.
    pub max_entries: u64,
}

/// What an acceptable output holds (WandB's offline directory is counted in bytes and entries but
/// holds no model files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    pub files: u64,
    pub bytes: u64,
    pub entries: u64,
}

/// WandB's offline directory inside the output (`contract::environment`).
const WANDB: &str = ".wandb";

/// Walks the output at `root` without following anything and judges each entry; the first problem
/// found is the reason, naming the path relative to the output.
pub fn inspect(root: &Path, limits: OutputLimits) -> Result<Summary, String> {
    let real_root = std::fs::canonicalize(root).map_err(|e| format!("cannot read the output: {e}"))?;
    let mut summary = Summary::default();
    let mut pending: Vec<(PathBuf, bool)> = vec![(root.to_path_buf(), false)];
    while let Some((dir, in_wandb)) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", relative(root, &dir)))?;
        for entry in entries {
            let path = entry.map_err(|e| format!("cannot read {}: {e}", relative(root, &dir)))?.path();
            let name = relative(root, &path);
            let meta = path.symlink_metadata().map_err(|e| format!("cannot read {name}: {e}"))?;
            summary.entries += 1;
            if summary.entries > limits.max_entries {
                return Err(format!("output too large: more than {} files and directories", limits.max_entries));
            }
            let kind = meta.file_type();
            if kind.is_dir() {
                pending.push((path.clone(), in_wandb || (dir == root && path.ends_with(WANDB))));
            } else if kind.is_file() {
                if meta.permissions().mode() & 0o6000 != 0 {
                    return Err(format!("output holds a setuid or setgid file: {name}"));
                }
                summary.bytes += meta.len();
                summary.files += u64::from(!in_wandb);
            } else if kind.is_symlink() {
                let target = std::fs::canonicalize(&path)
                    .map_err(|_| format!("output holds a link that leads nowhere: {name}"))?;
                if !target.starts_with(&real_root) {
                    return Err(format!("output holds a link leading out of it: {name}"));
                }
                summary.files += u64::from(!in_wandb);
            } else {
                let what = if kind.is_fifo() {
                    "a FIFO"
                } else if kind.is_socket() {
                    "a socket"
                } else {
                    "a device"
                };
                return Err(format!("output holds {what}, not a regular file: {name}"));
            }
            if summary.bytes > limits.max_bytes {
                return Err(format!("output too large: more than {} bytes", limits.max_bytes));
            }
        }
    }
    Ok(summary)
}

/// Bytes and entries under `root` (nothing followed, nothing judged): what the quota watches.
fn usage(root: &Path, limits: OutputLimits) -> (u64, u64) {
    let (mut bytes, mut entries, mut pending) = (0u64, 0u64, vec![root.to_path_buf()]);
    while let Some(dir) = pending.pop() {
        let Ok(list) = std::fs::read_dir(&dir) else { continue };
        for entry in list.flatten() {
            entries += 1;
            match entry.path().symlink_metadata() {
                Ok(meta) if meta.is_dir() => pending.push(entry.path()),
                Ok(meta) => bytes += meta.len(),
                Err(_) => {}
            }
            if bytes > limits.max_bytes || entries > limits.max_entries {
                return (bytes, entries);
            }
        }
    }
    (bytes, entries)
}

/// Resolves once the output at `root` passes a limit, with the reason; looks every `interval`.
pub async fn over_quota(root: PathBuf, limits: OutputLimits, interval: Duration) -> String {
    loop {
        tokio::time::sleep(interval).await;
        let dir = root.clone();
        let Ok((bytes, entries)) = tokio::task::spawn_blocking(move || usage(&dir, limits)).await else { continue };
        if bytes > limits.max_bytes {
            return format!("output over quota while training: more than {} bytes", limits.max_bytes);
        }
        if entries > limits.max_entries {
            return format!("output over quota while training: more than {} files and directories", limits.max_entries);
        }
    }
}

/// Removes `dir` and everything in it, including directories a training left without write or
/// search permission (every file it left is owned by the validator's user or by `nobody` under a
/// root validator, so opening the directories back up is always possible), and the empty, closed
/// directory overlayfs leaves in its work directory (owned by root, but empty, so removable).
pub fn remove_tree(dir: &Path) -> std::io::Result<()> {
    if std::fs::remove_dir_all(dir).is_ok() || !dir.exists() {
        return Ok(());
    }
    remove_entry(dir)
}

fn remove_entry(path: &Path) -> std::io::Result<()> {
    if !path.symlink_metadata()?.is_dir() {
        return std::fs::remove_file(path);
    }
    if std::fs::remove_dir(path).is_ok() {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    for entry in std::fs::read_dir(path)? {
        remove_entry(&entry?.path())?;
    }
    std::fs::remove_dir(path)
}

/// What the filesystem holding `dir` lacks of `nosuid` and `nodev` (docs/security.md asks for both on
/// the work directory); `None` when it cannot be told.
pub fn missing_mount_flags(dir: &Path) -> Option<Vec<&'static str>> {
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: statvfs writes the struct it is given for the NUL-terminated path it is given.
    if unsafe { libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    let flags = unsafe { stat.assume_init() }.f_flag;
    let mut missing = Vec::new();
    if flags & libc::ST_NOSUID == 0 {
        missing.push("nosuid");
    }
    if flags & libc::ST_NODEV == 0 {
        missing.push("nodev");
    }
    Some(missing)
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    const LIMITS: OutputLimits = OutputLimits { max_bytes: 1 << 20, max_entries: 100 };

    fn output() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("model")).unwrap();
        std::fs::write(dir.path().join("model/weights.safetensors"), [7u8; 1000]).unwrap();
        dir
    }

    #[test]
    fn regular_files_and_inner_links_count() {
        let dir = output();
        symlink("model/weights.safetensors", dir.path().join("latest")).unwrap();
        std::fs::create_dir_all(dir.path().join(".wandb/run")).unwrap();
        std::fs::write(dir.path().join(".wandb/run/log"), "x").unwrap();
        let summary = inspect(dir.path(), LIMITS).unwrap();
        assert_eq!(summary, Summary { files: 2, bytes: 1001, entries: 6 });
    }

    #[test]
    fn special_files_and_stray_links_refuse_the_output_by_name() {
        let dir = output();
        symlink("/etc/passwd", dir.path().join("config.json")).unwrap();
        assert_eq!(inspect(dir.path(), LIMITS).unwrap_err(), "output holds a link leading out of it: config.json");

        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("output");
        std::fs::create_dir_all(root.join("model")).unwrap();
        std::fs::write(outer.path().join("outside"), "x").unwrap();
        symlink("../../outside", root.join("model/up")).unwrap();
        assert_eq!(inspect(&root, LIMITS).unwrap_err(), "output holds a link leading out of it: model/up");

        let dir = output();
        symlink("missing", dir.path().join("dangling")).unwrap();
        assert_eq!(inspect(dir.path(), LIMITS).unwrap_err(), "output holds a link that leads nowhere: dangling");

        let dir = output();
        let fifo = std::ffi::CString::new(dir.path().join("pipe").to_str().unwrap()).unwrap();
        // SAFETY: mkfifo reads the path it is given.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        assert_eq!(inspect(dir.path(), LIMITS).unwrap_err(), "output holds a FIFO, not a regular file: pipe");

        let dir = output();
        let tool = dir.path().join("model/tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o4755)).unwrap();
        assert_eq!(inspect(dir.path(), LIMITS).unwrap_err(), "output holds a setuid or setgid file: model/tool");
    }

    #[test]
    fn sizes_and_entries_are_capped_wandb_included() {
        let dir = output();
        std::fs::create_dir_all(dir.path().join(".wandb")).unwrap();
        std::fs::write(dir.path().join(".wandb/huge"), vec![0u8; 2 << 20]).unwrap();
        assert_eq!(inspect(dir.path(), LIMITS).unwrap_err(), "output too large: more than 1048576 bytes");
        let dir = output();
        for n in 0..120 {
            std::fs::write(dir.path().join(format!("f{n}")), "").unwrap();
        }
        assert_eq!(inspect(dir.path(), LIMITS).unwrap_err(), "output too large: more than 100 files and directories");
    }

    #[test]
    fn the_mount_flags_of_a_directory_are_read_as_the_mount_table_says() {
        let table = std::fs::read_to_string("/proc/mounts").unwrap();
        for point in ["/", "/proc", "/sys", "/dev"] {
            // The last mount on a point is the one in effect.
            let Some(options) = table.lines().rev().map(|l| l.split(' ').collect::<Vec<_>>()).find(|f| f[1] == point)
            else {
                continue;
            };
            let options: Vec<&str> = options[3].split(',').collect();
            let wanted: Vec<&str> = ["nosuid", "nodev"].into_iter().filter(|o| !options.contains(o)).collect();
            assert_eq!(missing_mount_flags(Path::new(point)), Some(wanted), "{point}");
        }
        assert_eq!(missing_mount_flags(Path::new("/nonexistent/dir")), None);
    }

    #[test]
    fn a_tree_of_closed_directories_is_removed() {
        let dir = output();
        let locked = dir.path().join("model/locked");
        std::fs::create_dir_all(locked.join("inner")).unwrap();
        std::fs::write(locked.join("inner/file"), "x").unwrap();
        std::fs::set_permissions(locked.join("inner"), std::fs::Permissions::from_mode(0o000)).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o500)).unwrap();
        remove_tree(dir.path()).unwrap();
        assert!(!dir.path().exists());
    }

    #[tokio::test]
    async fn the_quota_is_watched_while_the_output_grows() {
        let dir = output();
        let watch = tokio::spawn(over_quota(dir.path().to_path_buf(), LIMITS, Duration::from_millis(20)));
        std::fs::write(dir.path().join("more"), vec![0u8; 2 << 20]).unwrap();
        let reason = watch.await.unwrap();
        assert_eq!(reason, "output over quota while training: more than 1048576 bytes");
    }
}
