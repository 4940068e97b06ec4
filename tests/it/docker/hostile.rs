//! Hostile repositories on a real engine, each attack bounded (megabytes and thousands, not disks and
//! unbounded forks) and each ending in its documented state with a reason a miner can act on, the host
//! checked afterwards: nothing of the attempt left, no volume, no file outside the output written.
//!
//! docs/security.md lists what each layer stops; these tests are its evidence for the training and
//! collect steps.

use crucible::exec::RunOutcome;

use super::local::{failed, run_observed, run_repo, run_script};
use super::support::{BASE, EVALUATOR, script_dockerfile};

#[tokio::test]
async fn an_output_past_its_quota_is_stopped_while_the_training_runs() {
    // Two megabytes against a one-megabyte quota, then a wait the quota must cut short.
    let script = "dd if=/dev/zero of=\"$OUT/fill\" bs=1024 count=2048 2>/dev/null\nsleep 300\n";
    let Some(reason) = failed(run_script("hostile-quota", script, 600.0, |_| {}).await) else { return };
    assert_eq!(reason, "stopped: output over quota while training: more than 1048576 bytes");
}

#[tokio::test]
async fn an_inode_flood_is_stopped_while_the_training_runs() {
    let script = "i=0\nwhile [ $i -lt 3000 ]; do : > \"$OUT/f$i\"; i=$((i+1)); done\nsleep 300\n";
    let Some(reason) = failed(run_script("hostile-inodes", script, 600.0, |_| {}).await) else { return };
    assert_eq!(reason, "stopped: output over quota while training: more than 1000 files and directories");
}

#[tokio::test]
async fn fifos_and_dangling_links_are_not_an_output() {
    let script = "mkfifo \"$OUT/pipe\"\nln -s /nowhere \"$OUT/weights\"\n";
    let Some(reason) = failed(run_script("hostile-special", script, 60.0, |_| {}).await) else { return };
    assert!(
        reason == "output holds a FIFO, not a regular file: pipe"
            || reason == "output holds a link that leads nowhere: weights",
        "{reason}"
    );
}

#[tokio::test]
async fn a_link_out_of_the_output_refuses_it() {
    let script = "ln -s /etc/passwd \"$OUT/config.json\"\necho 0.5 > \"$OUT/loss\"\n";
    let Some(reason) = failed(run_script("hostile-link", script, 60.0, |_| {}).await) else { return };
    assert_eq!(reason, "output holds a link leading out of it: config.json");
}

#[tokio::test]
async fn a_setuid_binary_in_the_output_refuses_it_and_is_never_root_owned() {
    // The training is not root: it can set the bit only on a file of its own user, and that fails
    // the output anyway.
    let script = "cp /bin/busybox \"$OUT/tool\"\nchmod 4755 \"$OUT/tool\"\nchown 0:0 \"$OUT/tool\" && exit 9\necho 0.5 > \"$OUT/loss\"\n";
    let Some(reason) = failed(run_script("hostile-setuid", script, 60.0, |_| {}).await) else { return };
    assert_eq!(reason, "output holds a setuid or setgid file: tool");
}

#[tokio::test]
async fn the_output_is_mounted_nosuid_and_nodev() {
    // A setuid file the training leaves can never run as its owner, on the host or in the container.
    let script = "line=$(grep \" $OUT \" /proc/mounts)\n\
        case \"$line\" in *nosuid*nodev*) ;; *) echo \"output mounted as: $line\" >&2; exit 3 ;; esac\n\
        echo 0.5 > \"$OUT/loss\"\n";
    let Some(outcome) = run_script("hostile-mount", script, 60.0, |_| {}).await else { return };
    assert_eq!(outcome, RunOutcome::scored(0.5));
}

#[tokio::test]
async fn closed_directories_left_in_the_output_are_removed() {
    let script = "mkdir -p \"$OUT/a/b\"\necho x > \"$OUT/a/b/f\"\nchmod 000 \"$OUT/a/b\"\nchmod 500 \"$OUT/a\"\necho 0.5 > \"$OUT/loss\"\n";
    // run_script checks that nothing of the attempt is left.
    let Some(outcome) = run_script("hostile-closed", script, 60.0, |_| {}).await else { return };
    assert_eq!(outcome, RunOutcome::scored(0.5));
}

#[tokio::test]
async fn tmp_is_bounded_and_the_root_filesystem_read_only() {
    let script = "dd if=/dev/zero of=/tmp/fill bs=1048576 count=100 2>&1 | grep -m1 'No space' >&2\nexit 3\n";
    let Some(reason) = failed(run_script("hostile-tmp", script, 60.0, |_| {}).await) else { return };
    assert!(reason.starts_with("exit ") && reason.contains("No space left on device"), "{reason}");

    let script = "echo x > /etc/hostile && exit 0\necho 'the root filesystem is read-only' >&2\nexit 3\n";
    let Some(reason) = failed(run_script("hostile-rootfs", script, 60.0, |_| {}).await) else { return };
    assert_eq!(reason, "exit 3: the root filesystem is read-only");
}

#[tokio::test]
async fn a_volume_the_image_declares_leaves_nothing_behind() {
    let Some(engine) = super::support::engine().await else { return };
    // Every volume but the output overlays of other tests' trainings running meanwhile.
    let volumes = || async {
        let list = engine.docker().list_volumes(None::<bollard::query_parameters::ListVolumesOptions>).await.unwrap();
        let others = |v: &bollard::models::Volume| {
            v.labels.get(crucible::exec::contract::labels::TASK).is_some_and(|task| task != "hostile-volume")
        };
        let names = list.volumes.unwrap_or_default().into_iter().filter(|v| !others(v)).map(|v| v.name);
        names.collect::<std::collections::BTreeSet<_>>()
    };
    let before = volumes().await;
    let dockerfile = format!("{}VOLUME /data\n", script_dockerfile("train.sh"));
    let extra = [("dockerfiles/standalone-text-trainer.dockerfile", dockerfile.as_str())];
    let script = "echo 0.5 > \"$OUT/loss\"\n";
    let outcome = run_repo("hostile-volume", script, &extra, 60.0, |_| {}).await.unwrap();
    assert_eq!(outcome, RunOutcome::scored(0.5));
    let after = volumes().await;
    let left: Vec<_> = after.difference(&before).collect();
    assert!(left.is_empty(), "volumes left behind: {left:?}");
}

/// A dockerfile whose build runs `run` (a shell line) in a RUN step, then the usual training.
fn building(run: &str) -> String {
    let dockerfile = script_dockerfile("train.sh");
    let (from, rest) = dockerfile.split_once('\n').unwrap();
    format!("{from}\nRUN {run}\n{rest}")
}

async fn build_failure(task: &str, run: &str) -> Option<String> {
    let dockerfile = building(run);
    let extra = [("dockerfiles/standalone-text-trainer.dockerfile", dockerfile.as_str())];
    failed(run_repo(task, "echo 0.5 > \"$OUT/loss\"\n", &extra, 60.0, |_| {}).await)
}

#[tokio::test]
async fn a_fork_flood_in_a_build_stops_at_the_builds_process_limit() {
    // 400 sleepers against a limit of 200: the flood fails to fork, the build fails, the host is fine.
    let run = "i=0; while [ $i -lt 400 ]; do sleep 60 & i=$((i+1)); done; wait";
    if super::local::test_build_cgroup().is_empty() {
        assert!(std::env::var_os("CI").is_none(), "CI runs as root, which makes the build cgroup");
        eprintln!("no build cgroup parent this user may write: the process limit of builds is not tested");
        return;
    }
    let Some(reason) = build_failure("hostile-build-forks", run).await else { return };
    assert!(reason.starts_with("build failed: ") && reason.contains("fork"), "{reason}");
}

#[tokio::test]
async fn a_build_past_its_memory_is_killed() {
    // 512 MiB held in a pipe buffer chain against a limit of 256 MiB.
    let run = "dd if=/dev/zero bs=1M count=512 | sort > /dev/null";
    let Some(reason) = build_failure("hostile-build-memory", run).await else { return };
    assert!(reason.starts_with("build failed: ") && reason.contains("137"), "{reason}");
}

#[tokio::test]
async fn a_build_has_no_network() {
    let dockerfile =
        building("[ \"$(ls /sys/class/net)\" = lo ] || { echo \"interfaces: $(ls /sys/class/net)\"; exit 7; }");
    let extra = [("dockerfiles/standalone-text-trainer.dockerfile", dockerfile.as_str())];
    let Some(outcome) = run_repo("hostile-build-network", "echo 0.5 > \"$OUT/loss\"\n", &extra, 60.0, |_| {}).await
    else {
        return;
    };
    assert_eq!(outcome, RunOutcome::scored(0.5), "only loopback in the build's RUN steps");
}

#[tokio::test]
async fn a_build_reading_the_validators_images_is_refused_before_it_runs() {
    for (task, line) in [
        ("hostile-copy-from", format!("COPY --from={EVALUATOR} /run.sh /stolen.sh")),
        (
            "hostile-from-arg",
            format!("ARG SRC={EVALUATOR}\nFROM $SRC AS loot\nFROM {BASE}\nCOPY --from=loot /run.sh /x"),
        ),
    ] {
        let dockerfile = format!("FROM {BASE}\n{line}\n{}", script_dockerfile("train.sh"));
        let extra = [("dockerfiles/standalone-text-trainer.dockerfile", dockerfile.as_str())];
        let outcome = run_repo(task, "echo 0.5 > \"$OUT/loss\"\n", &extra, 60.0, |_| {}).await;
        let Some(outcome) = outcome else { return };
        let wanted = format!(
            "build refused: dockerfiles/standalone-text-trainer.dockerfile reads {EVALUATOR}, an image of the validator's own"
        );
        assert_eq!(outcome, RunOutcome::Unfetchable { reason: wanted }, "{task}");
    }
}

#[tokio::test]
async fn a_score_printed_by_what_the_model_makes_the_evaluator_say_is_not_a_score() {
    // The test evaluator ends its output with the output's `note`: the miner's words, shaped as a
    // perfect score. The score is the result file's, written by the evaluator with the run's nonce.
    let script = "echo 0.875 > \"$OUT/loss\"\necho '{\"test_loss\": 0.0}' > \"$OUT/note\"\n";
    let Some(outcome) = run_script("hostile-score", script, 60.0, |_| {}).await else { return };
    assert_eq!(outcome, RunOutcome::scored(0.875));
}

/// A bridge network of the engine's, removed (with the firewall rules `drop_input` adds) when dropped.
struct TestNetwork {
    engine: crucible::docker::Engine,
    name: String,
    bridge: String,
    rules: Vec<Vec<String>>,
}

impl TestNetwork {
    async fn create(engine: &crucible::docker::Engine, name: &str, bridge: &str) -> TestNetwork {
        let _ = engine.docker().remove_network(name).await;
        let options =
            std::collections::HashMap::from([("com.docker.network.bridge.name".to_owned(), bridge.to_owned())]);
        let request = bollard::models::NetworkCreateRequest {
            name: name.to_owned(),
            options: Some(options),
            ..Default::default()
        };
        engine.docker().create_network(request).await.unwrap();
        TestNetwork { engine: engine.clone(), name: name.to_owned(), bridge: bridge.to_owned(), rules: Vec::new() }
    }

    async fn gateway(&self) -> String {
        let inspected = self.engine.docker().inspect_network(&self.name, None).await.unwrap();
        let config = inspected.ipam.and_then(|i| i.config).unwrap_or_default();
        config.into_iter().find_map(|c| c.gateway).expect("a bridge has a gateway")
    }

    /// Drops what comes in from the bridge to this host (to `destination` only, when given).
    fn drop_input(&mut self, destination: Option<&str>) {
        let mut rule: Vec<String> = ["INPUT", "-i", &self.bridge].map(str::to_owned).to_vec();
        if let Some(d) = destination {
            rule.extend(["-d".to_owned(), d.to_owned()]);
        }
        rule.extend(["-j".to_owned(), "DROP".to_owned()]);
        let done = std::process::Command::new("iptables")
            .arg("-I")
            .args(&rule)
            .status()
            .expect("iptables is installed with the Docker engine");
        assert!(done.success());
        self.rules.push(rule);
    }
}

impl Drop for TestNetwork {
    fn drop(&mut self) {
        for rule in &self.rules {
            let _ = std::process::Command::new("iptables").arg("-D").args(rule).status();
        }
        let (engine, name) = (self.engine.clone(), self.name.clone());
        // Removed from a thread of its own: drop runs inside the test's runtime.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async { engine.docker().remove_network(&name).await })
        })
        .join();
    }
}

#[tokio::test]
async fn a_build_network_that_reaches_the_host_is_refused_and_an_isolated_one_used() {
    let Some(engine) = super::support::engine().await else { return };
    let mut network = TestNetwork::create(&engine, "crucible-test-build-net", "crtestb0").await;
    let script = "echo 0.5 > \"$OUT/loss\"\n";
    let on_network = |s: &mut crucible::exec::local::LocalSettings| s.build_network = "crucible-test-build-net".into();
    let outcome = run_script("hostile-open-network", script, 60.0, on_network).await.unwrap();
    match outcome {
        RunOutcome::NotStarted { reason } => {
            assert!(reason.starts_with("build network \"crucible-test-build-net\" reaches this host"), "{reason}")
        }
        other => panic!("an open build network must refuse the build: {other:?}"),
    }
    // Closing the gateway alone leaves the host's other addresses open to the build.
    let gateway = network.gateway().await;
    network.drop_input(Some(&gateway));
    let outcome = run_script("hostile-half-network", script, 60.0, on_network).await.unwrap();
    match outcome {
        RunOutcome::NotStarted { reason } => {
            assert!(reason.contains("reaches this host (a probe connected to "), "{reason}");
            assert!(!reason.contains(&format!("to {gateway})")), "{reason}");
        }
        other => panic!("a build network open to the host's other addresses must refuse the build: {other:?}"),
    }
    // The rule docs/security.md gives: nothing from the bridge reaches this host.
    network.drop_input(None);
    let outcome = run_script("hostile-closed-network", script, 60.0, on_network).await.unwrap();
    assert_eq!(outcome, RunOutcome::scored(0.5));
}

/// A large output is walked on a blocking thread: the validator's one thread goes on serving its other
/// work (here a task beside the run, as the other actors are) while the output is collected. (Were
/// the walk on the thread itself, the other work would have no turn between the collect step's start
/// and its end, which nothing else separates.)
#[tokio::test]
async fn a_large_output_is_collected_while_other_work_goes_on() {
    use std::cell::Cell;
    use std::rc::Rc;

    use crucible::exec::local::{Step, StepStatus};

    let files = 20_000;
    let script = format!(
        "mkdir \"$OUT/many\"\ni=0\nwhile [ $i -lt {files} ]; do : > \"$OUT/many/f$i\"; i=$((i+1)); done\n\
         echo 0.5 > \"$OUT/loss\"\n"
    );
    // Which step is under way, as the executor reports it.
    let step: Rc<Cell<Option<Step>>> = Rc::default();
    let seen = step.clone();
    let observer: crucible::exec::local::Observer = Rc::new(move |at, status: &StepStatus| match status {
        StepStatus::Started => seen.set(Some(at)),
        _ => seen.set(None),
    });
    let ended = Rc::new(Cell::new(false));
    let (beside, run_ended) = (Rc::new(Cell::new(0usize)), ended.clone());
    let counted = beside.clone();
    // Other work: it counts its turns while the output is collected.
    let other = async move {
        while !run_ended.get() {
            if step.get() == Some(Step::Collect) {
                counted.set(counted.get() + 1);
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    };
    let tweak = |s: &mut crucible::exec::local::LocalSettings| {
        s.max_output_entries = 2 * files;
        s.max_output_bytes = 1 << 30;
    };
    let run = async {
        let outcome = run_observed("large-output", &script, 600.0, tweak, observer).await;
        ended.set(true);
        outcome
    };
    let (outcome, ()) = tokio::join!(run, other);
    let Some(outcome) = outcome else { return };
    assert_eq!(outcome, RunOutcome::scored(0.5));
    assert!(beside.get() > 0, "other work had no turn while {files} files were collected");
}
