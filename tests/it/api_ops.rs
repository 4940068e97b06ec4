//! The operations on stored state: the miner directory (refused while a file manages it), refunds of a
//! cancelled tournament (once each, whatever the retries), and the weights and results bundle, which
//! `crucible rules weights` turns into the same weights.

use chrono::Utc;
use crucible::domain::{AdmissionOutcome, Coldkey, Hotkey, TournamentId, TournamentStatus, TournamentType};
use crucible::store::{Participant, Tournament};
use serde_json::json;

use super::api::{TOKEN, call, serve, serve_state};
use super::api_reads::simulated;

#[test]
fn the_miner_directory_is_managed_through_the_api() {
    let (url, store, _dir) = serve(true);
    let hotkey = Hotkey::synthetic(3);
    let miner = format!("{url}/v1/miners/{hotkey}");
    let body =
        json!({ "coldkey": Coldkey::synthetic(3).as_str(), "address": "10.0.0.3:8091", "stake": 12.5 }).to_string();
    assert_eq!(call("PUT", &miner, None, Some(&body)).0, 401, "operations need the token");
    let (status, answer) = call("PUT", &miner, Some(TOKEN), Some(&body));
    assert_eq!((status, &answer["address"]), (201, &json!("10.0.0.3:8091")), "{answer}");
    let moved = json!({ "coldkey": Coldkey::synthetic(3).as_str(), "address": "10.0.0.4:8091" }).to_string();
    assert_eq!(call("PUT", &miner, Some(TOKEN), Some(&moved)).0, 200);
    assert_eq!(store.get_miner(&hotkey).unwrap().address, "10.0.0.4:8091");
    let (_, listed) = call("GET", &format!("{url}/v1/miners"), None, None);
    assert_eq!(listed["miners"].as_array().unwrap().len(), 1, "{listed}");
    let good = Coldkey::synthetic(3).to_string();
    for (body, needle) in [
        (json!({ "coldkey": "nope", "address": "a:1" }), "coldkey"),
        (json!({ "coldkey": good, "address": "no-port" }), "address"),
        (json!({ "coldkey": good, "address": "a:1", "stake": -1.0 }), "stake"),
        (json!({ "coldkey": good, "address": "a:1", "extra": 1 }), "unknown field `extra`"),
        (json!({ "address": "a:1" }), "missing field `coldkey`"),
    ] {
        let (status, answer) = call("PUT", &miner, Some(TOKEN), Some(&body.to_string()));
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(needle), "{body}: {answer}");
    }
    assert_eq!(call("PUT", &format!("{url}/v1/miners/bad"), Some(TOKEN), Some(&body)).0, 400);
    assert_eq!(call("DELETE", &miner, Some(TOKEN), None).0, 200);
    assert_eq!(call("DELETE", &miner, Some(TOKEN), None).0, 404);
    assert!(store.list_miners().unwrap().is_empty());

    let dir = tempfile::tempdir().unwrap();
    let events = tokio::sync::broadcast::channel(4).0;
    let (url, _store) = serve_state(&dir.path().join("f.db"), true, events, Some("/etc/crucible/miners.toml".into()));
    let (status, answer) = call("PUT", &format!("{url}/v1/miners/{hotkey}"), Some(TOKEN), Some(&body));
    assert_eq!(status, 409, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("/etc/crucible/miners.toml"), "{answer}");
}

#[test]
fn a_cancelled_tournament_is_refunded_once() {
    let (url, store, _dir) = serve(true);
    let id = TournamentId::new(77, 2026, 11, 26);
    let now = Utc::now();
    store
        .insert_tournament(&Tournament {
            id: id.clone(),
            tournament_type: TournamentType::Text,
            status: TournamentStatus::Pending,
            base_winner_hotkey: None,
            winner_hotkey: None,
            winning_performance_difference: None,
            champion_wins: 0,
            created_at: now,
            started_at: None,
            completed_at: None,
            cancel_reason: None,
            track: "text".into(),
        })
        .unwrap();
    let coldkey = Coldkey::synthetic(8);
    store
        .upsert_participant(&Participant {
            tournament_id: id.clone(),
            hotkey: Hotkey::synthetic(8),
            coldkey: Some(coldkey.clone()),
            repo_url: "https://example.invalid/r".into(),
            commit_hash: "a".repeat(40),
            is_house: false,
            admission: AdmissionOutcome::Admitted,
            admission_reason: "paid".into(),
            eliminated_in_round: None,
            fee_rao: Some(250),
            created_at: now,
        })
        .unwrap();
    let refund = format!("{url}/tournament/{id}/refund");
    let (status, answer) = call("POST", &refund, Some(TOKEN), None);
    assert_eq!(status, 409, "a pending tournament is not refunded: {answer}");
    let change =
        crucible::store::StatusChange::new(TournamentStatus::Pending, TournamentStatus::Cancelled, "test", now);
    store.set_tournament_status(&id, &change).unwrap();
    let (status, answer) = call("POST", &refund, Some(TOKEN), None);
    let message = format!("Processed 1 refunds for tournament {id}");
    assert_eq!(
        (status, &answer),
        (200, &json!({ "tournament_id": id.as_str(), "refunds_processed": 1, "message": message }))
    );
    let (status, answer) = call("POST", &refund, Some(TOKEN), None);
    assert_eq!((status, &answer["refunds_processed"]), (200, &json!(0)), "nothing is refunded twice: {answer}");
    assert_eq!(store.balance(&coldkey).unwrap(), 250, "refunded once");
    let (status, events) = call("GET", &format!("{url}/balance/events/tournament/{id}"), None, None);
    assert_eq!(status, 200, "{events}");
    assert_eq!(events.as_array().unwrap().len(), 1, "{events}");
    assert_eq!((&events[0]["event_type"], &events[0]["amount_rao"]), (&json!("refund"), &json!(250)));
    assert_eq!(events[0]["tournament_id"], id.as_str());
    assert_eq!(events[0]["description"], format!("Refund for participation fee in tournament {id}"));
    let (status, events) = call("GET", &format!("{url}/balance/events/coldkey/{coldkey}?limit=5"), None, None);
    assert_eq!((status, events.as_array().map(Vec::len)), (200, Some(1)), "{events}");
    for bad in ["?limit=0", "?limit=5000", "?limit=x", "?other=1"] {
        let (status, answer) = call("GET", &format!("{url}/balance/events/coldkey/{coldkey}{bad}"), None, None);
        assert_eq!(status, 400, "{bad}: {answer}");
    }
    let unknown = format!("{url}/balance/events/tournament/tourn_00000000000000ff_20260101");
    assert_eq!(call("GET", &unknown, None, None), (200, json!([])), "the reference answers an unknown id with []");
    assert_eq!(call("POST", &refund, None, None).0, 401);
    assert_eq!(
        call("POST", &format!("{url}/tournament/tourn_00000000000000ff_20260101/refund"), Some(TOKEN), None).0,
        404
    );
}

#[test]
fn weights_and_the_bundle_agree_with_rules_weights() {
    let (dir, db, report) = simulated();
    let (url, _store, ()) = super::api::serve_on(&db);
    let (status, weights) = call("GET", &format!("{url}/v1/weights"), None, None);
    assert_eq!(status, 200);
    for (hotkey, weight) in &report.weights {
        let served = weights["weights"][hotkey.as_str()].as_f64().unwrap();
        assert!((served - weight).abs() < 1e-12, "{hotkey}: {served} vs {weight}");
    }
    let (status, bundle) = call("GET", &format!("{url}/v1/bundle"), None, None);
    assert_eq!(status, 200);
    let file = dir.path().join("bundle.json");
    std::fs::write(&file, bundle.to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args(["rules", "weights", "--input", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let audited: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(audited["weights"], weights["weights"], "an auditor recomputes the same weights from the bundle");
}
