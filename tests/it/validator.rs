//! `crucible validator` on the wall clock: it starts tournaments, stops cleanly on SIGTERM, and a
//! restart on the same database restores what was live.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn start(db: &std::path::Path) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args(["validator", "--log-format", "json"])
        .env("CRUCIBLE_DATABASE__URL", format!("sqlite://{}", db.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the validator starts");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (lines, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    (child, receiver)
}

/// Waits (with a deadline) for a log line containing `needle`.
fn wait_for(lines: &mpsc::Receiver<String>, needle: &str) -> String {
    loop {
        match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(e) => panic!("no log line with {needle:?}: {e}"),
        }
    }
}

fn terminate(child: &mut Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
}

#[test]
fn sigterm_stops_the_validator_cleanly_and_a_restart_restores_its_tournaments() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("validator.db");
    let (mut child, lines) = start(&db);
    let created = wait_for(&lines, "TournamentCreated");
    let line: serde_json::Value = serde_json::from_str(&created).expect("JSON log lines");
    assert_eq!(line["level"], "INFO");
    terminate(&mut child);
    wait_for(&lines, "\"stopped\"");
    assert!(child.wait().unwrap().success(), "a clean stop exits with 0");

    let (mut child, lines) = start(&db);
    wait_for(&lines, "restoring tournament");
    terminate(&mut child);
    assert!(child.wait().unwrap().success());
}
