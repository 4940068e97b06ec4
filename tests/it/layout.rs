//! The layout promises of the architecture, checked on the source itself.

use std::fs;
use std::path::Path;

/// The pure rules import no IO crate and touch neither files, network nor clock.
#[test]
fn domain_imports_no_io() {
    let forbidden = [
        "actix",
        "diesel",
        "bollard",
        "reqwest",
        "tokio",
        "std::fs",
        "std::net",
        "std::process",
        "SystemTime",
        "Utc::now",
        "thread_rng",
        "rand::rng(",
    ];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domain");
    let mut checked = 0;
    for entry in fs::read_dir(&dir).expect("src/domain exists") {
        let path = entry.expect("readable entry").path();
        let text = fs::read_to_string(&path).expect("readable source");
        for (number, line) in text.lines().enumerate().filter(|(_, l)| !l.trim_start().starts_with("//")) {
            for word in forbidden {
                assert!(!line.contains(word), "{}:{} uses {word}", path.display(), number + 1);
            }
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} files checked");
}

/// Every `crate::<module>` a source line names, with where: `(from, to, file:line)` for each
/// top-level module of `src/` (a directory or a file beside `lib.rs`), comments left out.
fn module_edges() -> Vec<(String, String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut edges = Vec::new();
    let mut pending = vec![src.clone()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("readable source directory") {
            let path = entry.expect("readable entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path.strip_prefix(&src).expect("under src").to_string_lossy().into_owned();
            let from = relative.split('/').next().unwrap_or_default().trim_end_matches(".rs").to_owned();
            if from == "lib" || from == "main" || !relative.ends_with(".rs") {
                continue;
            }
            let text = fs::read_to_string(&path).expect("readable source");
            for (number, line) in text.lines().enumerate().filter(|(_, l)| !l.trim_start().starts_with("//")) {
                for (at, _) in line.match_indices("crate::") {
                    let name: String =
                        line[at + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    if !name.is_empty() && name != from {
                        edges.push((from.clone(), name, format!("src/{relative}:{}", number + 1)));
                    }
                }
            }
        }
    }
    edges
}

/// Every edge `(from, to, where)` whose target leads back to its source, in words.
fn cycles(edges: &[(String, String, String)]) -> Vec<String> {
    let reaches = |start: &str, goal: &str| {
        let (mut pending, mut seen) = (vec![start.to_owned()], std::collections::BTreeSet::new());
        while let Some(module) = pending.pop() {
            for (_, to, _) in edges.iter().filter(|(from, _, _)| *from == module) {
                if to == goal {
                    return true;
                }
                if seen.insert(to.clone()) {
                    pending.push(to.clone());
                }
            }
        }
        false
    };
    edges
        .iter()
        .filter(|(from, to, _)| reaches(to, from))
        .map(|(from, to, at)| format!("{from} -> {to} ({at}), and {to} leads back to {from}"))
        .collect()
}

/// The top-level modules form layers: no module reaches itself through the others, so each can be
/// read (and tested) knowing only those below it.
#[test]
fn top_level_modules_form_no_cycle() {
    let edges = module_edges();
    assert!(edges.len() > 100, "only {} imports found", edges.len());
    let mut cycles = cycles(&edges);
    cycles.sort();
    cycles.dedup();
    assert!(cycles.is_empty(), "import cycles between top-level modules:\n{}", cycles.join("\n"));
}

/// Production code does not depend on the simulator: only the commands that run it (`cli`) name it; the
/// composition root (`app`) takes its executor and registration as backends it is given.
#[test]
fn production_code_does_not_import_the_simulator() {
    let importers: Vec<_> = module_edges()
        .into_iter()
        .filter(|(from, to, _)| to == "sim" && from != "cli")
        .map(|(from, _, at)| format!("{from} at {at}"))
        .collect();
    assert!(importers.is_empty(), "the simulator is imported by:\n{}", importers.join("\n"));
}

/// `lib.rs` lists the top-level modules from the top layer down; each imports only those below it.
#[test]
fn top_level_modules_import_only_those_lib_rs_lists_below_them() {
    let lib = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).expect("src/lib.rs");
    let mut order = Vec::new();
    for line in lib.lines().filter_map(|l| l.strip_prefix("//! * ")) {
        let names = line.split(':').next().unwrap_or_default();
        order.extend(names.split(", ").map(|n| n.trim_matches('`').to_owned()));
    }
    let position = |module: &str| order.iter().position(|m| m == module);
    let mut wrong = Vec::new();
    for (from, to, at) in module_edges() {
        match (position(&from), position(&to)) {
            (Some(f), Some(t)) if t < f => wrong.push(format!("{from} imports {to}, listed above it ({at})")),
            (Some(_), Some(_)) => {}
            _ => wrong.push(format!("{from} or {to} is missing from lib.rs's layout ({at})")),
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(order.len() >= 15, "lib.rs lists only {order:?}");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The modules `dir` declares (its files but `mod.rs`, and its directories), each with the files
/// whose `super::` is `dir`: a module's own file, or a directory's `mod.rs`.
fn children(dir: &Path) -> Vec<(String, std::path::PathBuf)> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).expect("readable source directory") {
        let path = entry.expect("readable entry").path();
        let name = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        if path.is_dir() && path.join("mod.rs").exists() {
            found.push((name, path.join("mod.rs")));
        } else if path.extension().is_some_and(|e| e == "rs") && !["mod", "lib", "main"].contains(&name.as_str()) {
            found.push((name, path));
        }
    }
    found
}

/// Within every directory, the modules side by side form no cycle through `super::` or `crate::`
/// paths either (a module and its parent may name each other).
#[test]
fn sibling_modules_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut dirs = vec![src.clone()];
    let mut found = Vec::new();
    let mut checked = 0;
    while let Some(dir) = dirs.pop() {
        let modules = children(&dir);
        let inside = dir.strip_prefix(&src).expect("under src").to_string_lossy().replace('/', "::");
        let prefixes = if inside.is_empty() {
            vec!["crate::".to_owned()]
        } else {
            vec!["super::".to_owned(), format!("crate::{inside}::")]
        };
        let mut edges: Vec<(String, String, String)> = Vec::new();
        for (from, file) in &modules {
            let text = fs::read_to_string(file).expect("readable source");
            for (number, line) in text.lines().enumerate().filter(|(_, l)| !l.trim_start().starts_with("//")) {
                for prefix in &prefixes {
                    for (at, _) in line.match_indices(prefix.as_str()) {
                        let rest = &line[at + prefix.len()..];
                        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                        if name != *from && modules.iter().any(|(m, _)| *m == name) {
                            edges.push((from.clone(), name, format!("{}:{}", file.display(), number + 1)));
                        }
                    }
                }
            }
        }
        found.extend(cycles(&edges));
        checked += 1;
        dirs.extend(fs::read_dir(&dir).expect("readable").flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    assert!(checked >= 15, "only {checked} directories checked");
    assert!(found.is_empty(), "import cycles between sibling modules:\n{}", found.join("\n"));
}

/// An executor returns outcomes: it never writes the store nor drives an actor (exec/mod.rs).
#[test]
fn executors_never_touch_the_store_or_the_actors() {
    let touching: Vec<_> = module_edges()
        .into_iter()
        .filter(|(from, to, _)| from == "exec" && (to == "store" || to == "actors"))
        .map(|(_, to, at)| format!("{to} at {at}"))
        .collect();
    assert!(touching.is_empty(), "exec uses:\n{}", touching.join("\n"));
}
