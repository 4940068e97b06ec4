//! `crucible simulate` as a user runs it: whole tournaments to weights, reproducible from the seed,
//! and durable: killed with SIGKILL any number of times and restarted, it ends with the same report as
//! an uninterrupted run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn simulate(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_crucible"));
    command.arg("simulate").args(args).env_remove("CRUCIBLE_DATABASE__URL").stdin(Stdio::null());
    command
}

fn report_of(args: &[&str], dir: &Path, name: &str) -> Value {
    let report = dir.join(name);
    let out = simulate(args).args(["--report", report.to_str().unwrap()]).output().expect("simulate runs");
    assert!(out.status.success(), "simulate failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("winner"), "the summary names the winners: {stdout}");
    serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).expect("the report is JSON")
}

#[test]
fn simulate_runs_a_text_and_an_image_tournament_to_weights() {
    let dir = tempfile::tempdir().unwrap();
    let report = report_of(&["--miners", "24", "--seed", "3"], dir.path(), "r.json");
    let tournaments = report["tournaments"].as_array().unwrap();
    assert_eq!(tournaments.len(), 2);
    let types: Vec<&str> = tournaments.iter().map(|t| t["type"].as_str().unwrap()).collect();
    assert!(types.contains(&"text") && types.contains(&"image"), "{types:?}");
    for t in tournaments {
        assert_eq!(t["status"], "completed", "{}", t["id"]);
        assert!(t["winner"].is_string());
        let rounds = t["rounds"].as_array().unwrap();
        assert!(rounds.len() >= 2, "at least a first round and the boss round");
        assert_eq!(rounds.last().unwrap()["is_final"], true);
        assert!(t["not_admitted"].as_array().unwrap().iter().all(|r| r[1].as_str().unwrap().contains(':')));
    }
    let total: f64 = report["weights"].as_object().unwrap().values().map(|w| w.as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-9, "weights sum to {total}");
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let dir = tempfile::tempdir().unwrap();
    let a = report_of(&["--miners", "20", "--seed", "11"], dir.path(), "a.json");
    let b = report_of(&["--miners", "20", "--seed", "11"], dir.path(), "b.json");
    assert_eq!(a, b);
    let c = report_of(&["--miners", "20", "--seed", "12"], dir.path(), "c.json");
    assert_ne!(a["weights"], c["weights"]);
}

#[test]
fn sigkill_and_restart_end_with_the_report_of_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--miners", "20", "--seed", "5"];
    let whole = dir.path().join("whole.db");
    let expected = report_of(&[&args[..], &["--db", whole.to_str().unwrap()]].concat(), dir.path(), "whole.json");

    let db = dir.path().join("killed.db");
    let report = dir.path().join("killed.json");
    let full: Vec<&str> = [&args[..], &["--db", db.to_str().unwrap(), "--report", report.to_str().unwrap()]].concat();
    let mut kills = 0;
    let mut delay = Duration::from_millis(40);
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        assert!(Instant::now() < deadline, "no complete run after {kills} kills");
        let mut child = simulate(&full).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("simulate starts");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait works") {
                break Some(status);
            }
            if started.elapsed() >= delay {
                child.kill().expect("SIGKILL is delivered");
                child.wait().expect("the killed child is reaped");
                kills += 1;
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        match status {
            Some(s) if s.success() => break,
            Some(s) => panic!("simulate failed after {kills} kills: {s}"),
            None => delay += Duration::from_millis(60),
        }
    }
    assert!(kills >= 2, "the run was interrupted ({kills} kills)");
    let resumed: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(resumed, expected, "after {kills} kills");
}

#[test]
fn a_database_of_another_simulation_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("one.db");
    report_of(&["--miners", "12", "--seed", "1", "--db", db.to_str().unwrap()], dir.path(), "one.json");
    let out = simulate(&["--miners", "12", "--seed", "2", "--db", db.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another simulation"));
}

#[test]
fn a_bad_node_spec_is_named() {
    let out = simulate(&["--nodes", "4x8V100"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("4x8V100") && stderr.lines().count() == 1, "{stderr}");
}
