//! The remote executor against our trainer node (a real `crucible trainer-node` process) and against
//! misbehaving servers: every answer becomes the outcome the retry rules expect, and the node health
//! loop fences and un-fences nodes in the broker.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crucible::domain::{GpuClass, Hotkey};
use crucible::exec::remote::RemoteExecutor;
use crucible::exec::remote::settings::{PollingSettings, RemoteNodeSettings};
use crucible::exec::{Executor, RunOutcome, TrainingJob};
use crucible::http::Secret;
use crucible::sim::{Shares, SimSettings, SimWorld, SimulatedExecutor};

use super::node::{Http, TOKEN, eventually, job, spawn_node};

pub fn polling() -> PollingSettings {
    PollingSettings {
        poll_interval_secs: 0.1,
        lost_after_polls: 3,
        health_interval_secs: 0.1,
        request_timeout_secs: 5.0,
        follow_margin_secs: 1800.0,
    }
}

pub fn settings(url: &str, token: &str) -> Vec<RemoteNodeSettings> {
    vec![RemoteNodeSettings { id: crate::node_id("gpu-1"), url: url.into(), token: Secret::new(token) }]
}

/// Runs one job through a remote executor for `url` on a thread of its own (the executor is not Send).
pub fn run_remote(url: &str, token: &str, job: TrainingJob) -> std::thread::JoinHandle<RunOutcome> {
    let nodes = settings(url, token);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let executor = RemoteExecutor::new(&nodes, &polling()).unwrap();
        runtime.block_on(executor.run(job))
    })
}

pub fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

#[test]
fn a_remote_run_on_our_node_succeeds_with_the_nodes_score() {
    let dir = tempfile::tempdir().unwrap();
    let node = spawn_node(&dir.path().join("node.db"), &[]);
    let job = job(7, 0.0005, &[0, 1], "gpu-1");
    let outcome = run_remote(&node.url, TOKEN, job.clone()).join().unwrap();

    // The node runs the simulated executor of the default settings with every failure share at zero.
    let shares = Shares { crash_rate: 0.0, hang_rate: 0.0, no_output_rate: 0.0, ..Shares::default() };
    let world = SimWorld::new(SimSettings { miners: 32, seed: 1, shares });
    let expected = SimulatedExecutor::new(Arc::new(world), Arc::new(crucible::clock::WallClock)).fate(&job).outcome;
    let RunOutcome::Success { test_loss, synth_loss, eval } = expected else { panic!("{expected:?}") };
    let RunOutcome::Success { test_loss: got, synth_loss: got_synth, eval: got_eval } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!((got, got_synth), (test_loss, synth_loss), "the node's evaluated losses reach the validator");
    // So do the evaluation's facts, with the time the node collected the output.
    assert_eq!(got_eval.is_finetune, eval.is_finetune);
    assert!(got_eval.collected_at.is_some(), "{got_eval:?}");
    let record = Http::new(&node.url).task(&job).1;
    assert_eq!(record["attempt"], 1);
    assert_eq!(record["gpu_ids"], serde_json::json!([0, 1]));
}

/// A start repeated for the attempt the node already runs (its first answer lost) is a 409 from the
/// node; the validator follows that run instead of counting a refusal, and a start for another
/// attempt of the same running task stays a refusal.
#[test]
fn a_repeated_start_of_the_running_attempt_is_followed_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let node = spawn_node(&dir.path().join("node.db"), &[]);
    let http = Http::new(&node.url);
    let long = job(8, 1.0, &[0], "gpu-1");
    assert_eq!(http.start(&long).0, 200);
    let newer = TrainingJob { attempt: 2, ..long.clone() };
    let refused = run_remote(&node.url, TOKEN, newer).join().unwrap();
    assert!(matches!(&refused, RunOutcome::NotStarted { reason } if reason.contains("409")), "{refused:?}");

    let short = job(9, 0.003, &[1], "gpu-1");
    assert_eq!(http.start(&short).0, 200);
    let outcome = run_remote(&node.url, TOKEN, short.clone()).join().unwrap();
    assert!(matches!(outcome, RunOutcome::Success { .. }), "{outcome:?}");
    assert_eq!(http.task(&short).1["status"], "success");
}

#[test]
fn an_unreachable_node_costs_no_attempt() {
    let outcome = run_remote(&closed_port(), TOKEN, job(1, 1.0, &[0], "gpu-1")).join().unwrap();
    match outcome {
        RunOutcome::NodeUnreachable { reason, during_run: false } => {
            assert!(reason.contains("gpu-1") && reason.contains("cannot connect"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let wrong_token = {
        let dir = tempfile::tempdir().unwrap();
        let node = spawn_node(&dir.path().join("node.db"), &[]);
        run_remote(&node.url, "wrong", job(1, 1.0, &[0], "gpu-1")).join().unwrap()
    };
    assert!(
        matches!(&wrong_token, RunOutcome::NodeUnreachable { reason, during_run: false } if reason.contains("HTTP 401"))
    );
}

#[test]
fn a_node_killed_mid_run_is_a_lost_run_after_the_configured_polls() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = spawn_node(&dir.path().join("node.db"), &[]);
    let job = job(3, 1.0, &[2], "gpu-1");
    // The executor talks through a proxy that counts the polls it forwarded: once one has come back,
    // the executor follows the run (the start's answer reached it), and only then is the node killed.
    let (proxy, polls) = counting_proxy(&node.url);
    let run = run_remote(&proxy, TOKEN, job.clone());
    eventually("the executor to follow the run", || (polls.load(Ordering::SeqCst) > 0).then_some(()));
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    match run.join().unwrap() {
        RunOutcome::NodeUnreachable { reason, during_run: true } => {
            assert!(reason.starts_with("lost: node gpu-1 did not answer 3 polls in a row"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

/// A proxy to `upstream` on a port of its own, one request per connection, and the number of `GET`
/// requests whose answer it passed back; an upstream that does not answer closes the connection.
fn counting_proxy(upstream: &str) -> (String, Arc<AtomicUsize>) {
    let upstream = upstream.strip_prefix("http://").unwrap().to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let polls = Arc::new(AtomicUsize::new(0));
    let counted = polls.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let (upstream, counted) = (upstream.clone(), counted.clone());
            std::thread::spawn(move || {
                let Ok((request, is_get)) = read_request(&stream) else { return };
                let Ok(mut node) = TcpStream::connect(&upstream) else { return };
                let mut answer = Vec::new();
                if node.write_all(&request).is_ok() && node.read_to_end(&mut answer).is_ok() && !answer.is_empty() {
                    let mut client = stream;
                    if client.write_all(&answer).is_ok() && is_get {
                        counted.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    (format!("http://{address}"), polls)
}

/// One request's bytes, rewritten to close its connection after the answer, and whether it is a `GET`.
fn read_request(stream: &TcpStream) -> std::io::Result<(Vec<u8>, bool)> {
    let mut reader = BufReader::new(stream);
    let (mut head, mut length) = (String::new(), 0);
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        if line.trim().is_empty() {
            break;
        }
        if !lower.starts_with("connection:") {
            head.push_str(&line);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let is_get = head.starts_with("GET");
    let mut request = format!("{head}connection: close\r\n\r\n").into_bytes();
    request.extend(body);
    Ok((request, is_get))
}

/// A server answering `POST` with `start` and every `GET` with `poll`: (status, body).
pub fn scripted(start: (u16, &'static str), poll: (u16, &'static str)) -> String {
    scripted_counting(start, poll).0
}

/// [`scripted`], and the number of requests it has read in full. A request is counted before its
/// answer is written, so a client that has its answer always finds it counted.
pub fn scripted_counting(start: (u16, &'static str), poll: (u16, &'static str)) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let counted = asked.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let _ = answer(stream, start, poll, &counted);
        }
    });
    (format!("http://{address}"), asked)
}

fn answer(stream: TcpStream, start: (u16, &str), poll: (u16, &str), asked: &AtomicUsize) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        if line.trim().is_empty() {
            break;
        }
        head.push_str(&line);
    }
    reader.read_exact(&mut vec![0; length])?;
    asked.fetch_add(1, Ordering::SeqCst);
    let (status, body) = if head.starts_with("POST") { start } else { poll };
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    reader.get_mut().write_all(response.as_bytes())
}

/// A scripted answer: status and body.
type Scripted = (u16, &'static str);

pub const STARTED: Scripted = (200, r#"{"message": "Started Training!", "task_id": "t"}"#);

#[test]
fn every_answer_of_a_misbehaving_node_becomes_an_outcome_with_a_reason() {
    let running = (200, r#"{"status": "training", "logs": []}"#);
    let cases: [(Scripted, Scripted, &str); 9] = [
        ((500, "oops"), running, "NodeUnreachable/false: start_training answered HTTP 500: oops"),
        ((200, "<html>"), running, "NodeUnreachable/false: start_training answered outside the protocol"),
        (
            (200, r#"{"message": "Error cloning github repository", "task_id": "t", "error": "no commit abc"}"#),
            running,
            "Unfetchable: no commit abc",
        ),
        (
            (409, r#"{"error": "GPU 0 is held by task x"}"#),
            running,
            "NotStarted: node gpu-1 refused the start (HTTP 409): GPU 0",
        ),
        (
            STARTED,
            (500, "down"),
            "NodeUnreachable/true: lost: node gpu-1 did not answer 3 polls in a row (last: HTTP 500: down)",
        ),
        (
            STARTED,
            (200, "garbage"),
            "NodeUnreachable/true: lost: node gpu-1 did not answer 3 polls in a row (last: unreadable",
        ),
        (
            STARTED,
            (200, r#"{"status": "success", "logs": []}"#),
            "Failed: node gpu-1 reported success without a test_loss",
        ),
        (
            STARTED,
            (200, r#"{"status": "failure", "logs": ["cloning", "Error cloning github repository: gone"]}"#),
            "Unfetchable: Error cloning github repository: gone",
        ),
        (STARTED, (404, r#"{"error": "no such task"}"#), "Failed: lost: node gpu-1 no longer knows task"),
    ];
    for (start, poll, expected) in cases {
        let url = scripted(start, poll);
        let outcome = run_remote(&url, "", job(1, 1.0, &[0], "gpu-1")).join().unwrap();
        let shown = match &outcome {
            RunOutcome::NodeUnreachable { reason, during_run } => format!("NodeUnreachable/{during_run}: {reason}"),
            RunOutcome::Unfetchable { reason } => format!("Unfetchable: {reason}"),
            RunOutcome::NotStarted { reason } => format!("NotStarted: {reason}"),
            RunOutcome::Failed { reason, .. } => format!("Failed: {reason}"),
            RunOutcome::Success { .. } => format!("{outcome:?}"),
        };
        let shown = shown.replace(&format!("node gpu-1 at {url}: "), "");
        assert!(shown.starts_with(expected), "expected {expected:?}, got {shown:?}");
    }
}

#[test]
fn the_health_loop_fences_a_silent_node_and_unfences_it_when_it_answers() {
    use crucible::actors::gpu_broker::{GpuBroker, ListNodes};
    use crucible::actors::health;
    use crucible::store::Db;
    use crucible::store::Store;

    let dir = tempfile::tempdir().unwrap();
    let mut node = spawn_node(&dir.path().join("node.db"), &[]);
    let store = Arc::new(Store::open(&format!("sqlite://{}", dir.path().join("validator.db").display())).unwrap());
    store.migrate().unwrap();
    let system = actix::System::new();
    let url = node.url.clone();
    let (registered, fenced_after_silence, unfenced_after_answer) = system.block_on(async move {
        let clock: crucible::clock::SharedClock = Arc::new(crucible::clock::WallClock);
        let db = Db::new(store.clone());
        let remote = RemoteExecutor::new(&settings(&url, TOKEN), &polling()).unwrap();
        let answered = health::register_nodes(&remote, &db, &clock).await.unwrap();
        assert_eq!(answered, vec![("gpu-1".to_owned(), true)]);
        let stored = store.get_node("gpu-1").unwrap();
        let views = crucible::app::node_views(&store).unwrap();
        let broker = actix::Actor::start(GpuBroker::new(db.clone(), clock.clone(), 2, views));

        node.child.kill().unwrap();
        node.child.wait().unwrap();
        health::check_once(&remote, &broker, &db, &clock).await;
        let silent = broker.send(ListNodes).await.unwrap()[0].fenced;

        // The node comes back (a new process on a new port stands in for it): the health loop, an
        // actor of its own, un-fences it at one of its rounds.
        let back = spawn_node(&dir.path().join("node.db"), &[]);
        let remote = Rc::new(RemoteExecutor::new(&settings(&back.url, TOKEN), &polling()).unwrap());
        let interval = Duration::from_secs_f64(polling().health_interval_secs);
        let loop_broker = broker.clone();
        actix::Actor::start(health::NodeHealth { remote, broker: loop_broker, db, clock, interval });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let answers = loop {
            let fenced = broker.send(ListNodes).await.unwrap()[0].fenced;
            if !fenced || tokio::time::Instant::now() > deadline {
                break fenced;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        (stored, silent, answers)
    });
    let classes: Vec<GpuClass> = registered.gpus.iter().map(|g| g.class).collect();
    assert_eq!(classes, [GpuClass::H100, GpuClass::H100, GpuClass::A100], "the inventory comes from the node");
    assert!(!registered.fenced);
    assert!(fenced_after_silence, "a node that stopped answering is fenced");
    assert!(!unfenced_after_answer, "a fenced node that answers again is un-fenced");
}

/// A validator on remote nodes: the configured ones, read at start.
pub fn remote_validator(settings: &mut crucible::config::Settings, url: &str, nodes: Vec<RemoteNodeSettings>) {
    settings.database.url = url.to_owned();
    settings.validator.executor = crucible::config::ExecutorBackend::Remote;
    settings.validator.nodes = nodes;
    settings.api.token = Secret::new("op-token");
}

#[actix_rt::test]
async fn the_validator_reads_its_remote_nodes_at_start_and_fences_the_silent_one() {
    let dir = tempfile::tempdir().unwrap();
    let node = spawn_node(&dir.path().join("node.db"), &[]);
    let mut nodes = settings(&node.url, TOKEN);
    nodes.push(RemoteNodeSettings { id: crate::node_id("gpu-2"), url: closed_port(), token: Secret::default() });
    let url = format!("sqlite://{}", dir.path().join("validator.db").display());
    let app = crate::app::spawn_app(|s| remote_validator(s, &url, nodes)).await;

    let nodes = app.store.list_nodes().unwrap();
    let ids: Vec<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["gpu-1", "gpu-2"], "no simulated fleet in remote mode");
    assert_eq!((nodes[0].gpus.len(), nodes[0].fenced, nodes[0].address.as_str()), (3, false, node.url.as_str()));
    assert_eq!((nodes[1].gpus.len(), nodes[1].fenced), (0, true));
}

#[actix_rt::test]
async fn operators_add_and_remove_trainer_nodes_and_added_ones_survive_a_restart() {
    use serde_json::json;

    let dir = tempfile::tempdir().unwrap();
    let configured = spawn_node(&dir.path().join("node-1.db"), &[]);
    let extra = spawn_node(&dir.path().join("node-2.db"), &[]);
    let url = format!("sqlite://{}", dir.path().join("validator.db").display());
    let app = crate::app::spawn_app(|s| remote_validator(s, &url, settings(&configured.url, TOKEN))).await;
    let api = app.url.clone();
    let trainers = format!("{api}/v1/tournament_orchestrator/trainers");
    let add = format!("{api}/v1/tournament_orchestrator/add_trainer");
    let remove = |key: &str| {
        format!("{api}/v1/tournament_orchestrator/remove_trainer/{}", key.replace(':', "%3A").replace('/', "%2F"))
    };
    let op = Some("op-token");

    assert_eq!(crate::app::call("GET", &trainers, None, None).await.1.as_array().unwrap().len(), 1);
    let body = json!({ "trainer_ip": extra.url, "token": TOKEN });
    assert_eq!(crate::app::call("POST", &add, None, Some(body.clone())).await.0, 401);
    let (status, added) = crate::app::call("POST", &add, op, Some(body.clone())).await;
    assert_eq!(status, 201, "{added}");
    let id = added["node_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("127.0.0.1-"), "{id}");
    assert_eq!((added["gpus"].as_array().unwrap().len(), &added["fenced"]), (3, &json!(false)), "{added}");
    let (status, answer) = crate::app::call("POST", &add, op, Some(body)).await;
    assert_eq!(status, 409, "{answer}");
    let (status, answer) = crate::app::call("POST", &add, op, Some(json!({ "trainer_ip": closed_port() }))).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("does not answer"), "{answer}");
    let (status, answer) = crate::app::call("POST", &add, op, Some(json!({ "trainer_ip": "not a url" }))).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().starts_with("trainer_ip"), "{answer}");
    assert_eq!(crate::app::call("GET", &trainers, None, None).await.1.as_array().unwrap().len(), 2);
    let (status, answer) = crate::app::call("DELETE", &remove("gpu-1"), op, None).await;
    assert_eq!(status, 409, "a configured node is removed from the configuration: {answer}");
    assert_eq!(crate::app::call("DELETE", &remove("nope"), op, None).await.0, 404);

    // Stopped and built again on the same database, as a restarted validator.
    app.shutdown().await;
    let again = crate::app::spawn_app(|s| remote_validator(s, &url, settings(&configured.url, TOKEN))).await;
    let trainers = format!("{}/v1/crucible/trainers", again.url);
    let listed = crate::app::call("GET", &trainers, None, None).await.1;
    let restored = listed.as_array().unwrap().iter().find(|t| t["node_id"] == id.as_str()).cloned();
    let restored = restored.unwrap_or_else(|| panic!("the added node survives a restart: {listed}"));
    assert_eq!(restored["fenced"], false, "it answered at start: {restored}");
    let remove = format!(
        "{}/v1/tournament_orchestrator/remove_trainer/{}",
        again.url,
        extra.url.replace(':', "%3A").replace('/', "%2F")
    );
    let (status, answer) = crate::app::call("DELETE", &remove, op, None).await;
    assert_eq!((status, &answer["removed"]), (200, &json!(id)), "removed by its URL: {answer}");
    assert_eq!(crate::app::call("GET", &trainers, None, None).await.1.as_array().unwrap().len(), 1);
}

#[test]
fn a_node_whose_gpus_are_held_is_drained_and_stays_fenced_until_it_is_removed() {
    use std::rc::Rc;

    use crucible::actors::control::{AddRemoteNode, ControlError, RemoveRemoteNode};
    use crucible::actors::fleet::FleetActor;
    use crucible::actors::gpu_broker::{AddNode, GpuBroker, ListNodes};
    use crucible::domain::gpu::{GpuSlot, NodeView};
    use crucible::store::Db;

    let dir = tempfile::tempdir().unwrap();
    let node = spawn_node(&dir.path().join("node.db"), &[]);
    let store =
        Arc::new(crucible::store::Store::open(&format!("sqlite://{}", dir.path().join("v.db").display())).unwrap());
    store.migrate().unwrap();
    let (url, checked) = (node.url.clone(), store.clone());
    actix::System::new().block_on(async move {
        use actix::Actor;
        let db = Db::new(store.clone());
        let clock: crucible::clock::SharedClock = Arc::new(crucible::clock::WallClock);
        let broker = GpuBroker::new(db.clone(), clock.clone(), 2, Vec::new()).start();
        let remote = Rc::new(RemoteExecutor::new(&[], &polling()).unwrap());
        let fleet = FleetActor::new(Some(remote.clone()), "remote", broker.clone(), db.clone(), clock.clone()).start();
        let added =
            fleet.send(AddRemoteNode { url: url.clone(), id: Some("n1".into()), token: TOKEN.into() }).await.unwrap();
        assert_eq!(added.unwrap().gpus.len(), 3);
        // A training holds GPU 0.
        let held = |holder: Option<&crucible::domain::TrainingKey>| NodeView {
            id: crate::node_id("n1"),
            fenced: false,
            gpus: vec![GpuSlot { index: 0, class: GpuClass::H100, holder: holder.cloned() }],
        };
        let training = crucible::domain::TrainingKey::parse(&format!("task/{}", Hotkey::synthetic(1))).unwrap();
        store.set_gpu_holder("n1", 0, Some(&training)).unwrap();
        broker.send(AddNode(held(Some(&training)))).await.unwrap();
        let answer = fleet.send(RemoveRemoteNode { key: "n1".into() }).await.unwrap();
        assert!(matches!(&answer, Err(ControlError::Conflict(m)) if m.contains("fenced now")), "{answer:?}");
        assert!(store.get_node("n1").unwrap().fenced && store.added_nodes().unwrap()[0].draining);
        // The node answers, yet the health loop keeps it fenced.
        crucible::actors::health::check_once(&remote, &broker, &db, &clock).await;
        let views = broker.send(ListNodes).await.unwrap();
        assert!(views.iter().find(|v| v.id == "n1").unwrap().fenced, "a draining node stays fenced");
        // Its run ended: now it goes.
        store.set_gpu_holder("n1", 0, None).unwrap();
        broker.send(AddNode(held(None))).await.unwrap();
        let answer = fleet.send(RemoveRemoteNode { key: url.clone() }).await.unwrap();
        assert_eq!(answer, Ok("n1".to_owned()));
        assert!(remote.node_ids().is_empty());
        assert!(broker.send(ListNodes).await.unwrap().is_empty());
    });
    assert!(checked.added_nodes().unwrap().is_empty());
    assert!(checked.list_nodes().unwrap().is_empty());
}

/// A run with the executor's polling but `margin` seconds past its hours allowed.
fn run_with_margin(url: &str, job: TrainingJob, margin: f64) -> RunOutcome {
    let nodes = settings(url, TOKEN);
    let polling = PollingSettings { follow_margin_secs: margin, ..polling() };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(RemoteExecutor::new(&nodes, &polling).unwrap().run(job))
}

#[test]
fn a_node_training_past_the_hours_and_margin_is_a_lost_run() {
    let node = scripted(STARTED, (200, r#"{"status": "training", "logs": []}"#));
    let outcome = run_with_margin(&node, job(11, 0.0002, &[0], "gpu-1"), 0.5);
    match outcome {
        RunOutcome::Failed { reason, .. } => {
            assert_eq!(reason, "lost: node gpu-1 still reports training 0 s past the task's 0.0002 hours")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_record_of_another_attempt_is_never_read_as_this_ones() {
    let node = scripted(STARTED, (200, r#"{"status": "success", "logs": [], "attempt": 2, "test_loss": 0.1}"#));
    let outcome = run_with_margin(&node, job(12, 1.0, &[0], "gpu-1"), 60.0);
    match outcome {
        RunOutcome::Failed { reason, .. } => {
            assert!(reason.contains("now holds attempt 2") && reason.ends_with("not attempt 1"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_failed_run_on_a_node_keeps_the_image_it_ran() {
    let record = r#"{"status": "failure", "logs": ["exit 1: CUDA error"], "attempt": 1,
        "failure_kind": "failed", "evaluation": {"image": "sha256:0d5c"}}"#;
    let node = scripted(STARTED, (200, record));
    let outcome = run_with_margin(&node, job(13, 1.0, &[0], "gpu-1"), 60.0);
    let expected = RunOutcome::Failed { reason: "exit 1: CUDA error".into(), image: Some("sha256:0d5c".into()) };
    assert_eq!(outcome, expected);
}

/// A node behind TLS with a certificate no authority signed: the executor speaks TLS and refuses it.
#[test]
fn a_node_url_over_https_is_verified() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = std::process::Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept", &port.to_string()])
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    eventually("the TLS server to listen", || TcpStream::connect(("127.0.0.1", port)).ok());
    let outcome = run_remote(&format!("https://127.0.0.1:{port}"), TOKEN, job(13, 1.0, &[0], "gpu-1")).join().unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    match outcome {
        RunOutcome::NodeUnreachable { reason, during_run: false } => {
            assert!(reason.to_lowercase().contains("certificate"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}
