//! `crucible rules ...`, `crucible migrate` and `crucible bench` as a user runs them: the real binary, its stdout,
//! stderr and exit code.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn crucible(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args(args)
        .env_remove("CRUCIBLE_DATABASE__URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the crucible binary starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    input.write_all(stdin.unwrap_or("").as_bytes()).expect("stdin accepts input");
    drop(input);
    child.wait_with_output().expect("the crucible binary finishes")
}

fn ok(args: &[&str]) -> String {
    let out = crucible(args, None);
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output").trim().to_owned()
}

/// Runs a command that must fail on bad input: exit code 2 and exactly one line on stderr.
fn bad_input(args: &[&str], stdin: Option<&str>) -> String {
    let out = crucible(args, stdin);
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
    assert!(out.stdout.is_empty());
    stderr
}

#[test]
fn gpu_requirement_is_printed_for_every_task_type() {
    let table = [
        (vec!["--task-type", "ImageTask"], "A100"),
        (vec!["--task-type", "InstructTextTask"], "1xH100"),
        (vec!["--task-type", "ChatTask", "--params", "8000000000"], "2xH100"),
        (vec!["--task-type", "DpoTask", "--params", "8000000000"], "4xH100"),
        (vec!["--task-type", "GrpoTask", "--params", "30000000000"], "8xH100"),
        (vec!["--task-type", "InstructTextTask", "--params", "4000000000"], "1xH100"),
    ];
    for (args, want) in table {
        let mut full = vec!["rules", "gpu"];
        full.extend(args.iter());
        assert_eq!(ok(&full), want, "{full:?}");
    }
}

#[test]
fn an_unknown_task_type_is_named_with_exit_code_2() {
    let err = bad_input(&["rules", "gpu", "--task-type", "TextTask"], None);
    assert!(err.contains("TextTask") && err.contains("InstructTextTask"), "{err}");
    let err = bad_input(&["rules", "gpu"], None);
    assert!(err.contains("--task-type"), "{err}");
    let err = bad_input(&["rules", "gpu", "--task-type", "DpoTask", "--params", "-3"], None);
    assert!(err.contains("-3"), "{err}");
    let err = bad_input(&["rules", "gpu", "--task-type", "DpoTask", "--params", "7B"], None);
    assert!(err.contains("--params") && err.contains("7B"), "{err}");
}

fn plan(args: &[&str]) -> Value {
    let mut full = vec!["rules", "plan"];
    full.extend(args);
    serde_json::from_str(&ok(&full)).expect("plan prints JSON")
}

#[test]
fn plan_prints_the_first_round() {
    let p = plan(&["--entrants", "97", "--seed", "4"]);
    assert_eq!(p["kind"], "group");
    let mut sizes: Vec<u64> = p["sizes"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![24, 24, 24, 25]);
    assert_eq!(p["house"], false);
    assert_eq!(
        plan(&["--entrants", "7"]),
        serde_json::json!({"kind": "knockout", "sizes": [2, 2, 2, 2], "house": true})
    );
    assert_eq!(
        plan(&["--entrants", "7", "--with-house"]),
        serde_json::json!({"kind": "knockout", "sizes": [2, 2, 2], "house": false})
    );
    assert_eq!(
        plan(&["--entrants", "8", "--with-house"]),
        serde_json::json!({"kind": "knockout", "sizes": [2, 2, 2, 2], "house": true})
    );
    assert_eq!(plan(&["--entrants", "39"])["sizes"], serde_json::json!([39]));
    // More than 14 with the house: one group, the house in it.
    assert_eq!(
        plan(&["--entrants", "16", "--with-house"]),
        serde_json::json!({"kind": "group", "sizes": [16], "house": true})
    );
    assert_eq!(plan(&["--entrants", "40", "--seed", "1"]), plan(&["--entrants", "40", "--seed", "1"]));
    bad_input(&["rules", "plan", "--entrants", "0", "--with-house"], None);
    bad_input(&["rules", "plan", "--entrants", "many"], None);
}

#[test]
fn threshold_decays_per_win_to_the_floor() {
    for (k, want) in [("1", "0.1"), ("2", "0.08"), ("3", "0.064"), ("4", "0.0512"), ("9", "0.03")] {
        assert_eq!(ok(&["rules", "threshold", "--wins", k]), want);
    }
}

const BOSS: &str = r#"{"champion_wins": 2, "tasks": [
  {"task_type": "InstructTextTask", "house": 1.0, "challenger": 0.5, "house_status": "success", "challenger_status": "success"},
  {"task_type": "InstructTextTask", "house": 1.0, "challenger": 0.95, "house_status": "success", "challenger_status": "success"},
  {"task_type": "DpoTask", "house": 1.0, "challenger": 0.8, "house_status": "success", "challenger_status": "success"},
  {"task_type": "DpoTask", "house": null, "challenger": 0.9, "house_status": "failure", "challenger_status": "success"},
  {"task_type": "GrpoTask", "house": 2.0, "challenger": 2.5, "house_status": "success", "challenger_status": "success"},
  {"task_type": "GrpoTask", "house": 2.0, "challenger": null, "house_status": "success", "challenger_status": "failure"},
  {"task_type": "GrpoTask", "house": null, "challenger": null, "house_status": "success", "challenger_status": "success"}
]}"#;

#[test]
fn boss_round_is_decided_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("boss.json");
    std::fs::write(&path, BOSS).unwrap();
    let out: Value = serde_json::from_str(&ok(&["rules", "boss", "--input", path.to_str().unwrap()])).unwrap();
    assert_eq!(out["winner"], "challenger");
    assert_eq!(out["challenger_wins"], 4);
    // The last task, trained by both sides with neither value valid, decides nothing.
    assert_eq!(out["decided"], 6);
    assert!((out["threshold"].as_f64().unwrap() - 0.08).abs() < 1e-12);
    // Improvements 1.0, 0.0526, 0.25, 0.25: the median is 0.25.
    assert!((out["performance_difference"].as_f64().unwrap() - 0.25).abs() < 1e-12);
}

#[test]
fn bad_boss_input_is_named() {
    let err = bad_input(
        &["rules", "boss", "--input", "-"],
        Some(r#"{"champion_wins": 1, "tasks": [{"task_type": "DpoTask", "house": 1.0}]}"#),
    );
    assert!(err.contains("house_status"), "{err}");
    let err =
        bad_input(&["rules", "boss", "--input", "-"], Some(r#"{"champion_wins": 1, "tasks": [{"task_type": "Dpo""#));
    assert!(err.contains("standard input"), "{err}");
    let err = bad_input(&["rules", "boss", "--input", "-"], Some(&BOSS.replace("GrpoTask", "RlTask")));
    assert!(err.contains("RlTask"), "{err}");
    let err = bad_input(&["rules", "boss", "--input", "/nonexistent/boss.json"], None);
    assert!(err.contains("/nonexistent/boss.json"), "{err}");
}

#[test]
fn weights_are_computed_from_the_example_bundle() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bundle.json");
    let report: Value = serde_json::from_str(&ok(&["rules", "weights", "--input", path])).unwrap();
    let weights = report["weights"].as_object().unwrap();
    let total: f64 = weights.values().map(|w| w.as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-12, "sum {total}");
    let w = |h: &str| weights[h].as_f64().unwrap();
    let scale = 1.0 - 2.0 * 0.0001;
    // The boss round: the house 0.85, the challenger 0.7, so the difference is 0.15 / 0.7.
    let boosted = 0.15 + (0.15 / 0.7 - 0.05) * 2.0;
    assert!((w("5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty") - boosted / 1.3 * scale).abs() < 1e-12);
    assert!((w("5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y") - 0.15 * 0.3 / 1.3 * scale).abs() < 1e-12);
    assert!((w("5HGjWAeFDfFCWPsjFQdVV2Msvz2XtMktvgocEZcCj68kUMaw") - 0.0001).abs() < 1e-15);
    assert_eq!(report["types"][0]["tournament_type"], "text");
    assert_eq!(report["types"].as_array().unwrap().len(), 1, "no image tournament has completed");
}

/// The worked examples of docs/results-bundle.md, each weight computed by hand from the rules.
#[test]
fn the_documented_example_bundles_give_their_documented_weights() {
    let (a, c, d) = (
        "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
        "5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy",
        "5HGjWAeFDfFCWPsjFQdVV2Msvz2XtMktvgocEZcCj68kUMaw",
    );
    let house = "5GU4Xkd3dCGTU3s8VLcHGc5wsD5M8XyxDca5yDQhYm1mVXFu";
    let three = 1.0 + 0.3 + 0.09;
    let scale = 1.0 - 3.0 * 0.0001;
    let table: [(&str, Vec<(&str, f64)>); 3] = [
        // The house won the first tournament: it is rank 1 (its share burns), a ranks 2 with rounds
        // 1 + 2, c ranks 3 with round 1.
        ("house-holds-the-first-title.json", vec![(a, 0.15 * 0.3 / three), (c, 0.15 * 0.09 / three)]),
        // a won every task it played and nobody else won one: the type pays nobody.
        ("only-the-winner-scored.json", vec![]),
        // a won with a difference of 0.25 (W = 0.15 + 0.4); a, the house (in the live text
        // tournament) and d (in the live image one) take part, a once though it is in both.
        (
            "live-tournaments-share-a-miner.json",
            vec![(a, 0.55 / 1.3 * scale + 0.0001), (c, 0.15 * 0.3 / 1.3 * scale), (d, 0.0001)],
        ),
    ];
    for (file, want) in table {
        let path = format!("{}/docs/bundles/{file}", env!("CARGO_MANIFEST_DIR"));
        let report: Value = serde_json::from_str(&ok(&["rules", "weights", "--input", &path])).unwrap();
        let weights = report["weights"].as_object().unwrap();
        assert_eq!(weights.len(), want.len() + 1, "{file}: {weights:?}");
        let paid: f64 = want.iter().map(|(_, w)| w).sum();
        assert!((weights[house].as_f64().unwrap() - (1.0 - paid)).abs() < 1e-12, "{file}: {weights:?}");
        for (hotkey, w) in want {
            assert!((weights[hotkey].as_f64().unwrap() - w).abs() < 1e-12, "{file} {hotkey}: {weights:?}");
        }
    }
}

#[test]
fn a_bundle_that_is_not_an_export_is_named() {
    let bundle = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bundle.json")).unwrap();
    let err = bad_input(&["rules", "weights", "--input", "-"], Some(&bundle.replace("crucible-results/1", "other/9")));
    assert!(err.contains("other/9"), "{err}");
    let err = bad_input(
        &["rules", "weights", "--input", "-"],
        Some(&bundle.replace("\"status\": \"active\"", "\"status\": \"running\"")),
    );
    assert!(err.contains("running"), "{err}");
    let err =
        bad_input(&["rules", "weights", "--input", "-"], Some(&bundle.replace("tourn_00000000000000b2", "tourn_bad")));
    assert!(err.contains("tournament id"), "{err}");
    // A stored performance difference its boss round does not give.
    let err = bad_input(&["rules", "weights", "--input", "-"], Some(&bundle.replace("0.21428571428571433", "0.15")));
    assert!(err.contains("tourn_00000000000000a1_20261101") && err.contains("winning_performance_difference"), "{err}");
}

#[test]
fn a_bad_config_file_stops_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[rules.scoring]\nboss_threshold_floor = 2.0\n").unwrap();
    let err = bad_input(&["--config", path.to_str().unwrap(), "rules", "threshold", "--wins", "1"], None);
    assert!(err.contains("rules.scoring.boss_threshold_floor"), "{err}");
    // The house's default commit is a SHA, never a branch.
    std::fs::write(&path, "[rules.schedule]\ndefault_base_commit = \"main\"\n").unwrap();
    let err = bad_input(&["--config", path.to_str().unwrap(), "rules", "threshold", "--wins", "1"], None);
    assert!(err.contains("rules.schedule.default_base_commit") && err.contains("SHA"), "{err}");
}

/// A size range the content cannot serve would stall its tournament forever: the validator refuses to
/// start and names the gap; so it does without content, or with content it cannot read.
#[test]
fn a_validator_whose_content_cannot_serve_the_rules_does_not_start() {
    assert_eq!(crucible::sim::catalog().gaps(&crucible::domain::rules::Rules::default().tasks), Vec::<String>::new());
    let dir = tempfile::tempdir().unwrap();
    let content = crate::content::write_sim_content(dir.path());
    let path = dir.path().join("narrow.toml");
    let db = dir.path().join("v.db");
    let config = |content: &str| {
        format!(
            "[database]\nurl = \"sqlite://{}\"\n[content]\ndir = \"{content}\"\n[rules.tasks]\nknockout_params_b = [200.0, 300.0]\n",
            db.display()
        )
    };
    std::fs::write(&path, config(&content.display().to_string())).unwrap();
    let err = bad_input(&["--config", path.to_str().unwrap(), "validator"], None);
    assert!(err.contains("the task content cannot serve the rules"), "{err}");
    assert!(
        err.contains("knockout rounds: the catalog has no InstructTextTask model between 200B and 300B parameters"),
        "{err}"
    );
    std::fs::write(&path, config("")).unwrap();
    let err = bad_input(&["--config", path.to_str().unwrap(), "validator"], None);
    assert!(err.contains("content.dir: the validator needs task content"), "{err}");
    let broken = dir.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("content.json"), r#"{"models": [], "datasets": [{"id": "d"}]}"#).unwrap();
    std::fs::write(&path, config(&broken.display().to_string())).unwrap();
    let err = bad_input(&["--config", path.to_str().unwrap(), "validator"], None);
    assert!(err.contains("content.json") && err.contains("missing field"), "{err}");
    assert!(!db.exists(), "nothing is opened before the check");
}

#[test]
fn a_real_executor_for_simulate_needs_a_repository_and_remote_needs_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.toml");
    std::fs::write(&path, "[simulation]\nexecutor = \"local\"\n").unwrap();
    let err = bad_input(&["--config", path.to_str().unwrap(), "simulate"], None);
    assert!(err.contains("simulation.repository"), "{err}");
    std::fs::write(&path, "[simulation]\nexecutor = \"remote\"\nrepository = \"/r\"\n").unwrap();
    let err = bad_input(&["--config", path.to_str().unwrap(), "simulate"], None);
    assert!(err.contains("validator.nodes"), "{err}");
}

fn migrate_twice(url: &str) {
    let first = ok(&["migrate", "--database-url", url]);
    assert!(first.contains("applied 2026112500000"), "{first}");
    assert!(first.contains(" migrated ("), "{first}");
    assert!(ok(&["migrate", "--database-url", url]).ends_with("is up to date"));
}

#[test]
fn migrate_prepares_a_sqlite_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("validator.db");
    migrate_twice(&format!("sqlite://{}", path.display()));
    assert!(path.is_file());
}

#[test]
fn migrate_prepares_a_postgres_database_once() {
    let Some(db) = crate::store::support::TestDatabase::create() else { return };
    migrate_twice(&db.url);
}

#[test]
fn migrate_names_a_database_it_cannot_reach_without_its_password() {
    let out = crucible(&["migrate", "--database-url", "postgres://crucible:hunter2@127.0.0.1:1/crucible"], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    let out = crucible(&["migrate", "--database-url", "mysql://localhost/x"], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr.contains("mysql://localhost/x"), "{stderr}");
}

#[test]
fn a_transfer_is_credited_once_however_often_it_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
    let coldkey = crucible::domain::Coldkey::synthetic(5).to_string();
    let credit = || {
        let out = Command::new(env!("CARGO_BIN_EXE_crucible"))
            .args(["ledger", "credit", "--coldkey", &coldkey, "--rao", "150000000", "--reference", "block-77/ext-3"])
            .env("CRUCIBLE_DATABASE__URL", &url)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(credit().contains("balance 150000000 rao"));
    assert!(credit().contains("already recorded; balance 150000000 rao"));
    let out = Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args(["ledger", "credit", "--coldkey", "not-a-key", "--rao", "1", "--reference", "x"])
        .env("CRUCIBLE_DATABASE__URL", &url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bench_packing_compares_crucible_with_the_lower_bound_and_the_reference() {
    let line = ok(&["bench", "--packing", "--nodes", "2x8H100,1x4A100", "--rounds", "3", "--json"]);
    let v: Value = serde_json::from_str(&line).unwrap();
    for field in [
        "gpus",
        "trainings_mean",
        "gpu_hours_mean",
        "lower_bound_hours_mean",
        "crucible_makespan_hours_mean",
        "reference_rule_makespan_hours_mean",
        "reference_makespan_hours_mean",
        "crucible_vs_lower_bound_mean",
        "crucible_vs_lower_bound_worst",
        "crucible_vs_reference_rule_mean",
        "crucible_vs_reference_mean",
    ] {
        assert!(v[field].as_f64().is_some_and(|x| x > 0.0), "{field}: {v}");
    }
    assert_eq!((v["gpus"].as_u64(), v["rounds"].as_u64(), v["miners"].as_u64()), (Some(20), Some(3), Some(14)));
    let f = |field: &str| v[field].as_f64().unwrap();
    assert!(f("crucible_makespan_hours_mean") >= f("lower_bound_hours_mean"), "{v}");
    assert!(f("crucible_vs_lower_bound_worst") >= f("crucible_vs_lower_bound_mean"), "{v}");
    // The reference's pauses only delay it.
    assert!(f("reference_makespan_hours_mean") >= f("reference_rule_makespan_hours_mean"), "{v}");

    let table = ok(&["bench", "--packing", "--rounds", "2", "--seed", "7"]);
    assert!(table.contains("lower bound") && table.contains("above the lower bound"), "{table}");
    assert_eq!(table.lines().filter(|l| l.trim_start().starts_with('7') || l.trim_start().starts_with('8')).count(), 2);

    assert!(bad_input(&["bench", "--packing", "--nodes", "2x4H100"], None).contains("can ever host A100"));
    assert!(bad_input(&["bench", "--packing", "--nodes", "2xGPU"], None).contains("--nodes"));
    assert!(bad_input(&["bench", "--packing", "--miners", "1"], None).contains("--miners 1"));
    assert!(bad_input(&["bench"], None).contains("--packing"));
}

/// The JSON fields of `crucible bench --tournaments` (the CI smoke step checks the same list).
const TOURNAMENT_BENCH_FIELDS: [&str; 12] = [
    "tournaments",
    "miners",
    "trainings",
    "trainings_per_sec",
    "transitions_per_sec",
    "db_limit_transitions_per_sec",
    "reaction_p50_ms",
    "reaction_p99_ms",
    "peak_rss_mb",
    "rss_per_tournament_kb",
    "backend",
    "sqlite_synchronous",
];

#[test]
fn bench_tournaments_runs_concurrent_tracks_to_the_end_and_reports_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.db");
    let db_arg = db.display().to_string();
    let line = ok(&["bench", "--tournaments", "4", "--miners", "8", "--db", &db_arg, "--json"]);
    let v: Value = serde_json::from_str(&line).unwrap();
    for field in TOURNAMENT_BENCH_FIELDS {
        assert!(!v[field].is_null(), "{field}: {v}");
    }
    assert_eq!((v["tournaments"].as_u64(), v["miners"].as_u64()), (Some(4), Some(8)));
    assert_eq!((v["backend"].as_str(), v["sqlite_synchronous"].as_str()), (Some("sqlite"), Some("normal")));
    for field in
        ["trainings", "trainings_per_sec", "transitions_per_sec", "db_limit_transitions_per_sec", "peak_rss_mb"]
    {
        assert!(v[field].as_f64().is_some_and(|x| x > 0.0), "{field}: {v}");
    }
    assert!(v["reaction_p99_ms"].as_f64() >= v["reaction_p50_ms"].as_f64(), "{v}");
    // Every track ran its tournament to the end, in the database given, beside the others.
    let store = crucible::store::Store::open(&db_arg).unwrap();
    let tournaments = store.list_tournaments(None).unwrap();
    assert_eq!(tournaments.len(), 4);
    let tracks: std::collections::BTreeSet<_> = tournaments.iter().map(|t| t.track.clone()).collect();
    assert_eq!(tracks.len(), 4, "{tracks:?}");
    assert!(tournaments.iter().all(|t| t.status == crucible::domain::TournamentStatus::Completed));
    let ended = store.list_tournaments(None).unwrap().iter().filter_map(|t| t.completed_at).min().unwrap();
    assert!(tournaments.iter().all(|t| t.created_at < ended), "all four were live at once");

    // A database holding tournaments is refused, and what it holds is kept.
    assert!(bad_input(&["bench", "--tournaments", "2", "--db", &db_arg], None).contains("holds 4 tournaments"));
    assert_eq!(store.list_tournaments(None).unwrap().len(), 4);
    let table = ok(&["bench", "--tournaments", "2", "--miners", "4"]);
    assert!(table.contains("trainings_per_sec") && table.contains("reaction_p99_ms"), "{table}");
    let too_big = bad_input(&["bench", "--tournaments", "100000", "--miners", "4096"], None);
    assert!(too_big.contains("needs about") && too_big.contains("MiB are available"), "{too_big}");
    assert!(bad_input(&["bench", "--tournaments", "0"], None).contains("--tournaments 0"));
    assert!(bad_input(&["bench", "--tournaments", "2", "--packing"], None).contains("cannot be used with"));
}
