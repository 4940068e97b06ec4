//! The control API over loopback: health checks, recording credits (idempotent per reference, a
//! conflicting reuse refused), balances, auth, and every kind of bad input answered with JSON and the
//! right 4xx, never a 5xx.

use std::net::TcpListener;
use std::sync::Arc;

use crucible::api::{ApiSettings, ApiState};
use crucible::domain::Coldkey;
use crucible::http::Secret;
use crucible::store::Store;
use serde_json::{Value, json};

pub(crate) const TOKEN: &str = "operator-token";

/// Serves the API on a thread of its own over a fresh database; returns its base URL and the store.
pub(crate) fn serve(public_reads: bool) -> (String, Arc<Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (url, store) = serve_with(&dir.path().join("api.db"), public_reads);
    (url, store, dir)
}

/// Serves the API over an existing database file.
pub(crate) fn serve_on(db: &std::path::Path) -> (String, Arc<Store>, ()) {
    let (url, store) = serve_with(db, true);
    (url, store, ())
}

fn serve_with(db: &std::path::Path, public_reads: bool) -> (String, Arc<Store>) {
    serve_state(db, public_reads, tokio::sync::broadcast::channel(64).0, None)
}

/// Serves the API over `db` with the given event channel and miner directory file.
pub(crate) fn serve_state(
    db: &std::path::Path,
    public_reads: bool,
    events: tokio::sync::broadcast::Sender<crucible::actors::Event>,
    directory_file: Option<String>,
) -> (String, Arc<Store>) {
    let store = Arc::new(Store::open(&format!("sqlite://{}", db.display())).unwrap());
    store.migrate().unwrap();
    (serve_store(store.clone(), public_reads, events, directory_file), store)
}

/// Serves the API over a store opened and migrated; its base URL.
pub(crate) fn serve_store(
    store: Arc<Store>,
    public_reads: bool,
    events: tokio::sync::broadcast::Sender<crucible::actors::Event>,
    directory_file: Option<String>,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let settings = ApiSettings {
        listen: url.clone(),
        token: Secret::new(TOKEN),
        public_reads,
        max_body_bytes: 1024,
        max_event_streams: 8,
        max_event_streams_per_address: 3,
    };
    let rules = crucible::domain::rules::Rules::default();
    let state =
        ApiState { store: store.clone(), rules, events, directory_file, control: None, ready: Default::default() };
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            crucible::api::start(state, &settings, listener).unwrap().await.unwrap();
        })
    });
    url
}

pub(crate) fn call(method: &str, url: &str, token: Option<&str>, body: Option<&str>) -> (u16, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut request = match method {
            "GET" => client.get(url),
            "PUT" => client.put(url),
            "DELETE" => client.delete(url),
            _ => client.post(url),
        };
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            request = request.header("content-type", "application/json").body(b.to_owned());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}")))
    })
}

#[test]
fn credits_are_recorded_once_per_reference_and_balances_read() {
    let (url, store, _dir) = serve(true);
    let coldkey = Coldkey::synthetic(5);
    let body = json!({ "coldkey": coldkey.as_str(), "rao": 300, "reference": "block-9/ext-2" }).to_string();
    let credits = format!("{url}/v1/ledger/credits");
    let (status, answer) = call("POST", &credits, Some(TOKEN), Some(&body));
    assert_eq!((status, &answer["applied"], &answer["balance_rao"]), (201, &json!(true), &json!(300)), "{answer}");
    let (status, answer) = call("POST", &credits, Some(TOKEN), Some(&body));
    assert_eq!((status, &answer["applied"], &answer["balance_rao"]), (200, &json!(false), &json!(300)), "{answer}");
    let reused = json!({ "coldkey": coldkey.as_str(), "rao": 999, "reference": "block-9/ext-2" }).to_string();
    let (status, answer) = call("POST", &credits, Some(TOKEN), Some(&reused));
    assert_eq!(status, 409, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("already recorded as 300 rao"), "{answer}");
    assert_eq!(store.balance(&coldkey).unwrap(), 300);

    let (status, answer) = call("GET", &format!("{url}/transfer/balance/{coldkey}"), None, None);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["coldkey"], coldkey.as_str());
    assert_eq!(
        (&answer["balance_rao"], &answer["total_sent_rao"], &answer["transfer_count"]),
        (&json!(300), &json!(300), &json!(1))
    );
    for field in ["last_transfer_at", "created_at", "updated_at"] {
        assert!(answer[field].is_string(), "{field}: {answer}");
    }
    let (status, answer) = call("GET", &format!("{url}/transfer/balance/{}", Coldkey::synthetic(6)), None, None);
    assert_eq!(status, 404, "{answer}");
    assert!(answer["error"].as_str().unwrap().starts_with("Coldkey balance not found for address: "));
    let (status, answer) = call("GET", &format!("{url}/tournament/fees"), None, None);
    let registration = crucible::domain::rules::Rules::default().registration;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({
            "text_tournament_fee_rao": registration.text_fee_rao,
            "image_tournament_fee_rao": registration.image_fee_rao,
            "environment_tournament_fee_rao": 0
        })
    );
    assert_eq!(call("GET", &format!("{url}/healthz"), None, None), (200, json!({ "status": "ok" })));
    assert_eq!(call("GET", &format!("{url}/readyz"), None, None), (200, json!({ "status": "ready" })));
}

#[test]
fn operations_need_the_token_and_private_reads_too() {
    let (url, _store, _dir) = serve(false);
    let body = json!({ "coldkey": Coldkey::synthetic(1).as_str(), "rao": 1, "reference": "r" }).to_string();
    let credits = format!("{url}/v1/ledger/credits");
    for token in [None, Some("wrong")] {
        let (status, answer) = call("POST", &credits, token, Some(&body));
        assert_eq!(status, 401, "{answer}");
        assert!(answer["error"].is_string());
    }
    let balance = format!("{url}/transfer/balance/{}", Coldkey::synthetic(1));
    assert_eq!(call("GET", &balance, None, None).0, 401);
    assert_eq!(call("GET", &balance, Some(TOKEN), None).0, 404, "known to nobody, but the token was accepted");
    assert_eq!(call("GET", &format!("{url}/healthz"), None, None).0, 200, "health checks are always open");
}

#[test]
fn bad_input_is_a_4xx_naming_the_problem() {
    let (url, _store, _dir) = serve(true);
    let credits = format!("{url}/v1/ledger/credits");
    let good = Coldkey::synthetic(2).to_string();
    let cases = [
        ("{", 400, "invalid JSON"),
        (r#"{"coldkey": "x", "rao": 1, "reference": "r"}"#, 400, "coldkey"),
        (&format!(r#"{{"coldkey": "{good}", "rao": -1, "reference": "r"}}"#), 400, "rao"),
        (&format!(r#"{{"coldkey": "{good}", "rao": 0, "reference": "r"}}"#), 400, "rao: must be positive"),
        // More than the whole supply of TAO (21 million TAO of 10^9 rao each), or than an i64 holds.
        (&format!(r#"{{"coldkey": "{good}", "rao": 21000000000000001, "reference": "r"}}"#), 400, "supply of TAO"),
        (&format!(r#"{{"coldkey": "{good}", "rao": {}, "reference": "r"}}"#, i64::MAX), 400, "supply of TAO"),
        (&format!(r#"{{"coldkey": "{good}", "rao": 1, "reference": " "}}"#), 400, "reference"),
        (&format!(r#"{{"coldkey": "{good}", "rao": 1}}"#), 400, "reference: missing"),
        (&format!(r#"{{"coldkey": "{good}", "rao": "1", "reference": "r"}}"#), 400, "rao: must be a whole number"),
        ("[1]", 400, "must be a JSON object"),
        (&format!(r#"{{"coldkey": "{good}", "rao": 1, "reference": "r", "x": 1}}"#), 400, "unknown field"),
        (&format!(r#"{{"coldkey": "{good}", "rao": 1, "reference": "{}"}}"#, "r".repeat(2000)), 413, "too large"),
    ];
    for (body, status, needle) in cases {
        let (got, answer) = call("POST", &credits, Some(TOKEN), Some(body));
        assert_eq!(got, status, "{body}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(needle), "{body}: {answer}");
    }
    let (status, answer) = call("GET", &format!("{url}/transfer/balance/not-a-key"), None, None);
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = call("GET", &format!("{url}/v1/nothing"), None, None);
    assert_eq!(status, 404, "{answer}");
}

#[test]
fn tournament_history_and_active_reads_answer_in_the_reference_shape() {
    let (url, store, _dir) = serve(true);
    let (_, active) = call("GET", &format!("{url}/v1/tournaments/active"), None, None);
    assert_eq!(active, json!({ "text": null, "image": null, "environment": null }));
    let (_, history) = call("GET", &format!("{url}/v1/tournaments/history"), None, None);
    assert_eq!(history, json!({ "tournaments": [] }));

    // A whole simulation in a database of its own, then the API over it.
    let (_sim_dir, db, report) = super::api_reads::simulated_with(4);
    drop(store);
    let (url, _store, _dir2) = serve_on(&db);
    let (status, history) = call("GET", &format!("{url}/v1/tournaments/history"), None, None);
    assert_eq!(status, 200);
    let entries = history["tournaments"].as_array().unwrap();
    assert_eq!(entries.len(), report.tournaments.len());
    for entry in entries {
        let listed = report.tournaments.iter().find(|t| t.id == entry["tournament_id"].as_str().unwrap()).unwrap();
        assert_eq!(entry["status"], "completed");
        assert_eq!(entry["winner_hotkey"].as_str(), listed.winner.as_ref().map(|h| h.as_str()));
        let keys: Vec<&str> = entry.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["tournament_id", "tournament_type", "status", "winner_hotkey", "base_winner_hotkey", "created_at"]
        );
    }
    let (_, active) = call("GET", &format!("{url}/v1/tournaments/active"), None, None);
    assert_eq!(active, json!({ "text": null, "image": null, "environment": null }), "everything has ended");
}

#[test]
fn every_route_refuses_without_the_token_and_answers_bad_input_with_a_4xx() {
    let (url, _store, _dir) = serve(false);
    let t = "tourn_00000000000000aa_20260101";
    let hk = crucible::domain::Hotkey::synthetic(1);
    let ck = Coldkey::synthetic(1);
    let reads = [
        "/v1/tournaments/latest/details".to_owned(),
        format!("/v1/tournaments/{t}/details"),
        "/v1/tournaments/active".into(),
        "/v1/tournaments/history".into(),
        "/v1/tournaments/next-dates".into(),
        "/v1/tournaments/gpu-requirements".into(),
        "/v1/tournament_orchestrator/trainers".into(),
        "/v1/tournament_orchestrator/training_stats".into(),
        format!("/v1/crucible/tournaments/{t}/results"),
        format!("/v1/crucible/tournaments/{t}/participants"),
        "/v1/crucible/trainers".into(),
        "/tournament/fees".into(),
        format!("/transfer/balance/{ck}"),
        format!("/balance/events/coldkey/{ck}"),
        format!("/balance/events/tournament/{t}"),
        "/v1/events".into(),
        "/metrics".into(),
        "/v1/miners".into(),
        "/v1/weights".into(),
        "/v1/bundle".into(),
        "/openapi.json".into(),
        "/".into(),
        format!("/tournaments/{t}"),
        "/nodes".into(),
        format!("/miners/{hk}"),
    ];
    let operations = [
        ("POST", "/v1/ledger/credits".to_owned()),
        ("POST", "/v1/tournaments".into()),
        ("POST", format!("/v1/tournaments/{t}/cancel")),
        ("POST", "/v1/tasks/some-task/retry".into()),
        ("POST", format!("/tournament/{t}/refund")),
        ("PUT", format!("/v1/miners/{hk}")),
        ("DELETE", format!("/v1/miners/{hk}")),
    ];
    let all = reads.iter().map(|p| ("GET", p.clone())).chain(operations.iter().cloned());
    for (method, path) in all {
        for token in [None, Some("wrong")] {
            let (status, answer) = call(method, &format!("{url}{path}"), token, Some("{}"));
            assert_eq!(status, 401, "{method} {path} with {token:?}: {answer}");
            assert!(answer["error"].is_string(), "{method} {path}: {answer}");
        }
    }
    // With the token, malformed ids, bodies and parameters are a 400 naming what is wrong, never a 5xx.
    let bad = [
        ("GET", "/v1/tournaments/x/details".to_owned(), None, "tournament_id"),
        ("GET", "/balance/events/coldkey/x".into(), None, "coldkey"),
        ("GET", "/balance/events/tournament/x".into(), None, "tournament_id"),
        ("GET", "/v1/events?tournament=a&b=c".into(), None, "query"),
        ("POST", "/v1/tournaments".into(), Some(r#"{"tournament_type": "audio"}"#), "tournament_type"),
        ("POST", "/v1/tournaments".into(), Some("{"), "invalid JSON"),
        ("POST", format!("/v1/tournaments/{t}/cancel"), Some(r#"{"reason": " "}"#), "reason"),
        ("POST", "/v1/tournaments/x/cancel".into(), Some(r#"{"reason": "r"}"#), "tournament_id"),
        ("POST", "/v1/tasks/a%20b/retry".into(), None, "task_id"),
        ("POST", "/v1/tasks/some-task/redo".into(), None, "action"),
        ("POST", "/tournament/x/refund".into(), None, "tournament_id"),
        ("PUT", "/v1/miners/x".into(), Some(r#"{"coldkey": "c", "address": "a:1"}"#), "hotkey"),
        ("DELETE", "/v1/miners/x".into(), None, "hotkey"),
    ];
    for (method, path, body, needle) in bad {
        let (status, answer) = call(method, &format!("{url}{path}"), Some(TOKEN), body);
        assert_eq!(status, 400, "{method} {path}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(needle), "{method} {path}: {answer}");
    }
    // Operations on a running validator answer 503 where none runs, once their input is valid.
    let (status, answer) =
        call("POST", &format!("{url}/v1/tournaments"), Some(TOKEN), Some(r#"{"tournament_type": "text"}"#));
    assert_eq!(status, 503, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("crucible validator"), "{answer}");
}
