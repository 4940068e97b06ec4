//! The remote executor driving our `crucible trainer-node` whose executor is `local`: a miner
//! repository fetched, built, trained and evaluated on the node's Docker engine, the score reaching the
//! validator side through the trainer API; and a run the validator cancels, killed on the node.

use crucible::docker::container;
use crucible::exec::contract::labels;
use crucible::exec::remote::RemoteExecutor;
use crucible::exec::remote::settings::{PollingSettings, RemoteNodeSettings};
use crucible::exec::{Executor, RunOutcome, TrainingJob};
use crucible::http::Secret;

use super::support::{self, EVALUATOR};
use crate::node::{NodeProcess, TOKEN, job, spawn_node};

/// A `crucible trainer-node` whose executor is `local`, working under `dir`.
fn local_node(dir: &std::path::Path) -> NodeProcess {
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let (work, cache) = (path("work"), path("cache"));
    spawn_node(
        &dir.join("node.db"),
        &[
            ("CRUCIBLE_TRAINER_NODE__EXECUTOR", "local"),
            ("CRUCIBLE_GATES__ALLOW_LOCAL", "true"),
            ("CRUCIBLE_LOCAL_EXECUTOR__WORK_DIR", work.as_str()),
            ("CRUCIBLE_LOCAL_EXECUTOR__CACHE_DIR", cache.as_str()),
            ("CRUCIBLE_LOCAL_EXECUTOR__EVALUATOR_IMAGE", EVALUATOR),
            ("CRUCIBLE_LOCAL_EXECUTOR__GPUS", "none"),
            ("CRUCIBLE_LOCAL_EXECUTOR__MEMORY_MIB_PER_GPU", "128"),
            ("CRUCIBLE_LOCAL_EXECUTOR__CPUS_PER_GPU", "0.5"),
        ],
    )
}

/// The validator's side of a node at `url`.
fn nodes(url: &str) -> Vec<RemoteNodeSettings> {
    vec![RemoteNodeSettings { id: crate::node_id("gpu-1"), url: url.to_owned(), token: Secret::new(TOKEN) }]
}

fn polling() -> PollingSettings {
    PollingSettings {
        poll_interval_secs: 0.2,
        lost_after_polls: 5,
        health_interval_secs: 1.0,
        request_timeout_secs: 10.0,
        ..PollingSettings::default()
    }
}

#[tokio::test]
async fn a_remote_run_trains_for_real_on_the_nodes_docker_engine() {
    if support::engine().await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (repo, sha) = support::miner_repo(dir.path(), "echo 0.625 > \"$OUT/loss\"\n", &[]);
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let node = local_node(dir.path());
    let good =
        TrainingJob { repo_url: repo.to_string_lossy().into_owned(), commit_hash: sha, ..job(41, 0.01, &[0], "gpu-1") };
    let missing = TrainingJob { repo_url: path("nowhere"), ..job(42, 0.01, &[1], "gpu-1") };
    let nodes = nodes(&node.url);
    let outcomes = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let executor = RemoteExecutor::new(&nodes, &polling()).unwrap();
        runtime.block_on(async { (executor.run(good).await, executor.run(missing).await) })
    })
    .join()
    .unwrap();
    // The node's score arrives with the time the node collected the output.
    match &outcomes.0 {
        RunOutcome::Success { test_loss, synth_loss: None, eval } => {
            assert_eq!(*test_loss, 0.625);
            assert!(eval.collected_at.is_some(), "{eval:?}");
            // And with the image the node built, which reaches the validator in the node's report.
            assert!(eval.image.as_deref().is_some_and(|i| i.starts_with("sha256:")), "{eval:?}");
        }
        other => panic!("the node's run succeeds with its score: {other:?}"),
    }
    match outcomes.1 {
        RunOutcome::Unfetchable { reason } => assert!(reason.contains("fetch failed"), "{reason}"),
        other => panic!("a repository that cannot be fetched is not retried: {other:?}"),
    }
}

#[tokio::test]
async fn a_run_the_validator_cancels_is_killed_on_the_node_and_its_gpu_freed() {
    let Some(engine) = support::engine().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let (repo, sha) = support::miner_repo(dir.path(), "echo training\nsleep 600\n", &[]);
    let node = local_node(dir.path());
    let long =
        TrainingJob { repo_url: repo.to_string_lossy().into_owned(), commit_hash: sha, ..job(43, 1.0, &[0], "gpu-1") };
    let task = long.task_id.to_string();
    let (nodes, waited) = (nodes(&node.url), task.clone());
    // The validator's side: the run goes until its container trains, then its tournament is cancelled.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let engine = support::engine().await.unwrap();
            let executor = RemoteExecutor::new(&nodes, &polling()).unwrap();
            tokio::select! {
                outcome = executor.run(long.clone()) => panic!("the run ended before it was cancelled: {outcome:?}"),
                _ = super::local::wait_for_container(&engine, &waited, 1) => {}
            }
            executor.cancel(long).await;
        })
    })
    .join()
    .unwrap();

    let left = container::find(&engine, &[(labels::TASK, task.as_str())]).await.unwrap();
    assert!(left.is_empty(), "the node killed and removed the run's containers: {left:?}");
    let work: Vec<_> = std::fs::read_dir(dir.path().join("work")).unwrap().flatten().map(|e| e.path()).collect();
    assert!(work.is_empty(), "and its directories: {work:?}");
    let hotkey = crucible::domain::Hotkey::synthetic(43);
    let (status, record) =
        crate::app::call("GET", &format!("{}/v1/trainer/{task}?hotkey={hotkey}", node.url), Some(TOKEN), None).await;
    assert_eq!((status, &record["status"]), (200, &serde_json::json!("failure")), "{record}");
    assert_eq!(record["logs"].as_array().unwrap().last().unwrap(), "Training cancelled by the validator");
    let (_, gpus) =
        crate::app::call("GET", &format!("{}/v1/trainer/get_gpu_availability", node.url), Some(TOKEN), None).await;
    assert_eq!(gpus[0]["available"], true, "{gpus}");
}
