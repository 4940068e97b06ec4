//! The pages and the event stream: a finished simulated run rendered (index, tournament bracket with
//! its boss round and every task, nodes, a miner), errors as pages with their status, the event stream
//! filtered by tournament, and `simulate --serve` watched live from start to end.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use super::api::call;
use super::api_reads::simulated;

/// Serves the API over `db` with `events`; returns the base URL.
fn serve_events(db: &std::path::Path, events: tokio::sync::broadcast::Sender<crucible::actors::Event>) -> String {
    super::api::serve_state(db, true, events, None).0
}

fn get(url: &str) -> (u16, String, String) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let response = reqwest::get(url).await.unwrap();
        let status = response.status().as_u16();
        let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        (status, kind, response.text().await.unwrap())
    })
}

#[test]
fn pages_render_a_finished_run() {
    let (_dir, db, report) = simulated();
    let url = serve_events(&db, tokio::sync::broadcast::channel(8).0);
    let (status, kind, index) = get(&format!("{url}/"));
    assert_eq!((status, kind.as_str()), (200, "text/html; charset=utf-8"));
    for t in &report.tournaments {
        assert!(index.contains(&format!("href=\"/tournaments/{}\"", t.id)), "the index links {}", t.id);
    }
    assert!(index.contains("<td>waiting</td>"), "every type waits for its next tournament");

    for t in &report.tournaments {
        let (status, _, page) = get(&format!("{url}/tournaments/{}", t.id));
        assert_eq!(status, 200);
        assert_eq!(page.matches("<section class=\"round\"").count(), t.rounds.len());
        assert!(page.contains("<table class=\"boss\">"), "the boss round is shown task by task");
        for task in t.rounds.iter().flat_map(|r| &r.tasks) {
            assert!(page.contains(&format!("<code>{}</code>", task.id)), "task {} is shown", task.id);
        }
        let winner = t.winner.as_ref().unwrap();
        assert!(page.contains(&format!("href=\"/miners/{winner}\"")));
        assert!(
            page.contains(&format!("data-events=\"/v1/events?tournament={}\"", t.id)),
            "the page follows its events"
        );
        let (status, _, miner) = get(&format!("{url}/miners/{winner}"));
        assert_eq!(status, 200);
        assert!(miner.contains(&t.id) && miner.contains("Trainings"), "{miner}");
    }
    let (status, _, nodes) = get(&format!("{url}/nodes"));
    assert_eq!(status, 200);
    assert_eq!(nodes.matches("<section class=\"node\">").count(), 6);

    let (status, _, page) = get(&format!("{url}/tournaments/tourn_00000000000000aa_20260101"));
    assert_eq!(status, 404);
    assert!(page.contains("not found"), "{page}");
    let (status, _, page) = get(&format!("{url}/miners/%3Cscript%3Ealert(1)%3C%2Fscript%3E"));
    assert_eq!(status, 400);
    assert!(page.contains("&lt;script&gt;alert(1)") && !page.contains("<script>alert"), "escaped: {page}");
    assert_eq!(get(&format!("{url}/tournaments/%3Cscript%3E")).0, 400);
}

#[test]
fn the_event_stream_sends_one_tournaments_transitions() {
    use crucible::actors::Event;
    use crucible::domain::TournamentId;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db"); // migrated by serve_state
    let (events, _) = tokio::sync::broadcast::channel(16);
    let url = serve_events(&db, events.clone());
    let (mine, other) = (TournamentId::new(1, 2026, 11, 26), TournamentId::new(2, 2026, 11, 26));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let received = runtime.block_on(async {
        let response = reqwest::get(format!("{url}/v1/events?tournament={mine}")).await.unwrap();
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let mut body = response;
        let at = chrono::Utc::now();
        let kind = crucible::domain::TournamentType::Text;
        events.send(Event::TournamentCreated { id: other.clone(), tournament_type: kind, at }).unwrap();
        events.send(Event::TournamentCreated { id: mine.clone(), tournament_type: kind, at }).unwrap();
        let reason = "operator".to_owned();
        events.send(Event::TournamentCancelled { id: mine.clone(), reason, at }).unwrap();
        let mut text = String::new();
        while !text.contains("tournament_cancelled") {
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), body.chunk()).await;
            text.push_str(&String::from_utf8_lossy(&chunk.expect("an event arrives").unwrap().unwrap()));
        }
        text
    });
    assert!(received.starts_with("event: tournament_created\ndata: {"), "{received}");
    assert!(received.contains(mine.as_str()) && !received.contains(other.as_str()), "{received}");
    let (status, answer) = call("GET", &format!("{url}/v1/events?tournament=a&x=1"), None, None);
    assert_eq!(status, 400, "{answer}");
}

#[test]
fn event_streams_are_capped_per_address_and_a_closed_one_frees_its_slot() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("streams.db"); // migrated by serve_state
    let (events, _) = tokio::sync::broadcast::channel(16);
    let url = serve_events(&db, events);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let open = || reqwest::get(format!("{url}/v1/events"));
        // The test server allows three streams per address.
        let mut streams = Vec::new();
        for _ in 0..3 {
            let response = open().await.unwrap();
            assert_eq!(response.status(), 200);
            streams.push(response);
        }
        let refused = open().await.unwrap();
        assert_eq!(refused.status(), 503);
        let text = refused.text().await.unwrap();
        assert!(text.contains("too many event streams") && text.contains("3 per address"), "{text}");
        // A closed stream's slot is free again once the server notices (at its next keep-alive at the latest).
        drop(streams.pop());
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(90);
        loop {
            let response = open().await.unwrap();
            if response.status() == 200 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "the closed stream's slot was never freed");
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    });
}

#[test]
fn simulate_serve_shows_the_tournaments_live_and_after() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args(["simulate", "--miners", "16", "--serve", "127.0.0.1:0", "--pace", "3600"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines
        .by_ref()
        .map(|l| l.unwrap())
        .find_map(|l| l.strip_prefix("serving the live pages and the control API on ").map(str::to_owned))
        .expect("the address is printed");
    let url = url.trim_end_matches('/').to_owned();
    // While it runs: a live tournament, and its transitions on the stream.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let first = runtime.block_on(async {
        let mut body = reqwest::get(format!("{url}/v1/events")).await.unwrap();
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(60), body.chunk()).await;
        String::from_utf8_lossy(&chunk.expect("events flow while it runs").unwrap().unwrap()).into_owned()
    });
    assert!(first.starts_with("event: "), "{first}");
    let (_, dates) = call("GET", &format!("{url}/v1/tournaments/next-dates"), None, None);
    let live = |kind: &str| dates[kind]["tournament_status"] != "waiting";
    assert!(live("text") || live("image"), "watched while live (pending or active): {dates}");
    let ended = lines.by_ref().map(|l| l.unwrap()).any(|l| l.starts_with("the simulation has ended; still serving"));
    assert!(ended);
    let (status, history) = call("GET", &format!("{url}/v1/tournaments/history"), None, None);
    assert_eq!(status, 200);
    let entries = history["tournaments"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{history}");
    assert!(entries.iter().all(|t| t["status"] == "completed"));
    let (status, _, page) = get(&format!("{url}/tournaments/{}", entries[0]["tournament_id"].as_str().unwrap()));
    assert_eq!(status, 200);
    assert!(page.contains("<table class=\"boss\">"));
    child.kill().unwrap();
    child.wait().unwrap();
}
