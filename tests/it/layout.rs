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
