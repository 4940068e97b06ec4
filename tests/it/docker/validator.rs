//! `crucible validator` with `executor = "local"`: real miners over HTTP, trainings really run on the
//! Docker engine, and a validator killed mid-training finds its container again after the restart.

use std::time::Duration;

use crucible::docker::container;
use crucible::domain::{Coldkey, Hotkey};
use crucible::exec::contract::labels;

use super::support::{self, DOWNLOADER, EVALUATOR};
use crate::validator::{credit, start_with, terminate, wait_for};

#[tokio::test]
async fn a_local_validator_trains_for_real_and_reattaches_after_a_kill() {
    let Some(engine) = support::engine().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("validator.db");
    let url = format!("sqlite://{}", db.display());
    let (repo, _) = support::miner_repo(&dir.path().join("repo"), "sleep 4\necho 0.75 > \"$OUT/loss\"\n", &[]);
    let mut miners = Vec::new();
    let mut directory = String::new();
    let hotkeys: Vec<String> = (0..8u64).map(|n| Hotkey::synthetic(300 + n).to_string()).collect();
    for n in 0..8u64 {
        let (hotkey, coldkey) = (Hotkey::synthetic(300 + n), Coldkey::synthetic(300 + n));
        let (child, address) = crate::miner::spawn_with(dir.path(), n as usize, &repo.to_string_lossy(), "main", "");
        miners.push(child);
        directory += &format!(
            "[[miner]]\nhotkey = \"{hotkey}\"\ncoldkey = \"{coldkey}\"\naddress = \"{address}\"\nstake = 1.0\n"
        );
        credit(&url, &coldkey, 1_000_000_000, &format!("b-{n}"));
    }
    let directory_file = dir.path().join("miners.toml");
    std::fs::write(&directory_file, directory).unwrap();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let (scratch, work, cache, heldout) = (path("scratch"), path("work"), path("cache"), path("heldout"));
    let env = [
        ("CRUCIBLE_VALIDATOR__REGISTRATION", "http"),
        ("CRUCIBLE_VALIDATOR__EXECUTOR", "local"),
        ("CRUCIBLE_GATES__ALLOW_LOCAL", "true"),
        ("CRUCIBLE_VALIDATOR__SCRATCH_DIR", scratch.as_str()),
        ("CRUCIBLE_MINERS__DIRECTORY", directory_file.to_str().unwrap()),
        ("CRUCIBLE_LOCAL_EXECUTOR__WORK_DIR", work.as_str()),
        ("CRUCIBLE_LOCAL_EXECUTOR__CACHE_DIR", cache.as_str()),
        ("CRUCIBLE_LOCAL_EXECUTOR__EVALUATOR_IMAGE", EVALUATOR),
        // The content is placeholders: a script places each task's dataset in the cache.
        ("CRUCIBLE_LOCAL_EXECUTOR__DOWNLOAD_IMAGE", DOWNLOADER),
        ("CRUCIBLE_LOCAL_EXECUTOR__HELDOUT_DIR", heldout.as_str()),
        ("CRUCIBLE_LOCAL_EXECUTOR__GPUS", "none"),
        ("CRUCIBLE_LOCAL_EXECUTOR__MEMORY_MIB_PER_GPU", "128"),
        ("CRUCIBLE_LOCAL_EXECUTOR__CPUS_PER_GPU", "0.25"),
        ("CRUCIBLE_TRAINER_NODE__GPUS", "8H100+4A100"),
    ];
    let (mut validator, lines) = start_with(&db, &env);
    wait_for(&lines, "admitted: 8");
    wait_for(&lines, "attempt started");
    // Kill the validator while a training container runs.
    let running = loop {
        let found = container::find(&engine, &[(labels::ROLE, "train")]).await.unwrap();
        // Only this test's miners: other tests run training containers too.
        let ours: Vec<_> = found
            .into_iter()
            .filter(|c| c.labels.as_ref().and_then(|l| l.get(labels::HOTKEY)).is_some_and(|h| hotkeys.contains(h)))
            .collect();
        if let Some(c) = ours
            .into_iter()
            .find(|c| c.state.as_ref().is_some_and(|s| format!("{s:?}").to_lowercase().contains("running")))
        {
            break c.labels.unwrap_or_default();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    validator.kill().unwrap();
    validator.wait().unwrap();

    let (mut validator, lines) = start_with(&db, &env);
    wait_for(&lines, "re-attached to a training container");
    // The killed validator's run ends in the restarted one, scored.
    let (task, hotkey) = (running[labels::TASK].clone(), running[labels::HOTKEY].clone());
    loop {
        let line = lines.recv_timeout(Duration::from_secs(120)).expect("the re-attached training ends");
        if line.contains("TrainingEnded") && line.contains(&task) && line.contains(&hotkey) {
            assert!(line.contains("status: Success") && line.contains("test_loss: Some(0.75)"), "{line}");
            break;
        }
    }
    terminate(&mut validator);
    assert!(validator.wait().unwrap().success());
    for mut m in miners {
        m.kill().unwrap();
        m.wait().unwrap();
    }
    let store = crucible::store::Store::open(&url).unwrap();
    let (task, hotkey) = (crucible::domain::TaskId::parse(&task).unwrap(), Hotkey::parse(&hotkey).unwrap());
    let attempts = store.attempts(&task, &hotkey).unwrap();
    assert_eq!(attempts.len(), 1, "the re-attached run is the same attempt: {attempts:?}");
}
