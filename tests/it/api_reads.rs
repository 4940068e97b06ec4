//! The reference's read paths over a finished simulated run: tournament details (latest and by id),
//! next dates, GPU requirements, trainers and training counts, each in the reference's shape and
//! consistent with the run's own report; unknown and malformed ids answered 404 and 400. Their values
//! in the reference's meaning are tested in `api_analytics`, their models in `api_compat`.

use crucible::report::Report;
use crucible::sim::run::{Execution, SimRun, run};
use serde_json::{Value, json};

use super::api::{call, serve_on};

/// A finished simulation of 16 miners in a database of its own, and its report.
pub(crate) fn simulated() -> (tempfile::TempDir, std::path::PathBuf, Report) {
    simulated_with(9)
}

pub(crate) fn simulated_with(seed: u64) -> (tempfile::TempDir, std::path::PathBuf, Report) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sim.db");
    let opts = SimRun {
        miners: 16,
        seed,
        db: Some(db.clone()),
        nodes: crucible::sim::NodeSpec::default(),
        nodes_spec: "default".into(),
        shares: Default::default(),
        execution: Execution::Simulated,
        types: crucible::domain::TournamentType::ALL.to_vec(),
        content: None,
    };
    let (report, _) = run(&opts, &crucible::domain::rules::Rules::default(), |_| {}).unwrap();
    (dir, db, report)
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().map(String::as_str).collect()
}

const DETAILS_KEYS: [&str; 14] = [
    "tournament_id",
    "tournament_type",
    "status",
    "base_winner_hotkey",
    "winner_hotkey",
    "diff_report",
    "participants",
    "rounds",
    "final_scores",
    "text_tournament_weight",
    "image_tournament_weight",
    "environment_tournament_weight",
    "boss_round_performance",
    "sync_performance",
];

#[test]
fn tournament_details_follow_the_reference_shape_and_the_run() {
    let (_dir, db, report) = simulated();
    let (url, _store, ()) = serve_on(&db);
    for t in &report.tournaments {
        let (status, d) = call("GET", &format!("{url}/v1/tournaments/{}/details", t.id), None, None);
        assert_eq!(status, 200, "{d}");
        assert_eq!(keys(&d), DETAILS_KEYS);
        assert_eq!(d["tournament_type"], t.tournament_type.to_string());
        assert_eq!(d["winner_hotkey"].as_str(), t.winner.as_ref().map(|h| h.as_str()));
        let rounds = d["rounds"].as_array().unwrap();
        assert_eq!(rounds.len(), t.rounds.len());
        for (r, expected) in rounds.iter().zip(&t.rounds) {
            assert_eq!(r["round_number"], expected.number);
            assert_eq!(r["round_type"], expected.kind.to_string());
            let live_tasks = expected.tasks.iter().filter(|t| !t.replaced).count();
            assert_eq!(r["tasks"].as_array().unwrap().len(), live_tasks);
            for task in r["tasks"].as_array().unwrap() {
                let scores = task["participant_scores"].as_array().unwrap();
                assert!(!scores.is_empty());
                assert_eq!(keys(&scores[0]), ["hotkey", "quality_score", "test_loss", "synth_loss", "score_reason"]);
                if let Some(winner) = task["winner"].as_str() {
                    assert!(scores.iter().any(|s| s["hotkey"] == winner && s["quality_score"] == 3.0));
                }
            }
        }
        let boss = d["boss_round_performance"].as_array().expect("completed: the boss round is shown");
        assert!(!boss.is_empty());
        for task in boss {
            assert!(task["threshold_used"].as_f64().unwrap() >= 0.03, "{task}");
        }
        let winner = d["participants"].as_array().unwrap().iter().find(|p| p["final_position"] == 1);
        match &t.winner {
            Some(w) if w.as_str() != crucible::domain::rules::Rules::default().house_hotkey.as_str() => {
                assert_eq!(winner.unwrap()["hotkey"], w.as_str())
            }
            _ => {}
        }
        assert!(d["participants"].as_array().unwrap().iter().all(|p| p["github_token"].is_null()));
    }

    let (status, latest) = call("GET", &format!("{url}/v1/tournaments/latest/details"), None, None);
    assert_eq!(status, 200, "{latest}");
    assert_eq!(keys(&latest), ["text", "image", "environment", "burn_data"]);
    assert_eq!(keys(&latest["text"]), DETAILS_KEYS);
    assert!(latest["environment"].is_null());
    let burn = &latest["burn_data"];
    let weight = |key: &str| burn[key].as_f64().unwrap();
    let burned = 1.0 - weight("text_tournament_weight") - weight("image_tournament_weight");
    assert!((weight("burn_weight") - burned).abs() < 1e-12, "{burn}");
    for text_or_image in ["text", "image"] {
        let w = weight(&format!("{text_or_image}_tournament_weight"));
        assert!((0.1..=0.6).contains(&w), "{w}");
        assert_eq!(latest[text_or_image]["text_tournament_weight"], 0.15, "the base");
    }

    let (status, answer) =
        call("GET", &format!("{url}/v1/tournaments/tourn_00000000000000aa_20260101/details"), None, None);
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = call("GET", &format!("{url}/v1/tournaments/not-an-id/details"), None, None);
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("tournament_id"), "{answer}");
}

#[test]
fn schedule_and_orchestrator_reads_follow_the_reference_shape() {
    let (_dir, db, report) = simulated();
    let (url, _store, ()) = serve_on(&db);
    let rules = crucible::domain::rules::Rules::default();

    let (status, dates) = call("GET", &format!("{url}/v1/tournaments/next-dates"), None, None);
    assert_eq!(status, 200, "{dates}");
    assert_eq!(keys(&dates), ["text", "image", "environment"]);
    for t in &report.tournaments {
        let entry = &dates[t.tournament_type.to_string()];
        assert_eq!(entry["tournament_status"], "waiting", "{entry}");
        let due = t.completed_at.unwrap() + chrono::Duration::hours(rules.schedule.interval_hours as i64);
        let start: chrono::DateTime<chrono::Utc> = entry["next_start_date"].as_str().unwrap().parse().unwrap();
        assert!(start >= due - chrono::Duration::minutes(1) && start < due + chrono::Duration::minutes(15), "{entry}");
        assert_eq!(entry["interval_hours"], 72);
    }

    let (status, needs) = call("GET", &format!("{url}/v1/tournaments/gpu-requirements"), None, None);
    assert_eq!(status, 200);
    assert_eq!(needs, json!({ "gpu_requirements": [], "total_tasks": 0, "total_hours": 0.0 }), "nothing is live");

    let (status, trainers) = call("GET", &format!("{url}/v1/tournament_orchestrator/trainers"), None, None);
    assert_eq!(status, 200);
    let trainers = trainers.as_array().unwrap();
    assert_eq!(trainers.len(), 6, "the default fleet: 4 nodes of 8 H100s, 2 of 4 A100s");
    let gpus: usize = trainers.iter().map(|t| t["gpus"].as_array().unwrap().len()).sum();
    assert_eq!(gpus, 40);
    for gpu in trainers.iter().flat_map(|t| t["gpus"].as_array().unwrap()) {
        assert_eq!(gpu["available"], true, "every run ended, so every GPU is free: {gpu}");
        for key in
            ["gpu_id", "gpu_type", "vram_gb", "used_until", "updated_at", "product_name", "interconnect", "nvlink"]
        {
            assert!(gpu.get(key).is_some(), "{key}: {gpu}");
        }
    }

    let (status, stats) = call("GET", &format!("{url}/v1/tournament_orchestrator/training_stats"), None, None);
    assert_eq!(status, 200);
    let trainings: Vec<_> =
        report.tournaments.iter().flat_map(|t| &t.rounds).flat_map(|r| &r.tasks).flat_map(|t| &t.trainings).collect();
    assert_eq!(stats["total_pairs"], trainings.len());
    let succeeded = trainings.iter().filter(|t| t.status == crucible::domain::TrainingStatus::Success).count();
    assert_eq!(stats["success"], succeeded);
    assert_eq!(stats["pending"], 0);
    assert_eq!(stats["max_attempts"], trainings.iter().map(|t| t.attempts).max().unwrap());
    assert!(stats["avg_attempts"].as_f64().unwrap() >= 1.0, "{stats}");
}

#[test]
fn metrics_scrape_cleanly_and_openapi_documents_every_route() {
    crucible::api::install_metrics();
    let (_dir, db, _report) = simulated();
    let (url, _store, ()) = serve_on(&db);
    call("GET", &format!("{url}/v1/tournaments/history"), None, None);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let text = runtime.block_on(async { reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap() });
    // Every sample line is `name{labels} value`.
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line}"));
        assert!(value.parse::<f64>().is_ok(), "{line}");
        let name = series.split('{').next().unwrap();
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{line}");
        assert!(!series.contains('{') || series.ends_with('}'), "{line}");
    }
    for expected in [
        "crucible_tournaments{type=\"text\",status=\"completed\"} 1",
        "crucible_tournaments{type=\"image\",status=\"cancelled\"} 0",
        "crucible_trainings{status=\"pending\"} 0",
        "crucible_gpu_slots{node=\"sim-node-01\",class=\"H100\",state=\"free\"} 8",
        "crucible_gpu_slots{node=\"sim-node-05\",class=\"A100\",state=\"reserved\"} 0",
        "crucible_http_requests_total{method=\"GET\",route=\"/v1/tournaments/history\",status=\"200\"}",
        "crucible_http_request_duration_seconds_bucket{route=\"/v1/tournaments/history\",le=\"+Inf\"}",
        "crucible_store_call_seconds_count",
        "crucible_reaction_seconds_count",
        "crucible_training_attempts_total{outcome=\"success\"}",
        "crucible_build_info{version=\"",
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_start_time_seconds ",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    // Every family that has a `# TYPE` has its `# HELP`, and every family is one crucible documents.
    let typed: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next()).collect();
    assert!(typed.len() >= 15, "{typed:?}");
    for family in &typed {
        let help = format!("# HELP {family} ");
        assert!(text.lines().any(|l| l.starts_with(&help) && l.len() > help.len() + 10), "no HELP for {family}");
    }
    let resident: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(resident > 1e6, "a test process holds more than a megabyte: {resident}");

    let (status, doc) = call("GET", &format!("{url}/openapi.json"), None, None);
    assert_eq!(status, 200);
    let paths: Vec<&str> = doc["paths"].as_object().unwrap().keys().map(String::as_str).collect();
    for path in [
        "/v1/tournaments/latest/details",
        "/v1/tournaments/{tournament_id}/details",
        "/v1/tournaments/active",
        "/v1/tournaments/history",
        "/v1/tournaments/next-dates",
        "/v1/tournaments/gpu-requirements",
        "/v1/tournament_orchestrator/trainers",
        "/v1/tournament_orchestrator/training_stats",
        "/v1/crucible/tournaments/{tournament_id}/results",
        "/v1/crucible/tournaments/{tournament_id}/participants",
        "/v1/crucible/trainers",
        "/tournament/fees",
        "/transfer/balance/{coldkey}",
        "/v1/ledger/credits",
        "/v1/events",
        "/metrics",
        "/healthz",
        "/readyz",
    ] {
        assert!(paths.contains(&path), "{path} is not documented: {paths:?}");
    }
    assert!(doc["components"]["schemas"]["TournamentDetails"].is_object());
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let swagger =
        runtime.block_on(async { reqwest::get(format!("{url}/swagger-ui/")).await.unwrap().text().await.unwrap() });
    assert!(swagger.contains("swagger-ui-bundle.js"), "Swagger UI is served from the binary");
    let bundle =
        runtime.block_on(async { reqwest::get(format!("{url}/swagger-ui/swagger-ui-bundle.js")).await.unwrap() });
    assert_eq!(bundle.status(), 200);
}

/// Every participant of each tournament over JSON, as stored: submission, admission outcome and
/// reason; refused miners are among them with the reason they can act on.
#[test]
fn participants_are_listed_with_their_admission_outcome_and_reason() {
    let (_dir, db, report) = simulated();
    let (url, store, ()) = serve_on(&db);
    let mut refused = 0;
    for t in &report.tournaments {
        let (status, listed) = call("GET", &format!("{url}/v1/crucible/tournaments/{}/participants", t.id), None, None);
        assert_eq!(status, 200, "{listed}");
        let stored = store.list_participants(&t.id.parse().unwrap()).unwrap();
        let listed = listed.as_array().unwrap();
        assert_eq!(listed.len(), stored.len());
        for (json, p) in listed.iter().zip(&stored) {
            assert_eq!(json["hotkey"], p.hotkey.as_str());
            assert_eq!(json["admission"], p.admission.as_str());
            assert_eq!(json["admission_reason"], p.admission_reason.as_str());
            assert_eq!(json["repo_url"], p.repo_url.as_str());
            assert_eq!(json["commit_hash"], p.commit_hash.as_str());
            assert_eq!(json["is_house"], p.is_house);
            if json["admission"] != "admitted" {
                refused += 1;
                assert!(!p.admission_reason.is_empty(), "a refusal without a reason: {json}");
            }
        }
    }
    assert!(refused > 0, "the simulated miners include some that are refused");
    let unknown = "tourn_00000000000000aa_20260101";
    let (status, answer) = call("GET", &format!("{url}/v1/crucible/tournaments/{unknown}/participants"), None, None);
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = call("GET", &format!("{url}/v1/crucible/tournaments/x/participants"), None, None);
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("tournament_id"), "{answer}");
}
