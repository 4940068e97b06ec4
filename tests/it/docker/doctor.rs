//! `crucible doctor` for a validator that trains on this host's Docker engine: the engine answers, the
//! images present are reported, a missing one fails with the command that builds it, and the GPUs come
//! from `trainer_node.gpus` on a host without NVIDIA's driver.

use super::support;
use crate::content::sim_content;
use crate::doctor::{checks, doctor};

#[tokio::test]
async fn a_missing_validator_image_fails_with_the_command_that_builds_it() {
    let Some(_engine) = support::engine().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("crucible.db").display());
    let content = sim_content().to_string_lossy().into_owned();
    let work = dir.path().join("work").to_string_lossy().into_owned();
    let env = [
        ("CRUCIBLE_DATABASE__URL", db.as_str()),
        ("CRUCIBLE_CONTENT__DIR", content.as_str()),
        ("CRUCIBLE_VALIDATOR__EXECUTOR", "local"),
        ("CRUCIBLE_LOCAL_EXECUTOR__GPUS", "none"),
        ("CRUCIBLE_LOCAL_EXECUTOR__WORK_DIR", work.as_str()),
        ("CRUCIBLE_LOCAL_EXECUTOR__EVALUATOR_IMAGE", support::EVALUATOR),
        ("CRUCIBLE_LOCAL_EXECUTOR__DOWNLOAD_IMAGE", "crucible-test-missing:0"),
        ("CRUCIBLE_TRAINER_NODE__GPUS", "2H100"),
    ];
    let (code, report) = doctor(None, &env);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(checks(&report, "docker")[0].0, "ok", "{report:#}");
    let images = checks(&report, "images");
    let evaluator = images.iter().find(|c| c.1.starts_with("evaluator")).unwrap();
    assert_eq!(evaluator.0, "ok", "{images:?}");
    assert!(evaluator.1.contains(support::EVALUATOR), "{images:?}");
    let download = images.iter().find(|c| c.1.starts_with("download step")).unwrap();
    assert_eq!(download.0, "fail", "{images:?}");
    assert!(download.1.contains("crucible-test-missing:0 is not on the engine"), "{images:?}");
    assert!(download.2.contains("crucible images build"), "{images:?}");
    let gpus = checks(&report, "gpus");
    assert_eq!(gpus[0].0, "ok", "{gpus:?}");
    assert!(gpus[0].1.contains("2 GPUs") && gpus[0].1.contains("trainer_node.gpus"), "{gpus:?}");
    let dirs = checks(&report, "dirs");
    assert_eq!(dirs.len(), 3, "work, cache and held-out directories: {dirs:?}");
}
