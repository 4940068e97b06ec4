//! A cancelled run on a trainer node is stopped there: the remote executor asks the node
//! (`POST /v1/trainer/cancel_training`, crucible's extension of the trainer API), our node kills the
//! run and frees its GPUs, and every other answer (a reference node without the route, a refusal, a
//! node that does not answer) is read and logged without hanging or asking for ever.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crucible::actors::Event;
use crucible::exec::remote::RemoteExecutor;
use crucible::exec::{Executor, TrainingJob};
use serde_json::{Value, json};

use super::app::{call, spawn_app};
use super::node::{Http, TOKEN, job, spawn_node};
use super::remote::{closed_port, polling, remote_validator, scripted_counting, settings};

/// `Executor::cancel` of `job` through a remote executor for the node at `url`, to its end.
fn cancel_on(url: &str, job: TrainingJob) {
    let nodes = settings(url, TOKEN);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let executor = RemoteExecutor::new(&nodes, &polling()).unwrap();
        runtime.block_on(executor.cancel(job));
    })
    .join()
    .unwrap();
}

#[test]
fn the_executor_asks_the_node_to_stop_a_run_and_reads_every_answer() {
    let dir = tempfile::tempdir().unwrap();
    let node = spawn_node(&dir.path().join("node.db"), &[]);
    let http = Http::new(&node.url);
    let (long, other) = (job(1, 1.0, &[0], "gpu-1"), job(2, 1.0, &[1], "gpu-1"));
    assert_eq!(http.start(&long).0, 200);
    assert_eq!(http.start(&other).0, 200);
    cancel_on(&node.url, long.clone());
    let (_, record) = http.task(&long);
    assert_eq!(record["status"], "failure", "{record}");
    assert_eq!(record["logs"].as_array().unwrap().last().unwrap(), "Training cancelled by the validator");
    assert_eq!(http.task(&other).1["status"], "training", "only the cancelled attempt stops");
    let free: Vec<bool> = http.gpus().iter().map(|g| g["available"].as_bool().unwrap()).collect();
    assert_eq!(free, [true, false, true]);
    // Asked again (an answer lost on the way): the node says it has ended, once.
    let (url, asked) = scripted_counting((409, r#"{"detail": "task t is not training"}"#), (200, "{}"));
    cancel_on(&url, long.clone());
    assert_eq!(asked.load(Ordering::SeqCst), 1);

    // A reference node has no such route (405), a refusal is final: asked once. A node that never
    // took the start (404) or cannot answer now (503) is asked `lost_after_polls` times, then left.
    let lost_after = polling().lost_after_polls as usize;
    let cases = [
        ((405, r#"{"detail": "Method Not Allowed"}"#), 1),
        ((401, r#"{"detail": "Not authenticated"}"#), 1),
        ((200, r#"{"message": "Training cancelled by the validator"}"#), 1),
        ((404, r#"{"detail": "Task not found."}"#), lost_after),
        ((503, r#"{"detail": "the task book is not answering"}"#), lost_after),
    ];
    for (answer, expected) in cases {
        let (url, asked) = scripted_counting(answer, (200, "{}"));
        cancel_on(&url, long.clone());
        assert_eq!(asked.load(Ordering::SeqCst), expected, "HTTP {}", answer.0);
    }
    // A node that cannot be reached: the cancel still ends.
    cancel_on(&closed_port(), long);
}

/// The node's task records, newest first; none is an empty list.
async fn node_tasks(url: &str) -> Vec<Value> {
    let (status, tasks) = call("GET", &format!("{url}/v1/trainer/get_recent_tasks?hours=24"), Some(TOKEN), None).await;
    match status {
        200 => tasks.as_array().unwrap().clone(),
        404 => Vec::new(),
        _ => panic!("HTTP {status}: {tasks}"),
    }
}

#[actix_rt::test]
async fn a_cancelled_tournaments_runs_are_stopped_on_its_node() {
    let dir = tempfile::tempdir().unwrap();
    let node = spawn_node(&dir.path().join("node.db"), &[("CRUCIBLE_TRAINER_NODE__GPUS", "8H100+8A100")]);
    let url = format!("sqlite://{}", dir.path().join("validator.db").display());
    let mut app = spawn_app(|s| {
        remote_validator(s, &url, settings(&node.url, TOKEN));
        // The simulated miners have no balance here: no fees, so they are admitted.
        s.rules.registration.text_fee_rao = 0;
        s.rules.registration.image_fee_rao = 0;
    })
    .await;
    // The node runs the simulated executor on the wall clock: a training takes its hours, so it is
    // still running when its tournament is cancelled.
    let tournament = app
        .next(|event| match event {
            Event::TrainingStarted { id, .. } => Some(id.clone()),
            _ => None,
        })
        .await;
    let of_tournament = |task: &Value| task["tournament_id"] == json!(tournament);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !node_tasks(&node.url).await.iter().any(|t| of_tournament(t) && t["status"] == "training") {
        assert!(Instant::now() < deadline, "no task of {tournament} reached the node");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    let cancel = format!("{}/v1/tournaments/{tournament}/cancel", app.url);
    let (status, answer) = call("POST", &cancel, Some("op-token"), Some(json!({ "reason": "maintenance" }))).await;
    assert_eq!(status, 200, "{answer}");

    // Every run of the tournament on the node ends, stopped by the validator.
    let deadline = Instant::now() + Duration::from_secs(60);
    let ended = loop {
        let tasks: Vec<Value> = node_tasks(&node.url).await.into_iter().filter(of_tournament).collect();
        if tasks.iter().all(|t| t["status"] != "training") {
            break tasks;
        }
        let training: Vec<&Value> = tasks.iter().filter(|t| t["status"] == "training").map(|t| &t["hotkey"]).collect();
        assert!(Instant::now() < deadline, "runs of the cancelled tournament still train: {training:?}");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    };
    let cancelled = ended
        .iter()
        .filter(|t| t["logs"].as_array().unwrap().last() == Some(&json!("Training cancelled by the validator")));
    assert!(cancelled.count() > 0, "{ended:?}");
    assert_eq!(app.store.get_tournament(&tournament).unwrap().status, crucible::domain::TournamentStatus::Cancelled);
    app.shutdown().await;
}
