//! Embeds into the binary what it must carry to work anywhere: the database migrations (by
//! `embed_migrations!`) and the evaluator's Python sources, which `crucible images build` copies into
//! the evaluator image, so an installed binary builds the evaluator its own code expects.
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=evaluator");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("evaluator");
    let mut files = Vec::new();
    for dir in ["crucible_eval", "tests"] {
        collect(&root, &root.join(dir), &mut files);
    }
    files.sort();
    let mut out = String::from("/// The evaluator's sources: (path under `evaluator/`, contents).\n");
    out.push_str("pub const EVALUATOR_FILES: &[(&str, &[u8])] = &[\n");
    for (relative, absolute) in &files {
        out.push_str(&format!("    ({relative:?}, include_bytes!({:?})),\n", absolute.display().to_string()));
    }
    out.push_str("];\n");
    let target = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("evaluator_files.rs");
    std::fs::write(target, out).expect("write evaluator_files.rs");
}

/// Every `.py` file under `dir`, with its path relative to `root` ('/'-separated).
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if entry.file_name() != "__pycache__" {
                collect(root, &path, files);
            }
        } else if path.extension().is_some_and(|e| e == "py") {
            let relative = path.strip_prefix(root).expect("under root");
            let relative = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>();
            files.push((relative.join("/"), path));
        }
    }
}
