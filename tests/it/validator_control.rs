//! Operators steer a running validator through the control API: create a tournament without waiting
//! for the interval, cancel live ones (fees refunded, nothing new starts), and a restart closes the
//! attempts a cancelled tournament left running, so no GPU stays held for ever.

use chrono::Utc;
use crucible::domain::{TournamentId, TournamentStatus, TournamentType};
use crucible::store::{Store, Tournament};
use serde_json::{Value, json};

use super::validator::{start_with, terminate, wait_for};

const TOKEN: &str = "op-token";

fn request(method: &str, url: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut r = if method == "GET" { client.get(url) } else { client.post(url) };
        if let Some(t) = token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let response = r.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    })
}

/// Polls `url` until `ready` holds for its JSON (a minute at most).
fn until(url: &str, ready: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..600 {
        let (_, body) = request("GET", url, None, None);
        if ready(&body) {
            return body;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{url} never became ready");
}

#[test]
fn operators_create_and_cancel_tournaments_and_a_restart_frees_what_a_cancel_left_running() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("validator.db");
    let store = Store::open(&format!("sqlite://{}", db.display())).unwrap();
    store.migrate().unwrap();
    // A text tournament completed just now: the next waits for the interval, unless an operator asks.
    let now = Utc::now();
    store
        .insert_tournament(&Tournament {
            id: TournamentId::new(1, 2026, 11, 1),
            tournament_type: TournamentType::Text,
            status: TournamentStatus::Completed,
            base_winner_hotkey: None,
            winner_hotkey: None,
            winning_performance_difference: Some(0.0),
            champion_wins: 0,
            created_at: now,
            started_at: Some(now),
            completed_at: Some(now),
            cancel_reason: None,
        })
        .unwrap();
    // The simulated miners have no balance here: no fees, so they are admitted.
    let env = [
        ("CRUCIBLE_API__LISTEN", "127.0.0.1:0"),
        ("CRUCIBLE_API__TOKEN", TOKEN),
        ("CRUCIBLE_RULES__REGISTRATION__TEXT_FEE_RAO", "0"),
        ("CRUCIBLE_RULES__REGISTRATION__IMAGE_FEE_RAO", "0"),
    ];
    let (mut validator, lines) = start_with(&db, &env);
    let line: Value = serde_json::from_str(&wait_for(&lines, "control API listening")).unwrap();
    let url = format!("http://{}", line["address"].as_str().unwrap());

    assert_eq!(request("GET", &format!("{url}/readyz"), None, None), (200, json!({ "status": "ready" })));
    let (_, dates) = request("GET", &format!("{url}/v1/tournaments/next-dates"), None, None);
    assert_eq!(dates["text"]["tournament_status"], "waiting", "{dates}");
    let create = format!("{url}/v1/tournaments");
    assert_eq!(request("POST", &create, None, Some(json!({ "tournament_type": "text" }))).0, 401);
    let (status, answer) = request("POST", &create, Some(TOKEN), Some(json!({ "tournament_type": "audio" })));
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("tournament_type"), "{answer}");
    let (status, created) = request("POST", &create, Some(TOKEN), Some(json!({ "tournament_type": "text" })));
    assert_eq!(status, 201, "{created}");
    let text = created["tournament_id"].as_str().unwrap().to_owned();
    let (status, answer) = request("POST", &create, Some(TOKEN), Some(json!({ "tournament_type": "text" })));
    assert_eq!(status, 409, "one live tournament per type: {answer}");

    // The image tournament, created at start, runs its first round; cancel it mid-round.
    let active = until(&format!("{url}/v1/tournaments/active"), |a| a["image"]["status"] == "active");
    let image = active["image"]["tournament_id"].as_str().unwrap().to_owned();
    wait_for(&lines, "attempt started");
    let cancel =
        |id: &str, body: Value| request("POST", &format!("{url}/v1/tournaments/{id}/cancel"), Some(TOKEN), Some(body));
    let (status, answer) = cancel(&image, json!({}));
    assert_eq!(status, 400, "a cancellation says why: {answer}");
    // Stored without its control characters and bidirectional override.
    assert_eq!(cancel(&image, json!({ "reason": "\u{202e}maintenance\nwindow\u{7}" })).0, 200);
    let (status, answer) = cancel(&image, json!({ "reason": "again" }));
    assert_eq!(status, 409, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("cancelled"), "{answer}");
    assert_eq!(cancel("tourn_00000000000000ff_20260101", json!({ "reason": "x" })).0, 404);
    // Nothing waits for a confirmation here: refused; an unknown tournament is not found.
    let confirm = |id: &str| request("POST", &format!("{url}/v1/tournaments/{id}/confirm"), Some(TOKEN), None);
    let (status, answer) = confirm(&text);
    assert_eq!(status, 409, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("confirm"), "{answer}");
    assert_eq!(confirm("tourn_00000000000000ff_20260101").0, 404);
    assert_eq!(cancel(&text, json!({ "reason": "created by mistake" })).0, 200);
    let (_, details) = request("GET", &format!("{url}/v1/tournaments/{text}/details"), None, None);
    assert_eq!(details["status"], "cancelled", "{details}");

    terminate(&mut validator);
    assert!(validator.wait().unwrap().success());
    let image = TournamentId::parse(&image).unwrap();
    let running_before = open_attempts_of(&store, &image);
    assert!(running_before > 0, "the cancelled tournament's attempts were still running at the stop");
    // A restart closes what the cancelled tournament left running and frees its GPUs.
    let (mut validator, lines) = start_with(&db, &env);
    wait_for(&lines, "control API listening");
    terminate(&mut validator);
    assert!(validator.wait().unwrap().success());
    assert_eq!(open_attempts_of(&store, &image), 0, "{running_before} attempts were open before the restart");
    let held: Vec<String> =
        store.list_nodes().unwrap().into_iter().flat_map(|n| n.gpus).filter_map(|g| g.holder).collect();
    for holder in held {
        let task = crucible::domain::TaskId::parse(holder.split('/').next().unwrap()).unwrap();
        assert_ne!(store.get_task(&task).unwrap().tournament_id, image, "{holder} still holds a GPU");
    }
    let snapshot = store.tournament_snapshot(&image).unwrap();
    let trainings: Vec<_> = snapshot.rounds.iter().flat_map(|r| &r.tasks).flat_map(|t| &t.trainings).collect();
    assert!(!trainings.is_empty());
    for t in trainings {
        assert!(t.status.is_finished(), "nothing of a cancelled tournament waits for ever: {t:?}");
    }
    let t = store.get_tournament(&image).unwrap();
    assert_eq!(t.status, TournamentStatus::Cancelled);
    assert_eq!(t.cancel_reason.as_deref(), Some("cancelled by an operator: maintenance window"));
}

fn open_attempts_of(store: &Store, tournament: &TournamentId) -> usize {
    store
        .open_attempts()
        .unwrap()
        .into_iter()
        .filter(|a| store.get_task(&a.task_id).unwrap().tournament_id == *tournament)
        .count()
}
