//! Runs of trainer nodes that upload instead of scoring (the reference's nodes) are scored by the
//! validator: the model is fetched from a hub in the Hugging Face layout (a local stand-in serving the
//! hub's routes over HTTP, through the real client code path) and evaluated by the evaluator image on
//! the real Docker engine. The hub itself is not reachable from CI.

use std::collections::HashMap;

use crucible::exec::hub::{Hub, HubSettings};
use crucible::exec::local::{GpuAccess, LocalExecutor, LocalSettings};
use crucible::exec::remote::RemoteExecutor;
use crucible::exec::remote::evaluation::RemoteEvaluation;
use crucible::exec::{Executor, RunOutcome};
use crucible::repo::GateRules;

use super::support::{EVALUATOR, engine};
use crate::hub::stand_in_hub;
use crate::node::job;
use crate::remote::{STARTED, polling, scripted, settings};

#[test]
fn a_reference_nodes_uploaded_model_is_fetched_from_the_hub_and_scored_by_the_validator() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let Some(engine) = runtime.block_on(engine()) else { return };
    let dir = tempfile::tempdir().unwrap();
    let (scored, missing) = (job(51, 0.01, &[0], "gpu-1"), job(52, 0.01, &[0], "gpu-1"));
    let repos = HashMap::from([(
        format!("gradients-io-tournaments/{}", scored.expected_repo_name),
        vec![
            ("adapter_config.json", r#"{"base_model_name_or_path": "org/Model-1B"}"#),
            ("nested/adapter_model.safetensors", "weights"),
            ("training_args.pkl", "pickle"),
            ("loss", "0.375"),
        ],
    )]);
    let (hub_url, requested) = stand_in_hub(repos, None, 0);
    // A node as the reference's: it takes the start and reports success without a score.
    let node = scripted(STARTED, (200, r#"{"status": "success", "logs": ["uploaded"]}"#));

    let local = LocalSettings {
        work_dir: dir.path().join("work").to_string_lossy().into_owned(),
        cache_dir: dir.path().join("cache").to_string_lossy().into_owned(),
        evaluator_image: EVALUATOR.into(),
        gpus: GpuAccess::None,
        memory_mib_per_gpu: 256,
        max_output_bytes: 1 << 20,
        ..LocalSettings::default()
    };
    let hub =
        Hub::new(HubSettings { endpoint: hub_url, request_timeout_secs: 30.0, ..HubSettings::default() }).unwrap();
    let evaluation = RemoteEvaluation {
        local: LocalExecutor::new(engine, local, GateRules { allow_local: true, ..GateRules::default() }),
        hub,
    };
    let remote = RemoteExecutor::new(&settings(&node, ""), &polling()).unwrap().with_evaluation(evaluation);

    let outcome = runtime.block_on(remote.run(scored.clone()));
    assert_eq!(outcome, RunOutcome::scored(0.375));
    let requested: Vec<String> = requested.lock().unwrap().iter().map(|(path, _)| path.clone()).collect();
    assert!(requested.iter().any(|p| p.ends_with("nested/adapter_model.safetensors")), "{requested:?}");
    assert!(!requested.iter().any(|p| p.ends_with(".pkl")), "pickles are never fetched: {requested:?}");

    let outcome = runtime.block_on(remote.run(missing.clone()));
    let RunOutcome::Failed { reason, .. } = outcome else { panic!("{outcome:?}") };
    assert!(reason.contains(&missing.expected_repo_name) && reason.contains("no such model repository"), "{reason}");
    assert!(std::fs::read_dir(dir.path().join("work")).map_or(true, |mut d| d.next().is_none()), "directories removed");
}
