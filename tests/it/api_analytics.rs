//! The reference's analytics routes answer in the reference's meaning (G.O.D 86623e97), over a
//! finished simulated run and over a live fixture: balance events, next dates, rank scores, final
//! scores, type weights and burn, active tournaments, GPU requirements, GPU hold times and training
//! counts; crucible's own detail is on `/v1/crucible/...`.

use chrono::{DateTime, Duration, Utc};
use crucible::domain::rules::Rules;
use crucible::domain::scoring::TrainingResult;
use crucible::domain::standings::{quality_scores, real_winner};
use crucible::domain::{Hotkey, LedgerKind, RunStatus, TaskType, TournamentId, TrainingStatus};
use serde_json::{Value, json};

use super::api::{TOKEN, call, serve, serve_on};
use super::api_reads::simulated;
use super::live_fixture::{HELD_NODE, live_fixture};

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap_or_else(|| panic!("not a time: {v}")).parse().unwrap()
}

fn get(url: &str, route: &str) -> Value {
    let (status, answer) = call("GET", &format!("{url}{route}"), None, None);
    assert_eq!(status, 200, "{route}: {answer}");
    answer
}

#[test]
fn balance_events_are_fees_and_refunds_in_the_reference_words() {
    let (_dir, db, report) = simulated();
    let (url, store, ()) = serve_on(&db);
    let first = TournamentId::parse(&report.tournaments[0].id).unwrap();
    let payer = store.list_participants(&first).unwrap().into_iter().find_map(|p| p.fee_rao.and(p.coldkey));
    let coldkey = payer.expect("a miner paid a fee");
    assert!(store.ledger_events(&coldkey).unwrap().iter().any(|e| e.event.kind == LedgerKind::Credit));
    let events = get(&url, &format!("/balance/events/coldkey/{coldkey}"));
    let events = events.as_array().unwrap();
    assert!(!events.is_empty());
    for e in events {
        assert_eq!(e["event_type"], "participation_fee", "the credit is not a balance event: {e}");
        let id = e["tournament_id"].as_str().unwrap();
        assert_eq!(e["description"], format!("Tournament participation fee for {id}"));
    }
    let balance = get(&url, &format!("/transfer/balance/{coldkey}"));
    assert!(balance["transfer_count"].as_u64().unwrap() >= 1, "credits stay visible here: {balance}");
    let fees = get(&url, &format!("/balance/events/tournament/{first}"));
    assert!(fees.as_array().unwrap().iter().all(|e| e["tournament_id"] == first.as_str()), "{fees}");
    assert_eq!(get(&url, "/balance/events/tournament/tourn_00000000000000ff_20260101"), json!([]));

    // A refund stored with crucible's own reference text reads in the reference's words.
    let live = live_fixture(&store);
    let (status, refund) = call("POST", &format!("{url}/tournament/{}/refund", live.cancelled), Some(TOKEN), None);
    assert_eq!(status, 200, "{refund}");
    let message = format!("Processed 1 refunds for tournament {}", live.cancelled);
    assert_eq!(refund, json!({ "tournament_id": live.cancelled.as_str(), "refunds_processed": 1, "message": message }));
    let events = get(&url, &format!("/balance/events/coldkey/{}", live.coldkey));
    let kinds: Vec<(&str, &str)> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["event_type"].as_str().unwrap(), e["description"].as_str().unwrap()))
        .collect();
    let refunded = format!("Refund for participation fee in tournament {}", live.cancelled);
    let paid = format!("Tournament participation fee for {}", live.cancelled);
    assert_eq!(kinds, [("refund", refunded.as_str()), ("participation_fee", paid.as_str())], "newest first");
}

#[test]
fn next_dates_follow_the_reference_scheduler() {
    let (_dir, db, report) = simulated();
    let (url, store, ()) = serve_on(&db);
    let interval = Duration::hours(Rules::default().schedule.interval_hours as i64);
    let before = Utc::now();
    let dates = get(&url, "/v1/tournaments/next-dates");
    let after = Utc::now();
    for t in &report.tournaments {
        let entry = &dates[t.tournament_type.to_string()];
        assert_eq!((&entry["tournament_status"], &entry["current_round_number"]), (&json!("waiting"), &Value::Null));
        assert_eq!(entry["interval_hours"].as_u64(), Some(72), "an integer: {entry}");
        let start = time(&entry["next_start_date"]);
        let at = |now| crucible::domain::calendar::next_start(t.completed_at, interval, now);
        assert!(start == at(before) || start == at(after), "{entry}");
        assert_eq!(start.timestamp() % 900, 0, "on a quarter hour: {start}");
        assert!(start >= t.completed_at.unwrap() + interval - Duration::minutes(1), "{entry}");
    }

    live_fixture(&store);
    let dates = get(&url, "/v1/tournaments/next-dates");
    let text = &dates["text"];
    assert_eq!((&text["tournament_status"], &text["current_round_number"]), (&json!("active"), &json!(2)), "{text}");
    let image = &dates["image"];
    assert_eq!((&image["tournament_status"], &image["current_round_number"]), (&json!("pending"), &json!(1)));
    for entry in [text, image] {
        assert!(entry["next_start_date"].is_null() && entry["next_end_date"].is_null(), "{entry}");
    }
}

/// A task's results as the crucible-only route shows them, for recomputing the rank scores.
fn raw_results(task: &Value) -> Vec<TrainingResult> {
    let trainings = task["trainings"].as_array().unwrap();
    trainings
        .iter()
        .map(|tr| {
            let status = if tr["status"] == "success" { RunStatus::Success } else { RunStatus::Failure };
            let hotkey = Hotkey::parse(tr["hotkey"].as_str().unwrap()).unwrap();
            let mut result = TrainingResult::new(hotkey, status, tr["test_loss"].as_f64());
            result.eval.is_finetune = tr["is_finetune"].as_bool();
            result.eval.collected_at = tr["collected_at"].as_str().map(|t| t.parse().unwrap());
            result
        })
        .collect()
}

#[test]
fn quality_scores_are_the_reference_rank_scores() {
    let (_dir, db, report) = simulated();
    let (url, store, ()) = serve_on(&db);
    let mut ranked_tasks = 0;
    for t in &report.tournaments {
        let details = get(&url, &format!("/v1/tournaments/{}/details", t.id));
        let results = get(&url, &format!("/v1/crucible/tournaments/{}/results", t.id));
        let raw: Vec<&Value> =
            results["rounds"].as_array().unwrap().iter().flat_map(|r| r["tasks"].as_array().unwrap()).collect();
        for task in details["rounds"].as_array().unwrap().iter().flat_map(|r| r["tasks"].as_array().unwrap()) {
            let own = raw.iter().find(|r| r["task_id"] == task["task_id"]).unwrap();
            let scores = task["participant_scores"].as_array().unwrap();
            assert_eq!(scores.len(), own["trainings"].as_array().unwrap().len(), "every training ended");
            let values: Vec<f64> = scores.iter().map(|s| s["quality_score"].as_f64().unwrap()).collect();
            assert!(values.iter().all(|v| [3.0, 0.0, -1.0].contains(v)), "{values:?}");
            let valid = own["trainings"].as_array().unwrap().iter().any(|tr| tr["ranking_value"].is_number());
            let firsts: Vec<&Value> = scores.iter().filter(|s| s["quality_score"] == 3.0).collect();
            assert_eq!(firsts.len(), usize::from(valid), "{task}");
            if let Some(first) = firsts.first() {
                assert_eq!(first["hotkey"], task["winner"], "the winner holds the 3.0");
                assert!(first["score_reason"].as_str().unwrap().starts_with("Ranked 1st by "), "{first}");
                ranked_tasks += 1;
            }
            let task_type: TaskType = task["task_type"].as_str().unwrap().parse().unwrap();
            let want = quality_scores(task_type, &[], &raw_results(own));
            for (s, w) in scores.iter().zip(&want) {
                assert_eq!(
                    (s["hotkey"].as_str().unwrap(), s["quality_score"].as_f64().unwrap()),
                    (w.hotkey.as_str(), w.score)
                );
                let training =
                    own["trainings"].as_array().unwrap().iter().find(|tr| tr["hotkey"] == s["hotkey"]).unwrap();
                assert_eq!(s["test_loss"], training["test_loss"], "the raw loss stays");
            }
        }
    }
    assert!(ranked_tasks > 0);

    // A task still training lists nobody; its ended trainings wait for the rest.
    let live = live_fixture(&store);
    let details = get(&url, &format!("/v1/tournaments/{}/details", live.active));
    for task in details["rounds"][0]["tasks"].as_array().unwrap() {
        assert_eq!(task["participant_scores"], json!([]), "{task}");
        assert!(task["winner"].is_null());
    }
    let boss = &details["rounds"][1]["tasks"][0];
    let score_of = |n: u64| {
        let entry = boss["participant_scores"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["hotkey"] == Hotkey::synthetic(n).as_str());
        let entry = entry.unwrap_or_else(|| panic!("hotkey {n}: {boss}"));
        (entry["score_reason"].as_str().unwrap().to_owned(), entry["quality_score"].as_f64().unwrap())
    };
    assert_eq!(score_of(1), ("Ranked 1st by test_loss".to_owned(), 3.0), "the lower DPO loss");
    assert_eq!(score_of(99), ("Ranked below top 1 by test_loss".to_owned(), 0.0));
    assert_eq!(boss["winner"], Hotkey::synthetic(1).as_str());
}

#[test]
fn final_scores_weigh_rounds_by_the_base_weight_and_leave_out_the_winner() {
    let (_dir, db, report) = simulated();
    let (url, _store, ()) = serve_on(&db);
    let rules = Rules::default();
    let mut scored = 0;
    for t in &report.tournaments {
        let details = get(&url, &format!("/v1/tournaments/{}/details", t.id));
        let base = rules.weights.of(t.tournament_type).base;
        let winner = t.winner.as_ref();
        let real = real_winner(winner, t.champion.as_ref(), &rules.house_hotkey);
        let mut want: Vec<(String, f64)> = Vec::new();
        for round in details["rounds"].as_array().unwrap() {
            let n = round["round_number"].as_f64().unwrap();
            for w in round["tasks"].as_array().unwrap().iter().filter_map(|task| task["winner"].as_str()) {
                let house_for_champion = w == rules.house_hotkey.as_str() && t.champion.is_some();
                if real.is_some_and(|r| r.as_str() == w) || house_for_champion {
                    continue;
                }
                match want.iter_mut().find(|(h, _)| h == w) {
                    Some((_, s)) => *s += n * base,
                    None => want.push((w.to_owned(), n * base)),
                }
            }
        }
        let got: Vec<(String, f64)> = details["final_scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["hotkey"].as_str().unwrap().to_owned(), s["score"].as_f64().unwrap()))
            .collect();
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for ((h, s), (wh, ws)) in got.iter().zip(&want) {
            assert_eq!(h, wh, "first-win order");
            assert!((s - ws).abs() < 1e-9, "{h}: {s} vs {ws}");
        }
        if let Some(r) = real {
            assert!(got.iter().all(|(h, _)| h != r.as_str()), "the real winner earns no final score");
        }
        scored += got.len();
    }
    assert!(scored > 0, "the run has tasks won by others than the winners");
}

#[test]
fn details_show_the_base_weights_and_burn_data_the_current_ones() {
    let (_dir, db, _report) = simulated();
    let (url, _store, ()) = serve_on(&db);
    let rules = Rules::default();
    let latest = get(&url, "/v1/tournaments/latest/details");
    for kind in ["text", "image"] {
        assert_eq!(latest[kind]["text_tournament_weight"].as_f64(), Some(rules.weights.text.base));
        assert_eq!(latest[kind]["image_tournament_weight"].as_f64(), Some(rules.weights.image.base));
    }
    let burn = &latest["burn_data"];
    let weights = get(&url, "/v1/weights");
    for (kind, key) in [("text", "text_tournament_weight"), ("image", "image_tournament_weight")] {
        let current = weights["types"].as_array().unwrap().iter().find(|t| t["tournament_type"] == kind).unwrap();
        assert_eq!(burn[key], current["winner_weight"], "W_{kind}");
    }
    let (text, image) =
        (burn["text_tournament_weight"].as_f64().unwrap(), burn["image_tournament_weight"].as_f64().unwrap());
    assert!((burn["burn_weight"].as_f64().unwrap() - (1.0 - text - image)).abs() < 1e-12, "{burn}");
    for key in ["text_base_weight", "image_base_weight", "environment_base_weight"] {
        assert!(burn.get(key).is_none(), "{key}: {burn}");
    }
}

#[test]
fn active_shows_active_tournaments_and_not_pending_ones() {
    let (url, store, _dir) = serve(true);
    let live = live_fixture(&store);
    let active = get(&url, "/v1/tournaments/active");
    assert_eq!(active["text"]["tournament_id"], live.active.as_str());
    assert_eq!(active["text"]["status"], "active");
    assert!(active["image"].is_null(), "{} is pending: {active}", live.pending);
}

#[test]
fn gpu_requirements_count_each_unfinished_task_once() {
    let (url, store, _dir) = serve(true);
    live_fixture(&store);
    let rules = Rules::default();
    // Tasks C and A2 of round 1 still train (3B instruct, 2 hours each); task B of round 2 has ended.
    let need = crucible::domain::gpu::requirement(TaskType::InstructText, Some(3_000_000_000), &rules.gpu).to_string();
    let needs = get(&url, "/v1/tournaments/gpu-requirements");
    let want = json!({ "gpu_requirements": [{ "gpu_type": need, "count": 2, "total_hours": 4.0 }], "total_tasks": 2, "total_hours": 4.0 });
    assert_eq!(needs, want);
}

#[test]
fn a_held_gpu_is_used_until_its_training_is_due() {
    let (url, store, _dir) = serve(true);
    let live = live_fixture(&store);
    let trainers = get(&url, "/v1/tournament_orchestrator/trainers");
    let node = trainers.as_array().unwrap().iter().find(|t| t["trainer_ip"] == "http://10.9.9.9:8001").unwrap();
    assert!(node.get("node_id").is_none() && node.get("fenced").is_none(), "{node}");
    let (held, free) = (&node["gpus"][0], &node["gpus"][1]);
    assert_eq!(time(&held["used_until"]), live.held_since + Duration::hours(2), "start + hours_to_complete");
    assert_eq!(held["available"], false);
    assert!(held.get("holder").is_none());
    assert_eq!((&free["used_until"], &free["available"]), (&Value::Null, &json!(true)));

    let own = get(&url, "/v1/crucible/trainers");
    let node = own.as_array().unwrap().iter().find(|t| t["node_id"] == HELD_NODE).unwrap();
    assert_eq!(node["fenced"], false);
    let holder = node["gpus"][0]["holder"].as_str().unwrap();
    assert!(holder.ends_with(Hotkey::synthetic(2).as_str()), "{holder}");
    assert_eq!(node["gpus"][0]["used_until"], held["used_until"]);
}

#[test]
fn avg_attempts_is_the_largest_mean_over_statuses() {
    let (url, store, _dir) = serve(true);
    let stats = get(&url, "/v1/tournament_orchestrator/training_stats");
    assert_eq!(stats["avg_attempts"].as_u64(), Some(0), "the integer 0 without trainings: {stats}");
    live_fixture(&store);
    let stats = get(&url, "/v1/tournament_orchestrator/training_stats");
    let counts = store.training_counts().unwrap();
    let means: Vec<f64> = counts.iter().map(|c| c.attempts as f64 / c.count as f64).collect();
    let overall =
        counts.iter().map(|c| c.attempts).sum::<u64>() as f64 / counts.iter().map(|c| c.count).sum::<u64>() as f64;
    let largest = means.iter().copied().fold(0.0, f64::max);
    assert!(largest > overall, "the fixture tells the two apart: {means:?}");
    assert_eq!(stats["avg_attempts"].as_f64(), Some(largest), "{stats}");
    assert_eq!(stats["training"], 1, "{stats}");
    assert!(counts.iter().any(|c| c.status == TrainingStatus::Pending));
}

#[test]
fn the_crucible_routes_carry_what_the_reference_routes_leave_out() {
    let (_dir, db, report) = simulated();
    let (url, _store, ()) = serve_on(&db);
    let t = &report.tournaments[0];
    let results = get(&url, &format!("/v1/crucible/tournaments/{}/results", t.id));
    let boss = results["boss_round"].as_array().expect("completed: the boss round is shown");
    assert!(boss.iter().all(|b| b["decision_reason"].is_string() && b["threshold_used"].is_number()), "{boss:?}");
    assert!(results["diff_report"].is_string());
    let trainings = results["rounds"][0]["tasks"][0]["trainings"].as_array().unwrap();
    assert!(trainings.iter().all(|tr| tr.get("attempts").is_some() && tr.get("failure_reason").is_some()));
    let details = get(&url, &format!("/v1/tournaments/{}/details", t.id));
    for b in details["boss_round_performance"].as_array().unwrap() {
        assert!(b.get("decision_reason").is_none() && b.get("paired_comparison").is_none(), "{b}");
    }
    let task = &details["rounds"][0]["tasks"][0];
    assert!(task.get("paired_example_wins").is_none(), "{task}");
    assert_eq!(call("GET", &format!("{url}/v1/crucible/tournaments/not-an-id/results"), None, None).0, 400);
    assert_eq!(
        call("GET", &format!("{url}/v1/crucible/tournaments/tourn_00000000000000aa_20260101/results"), None, None).0,
        404
    );
    let doc = get(&url, "/openapi.json");
    for path in ["/v1/crucible/tournaments/{tournament_id}/results", "/v1/crucible/trainers"] {
        assert_eq!(doc["paths"][path]["get"]["tags"][0], "crucible", "{path}");
    }
}
