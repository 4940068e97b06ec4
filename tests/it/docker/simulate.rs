//! A whole simulation whose trainings really run: simulated miners and fleet, but every training goes
//! through the local Docker executor on the wall clock, and the evaluator image scores it.

use crucible::domain::TournamentStatus;
use crucible::domain::rules::Rules;
use crucible::exec::local::{GpuAccess, LocalSettings};
use crucible::miners::Submission;
use crucible::repo::GateRules;
use crucible::sim::run::{Execution, SimRun, run};
use crucible::sim::{NodeSpec, Shares};

use super::support::{self, EVALUATOR};

#[tokio::test]
async fn a_simulation_can_train_for_real_on_docker() {
    if support::engine().await.is_none() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let (repo, sha) = support::miner_repo(root.path(), "echo 0.5 > \"$OUT/loss\"\n", &[]);
    let mut image_repo = repo.clone();
    image_repo.set_file_name("repo");
    support::write(
        &repo,
        "dockerfiles/standalone-image-trainer.dockerfile",
        "FROM crucible-test-base:1\nCOPY train.sh /train.sh\nENTRYPOINT [\"/bin/sh\", \"/train.sh\"]\n",
    );
    let settings = LocalSettings {
        work_dir: root.path().join("work").to_string_lossy().into_owned(),
        cache_dir: root.path().join("cache").to_string_lossy().into_owned(),
        evaluator_image: EVALUATOR.into(),
        gpus: GpuAccess::None,
        memory_mib_per_gpu: 128,
        cpus_per_gpu: 0.5,
        ..LocalSettings::default()
    };
    let none = Shares {
        timeout_share: 0.0,
        garbage_share: 0.0,
        no_fee_share: 0.0,
        bad_repo_share: 0.0,
        crash_rate: 0.0,
        hang_rate: 0.0,
        no_output_rate: 0.0,
    };
    let opts = SimRun {
        miners: 3,
        seed: 5,
        db: Some(root.path().join("sim.db")),
        nodes: NodeSpec::parse("1x8H100,1x4A100").unwrap(),
        nodes_spec: "1x8H100,1x4A100".into(),
        shares: none,
        execution: Execution::Local {
            settings,
            gates: GateRules::default(),
            repository: Submission { repo_url: repo.to_string_lossy().into_owned(), commit_hash: sha },
        },
    };
    let (report, _) = tokio::task::spawn_blocking(move || run(&opts, &Rules::default(), |_| {})).await.unwrap().unwrap();
    for t in &report.tournaments {
        assert_eq!(t.status, TournamentStatus::Completed, "{t:?}");
    }
}
