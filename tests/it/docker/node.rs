//! The remote executor driving our `crucible trainer-node` whose executor is `local`: a miner
//! repository fetched, built, trained and evaluated on the node's Docker engine, the score reaching the
//! validator side through the trainer API.

use crucible::exec::remote::RemoteExecutor;
use crucible::exec::remote::settings::{PollingSettings, RemoteNodeSettings};
use crucible::exec::{Executor, RunOutcome, TrainingJob};
use crucible::http::Secret;

use super::support::{self, EVALUATOR};
use crate::node::{TOKEN, job, spawn_node};

#[tokio::test]
async fn a_remote_run_trains_for_real_on_the_nodes_docker_engine() {
    if support::engine().await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (repo, sha) = support::miner_repo(dir.path(), "echo 0.625 > \"$OUT/loss\"\n", &[]);
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let (work, cache) = (path("work"), path("cache"));
    let node = spawn_node(
        &dir.path().join("node.db"),
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
    );
    let good =
        TrainingJob { repo_url: repo.to_string_lossy().into_owned(), commit_hash: sha, ..job(41, 0.01, &[0], "gpu-1") };
    let missing = TrainingJob { repo_url: path("nowhere"), ..job(42, 0.01, &[1], "gpu-1") };
    let nodes =
        vec![RemoteNodeSettings { id: crate::node_id("gpu-1"), url: node.url.clone(), token: Secret::new(TOKEN) }];
    let polling = PollingSettings {
        poll_interval_secs: 0.2,
        lost_after_polls: 5,
        health_interval_secs: 1.0,
        request_timeout_secs: 10.0,
        ..PollingSettings::default()
    };
    let outcomes = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let executor = RemoteExecutor::new(&nodes, &polling).unwrap();
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
