//! Operators steer a running validator through the control API: create a tournament without waiting
//! for the interval, cancel live ones (fees refunded, nothing new starts, running attempts stopped at
//! once and their GPUs freed).

use chrono::Utc;
use crucible::actors::Event;
use crucible::config::Settings;
use crucible::domain::TournamentType::Image;
use crucible::domain::{TournamentId, TournamentStatus};
use crucible::http::Secret;
use crucible::store::Store;
use serde_json::{Value, json};

use super::app::{call, spawn_app};

const TOKEN: &str = "op-token";

#[actix_rt::test]
async fn operators_create_and_cancel_tournaments_and_a_cancel_stops_their_running_attempts_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("validator.db").display());
    let store = Store::open(&db).unwrap();
    store.migrate().unwrap();
    // A text tournament completed just now: the next waits for the interval, unless an operator asks.
    let now = Utc::now();
    store.insert_tournament(&super::app::completed_text_tournament(1, now)).unwrap();
    // The simulated miners have no balance here: no fees, so they are admitted.
    let configure = |settings: &mut Settings| {
        settings.database.url = db.clone();
        settings.api.token = Secret::new(TOKEN);
        settings.rules.registration.text_fee_rao = 0;
        settings.rules.registration.image_fee_rao = 0;
    };
    let mut app = spawn_app(configure).await;
    let url = app.url.clone();

    assert_eq!(call("GET", &format!("{url}/readyz"), None, None).await, (200, json!({ "status": "ready" })));
    let (_, dates) = call("GET", &format!("{url}/v1/tournaments/next-dates"), None, None).await;
    assert_eq!(dates["text"]["tournament_status"], "waiting", "{dates}");
    let create = format!("{url}/v1/tournaments");
    assert_eq!(call("POST", &create, None, Some(json!({ "tournament_type": "text" }))).await.0, 401);
    let (status, answer) = call("POST", &create, Some(TOKEN), Some(json!({ "tournament_type": "audio" }))).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("tournament_type"), "{answer}");
    let (status, created) = call("POST", &create, Some(TOKEN), Some(json!({ "tournament_type": "text" }))).await;
    assert_eq!(status, 201, "{created}");
    let text = created["tournament_id"].as_str().unwrap().to_owned();
    let (status, answer) = call("POST", &create, Some(TOKEN), Some(json!({ "tournament_type": "text" }))).await;
    assert_eq!(status, 409, "one live tournament per type: {answer}");

    // The image tournament, created at start, runs its first round; cancel it mid-round.
    let image = app
        .next(|event| match event {
            Event::TrainingStarted { id, .. } if store.get_tournament(id).unwrap().tournament_type == Image => {
                Some(id.to_string())
            }
            _ => None,
        })
        .await;
    let (_, active) = call("GET", &format!("{url}/v1/tournaments/active"), None, None).await;
    assert_eq!((&active["image"]["status"], &active["image"]["tournament_id"]), (&json!("active"), &json!(image)));
    let cancel = async |id: &str, body: Value| {
        call("POST", &format!("{url}/v1/tournaments/{id}/cancel"), Some(TOKEN), Some(body)).await
    };
    let (status, answer) = cancel(&image, json!({})).await;
    assert_eq!(status, 400, "a cancellation says why: {answer}");
    // Stored without its control characters and bidirectional override.
    assert_eq!(cancel(&image, json!({ "reason": "\u{202e}maintenance\nwindow\u{7}" })).await.0, 200);
    let (status, answer) = cancel(&image, json!({ "reason": "again" })).await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("cancelled"), "{answer}");
    assert_eq!(cancel("tourn_00000000000000ff_20260101", json!({ "reason": "x" })).await.0, 404);
    // Nothing waits for a confirmation here: refused; an unknown tournament is not found.
    let confirm = async |id: &str| call("POST", &format!("{url}/v1/tournaments/{id}/confirm"), Some(TOKEN), None).await;
    let (status, answer) = confirm(&text).await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("confirm"), "{answer}");
    assert_eq!(confirm("tourn_00000000000000ff_20260101").await.0, 404);
    assert_eq!(cancel(&text, json!({ "reason": "created by mistake" })).await.0, 200);
    let (_, details) = call("GET", &format!("{url}/v1/tournaments/{text}/details"), None, None).await;
    assert_eq!(details["status"], "cancelled", "{details}");

    // The cancelled tournament's running attempts stop at once: each ends, its GPUs freed.
    let image = TournamentId::parse(&image).unwrap();
    while open_attempts_of(&store, &image) > 0 {
        app.next(|event| matches!(event, Event::TrainingEnded { id, .. } if *id == image).then_some(())).await;
    }
    let snapshot = store.tournament_snapshot(&image).unwrap();
    let stopped = snapshot
        .rounds
        .iter()
        .flat_map(|r| &r.tasks)
        .flat_map(|t| &t.trainings)
        .flat_map(|t| store.attempts(&t.task_id, &t.hotkey).unwrap())
        .filter(|a| a.reason.as_deref() == Some("stopped: its tournament was cancelled"))
        .count();
    assert!(stopped > 0, "the running attempts were stopped");
    app.shutdown().await;
    // A restart finds nothing of it left to close.
    spawn_app(configure).await.shutdown().await;
    assert_eq!(open_attempts_of(&store, &image), 0);
    let held: Vec<crucible::domain::TrainingKey> =
        store.list_nodes().unwrap().into_iter().flat_map(|n| n.gpus).filter_map(|g| g.holder).collect();
    for holder in held {
        let task = holder.task.clone();
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

#[actix_rt::test]
async fn stalled_work_is_listed_and_retried_through_the_api() {
    let mut app = spawn_app(|settings| settings.api.token = Secret::new(TOKEN)).await;
    let (status, listed) = call("GET", &format!("{}/v1/crucible/stalls", app.url), None, None).await;
    assert_eq!((status, listed), (200, json!([])), "nothing has stalled");
    let live =
        app.next(|event| matches!(event, Event::TournamentCreated { .. }).then(|| event.tournament().clone())).await;
    let retry = format!("{}/v1/crucible/stalls/retry", app.url);
    let ask = async |body: Value, token| call("POST", &retry, token, Some(body)).await;
    assert_eq!(ask(json!({ "tournament_id": live.as_str() }), None).await.0, 401);
    let (status, answer) = ask(json!({ "tournament_id": "tourn_x" }), Some(TOKEN)).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().starts_with("tournament_id"), "{answer}");
    let (status, answer) = ask(json!({ "tournament_id": live.as_str(), "task_id": "t" }), Some(TOKEN)).await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = ask(json!({ "tournament_id": "tourn_00000000000000ff_20260101" }), Some(TOKEN)).await;
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = ask(json!({ "tournament_id": live.as_str() }), Some(TOKEN)).await;
    assert_eq!(status, 409, "a live tournament that has not stalled: {answer}");
}
