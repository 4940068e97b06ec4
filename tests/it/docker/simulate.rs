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
    // One repository entering both tournaments: the image dockerfile beside the text one.
    let image = support::script_dockerfile("train.sh");
    let extra = [("dockerfiles/standalone-image-trainer.dockerfile", image.as_str())];
    let (repo, sha) = support::miner_repo(root.path(), "echo 0.5 > \"$OUT/loss\"\n", &extra);
    let settings = LocalSettings {
        work_dir: root.path().join("work").to_string_lossy().into_owned(),
        cache_dir: root.path().join("cache").to_string_lossy().into_owned(),
        evaluator_image: EVALUATOR.into(),
        gpus: GpuAccess::None,
        memory_mib_per_gpu: 128,
        cpus_per_gpu: 0.5,
        ..LocalSettings::default()
    };
    let none = Shares::none();
    let opts = SimRun {
        miners: 3,
        seed: 5,
        db: Some(root.path().join("sim.db")),
        nodes: NodeSpec::parse("1x8H100,1x4A100").unwrap(),
        nodes_spec: "1x8H100,1x4A100".into(),
        shares: none,
        execution: Execution::Local {
            settings: Box::new(settings),
            gates: GateRules { allow_local: true, ..GateRules::default() },
            repositories: vec![Submission { repo_url: repo.to_string_lossy().into_owned(), commit_hash: sha }],
        },
        types: crucible::domain::TournamentType::ALL.to_vec(),
        content: None,
    };
    let mut rules = Rules::default();
    let rules_house = || Rules::default().house_hotkey.to_string();
    rules.registration.min_participants = 3;
    let (report, _) = tokio::task::spawn_blocking(move || run(&opts, &rules, |_| {})).await.unwrap().unwrap();
    // The house's made-up repository cannot be fetched here, so a miner wins only by really training.
    let house = rules_house();
    for t in &report.tournaments {
        assert_eq!(t.status, TournamentStatus::Completed, "{t:?}");
        let winner = t.winner.clone().expect("a winner");
        assert_ne!(winner.as_str(), house, "{t:?}");
    }
}
