//! The service files of `deploy/` as an operator installs them: the example configurations load with
//! every key known, the systemd units pass `systemd-analyze verify` (with the binary they start
//! present), and the compose file is valid for `docker-compose`, with its health check on `/readyz`.
//! The tools are Debian's (`systemd`, `docker-compose`); `.ci/run` installs them.

use std::path::{Path, PathBuf};
use std::process::Command;

use crucible::config::{ExecutorBackend, Settings};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// Whether `tool` can run here; in CI it must.
fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    if !found && std::env::var_os("CI").is_some() {
        panic!("{tool} is required in CI (.ci/run installs it)");
    }
    if !found {
        eprintln!("{tool} is not installed: the test did not run");
    }
    found
}

#[test]
fn the_example_configurations_load_with_every_key_known() {
    // As installed: the hotkey seed it names is there.
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("validator.key");
    std::fs::write(&key, "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").unwrap();
    let text = std::fs::read_to_string(deploy().join("validator.toml")).unwrap();
    assert!(text.contains("\"/etc/crucible/validator.key\""));
    let installed = dir.path().join("validator.toml");
    std::fs::write(&installed, text.replace("/etc/crucible/validator.key", &key.to_string_lossy())).unwrap();
    let validator = Settings::load(Some(&installed)).expect("deploy/validator.toml loads");
    assert_eq!(validator.validator.executor, ExecutorBackend::Remote);
    assert_eq!(validator.validator.nodes.len(), 1);
    assert_eq!(validator.api.listen, "127.0.0.1:8090");
    // Its token comes from the environment (CRUCIBLE_TRAINER_NODE__TOKEN): without one it does not load.
    let text = std::fs::read_to_string(deploy().join("trainer-node.toml")).unwrap();
    let refused = Settings::load(Some(&deploy().join("trainer-node.toml"))).unwrap_err();
    assert!(refused.to_string().contains("trainer_node.token: must be set"), "{refused}");
    let installed = dir.path().join("trainer-node.toml");
    let listen = "listen = \"0.0.0.0:8001\"";
    std::fs::write(&installed, text.replace(listen, &format!("{listen}\ntoken = \"a-node-token\""))).unwrap();
    let node = Settings::load(Some(&installed)).expect("deploy/trainer-node.toml loads");
    assert_eq!(node.trainer_node.listen, "0.0.0.0:8001");
}

#[test]
fn the_systemd_units_pass_systemd_analyze_verify() {
    if !have("systemd-analyze") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for unit in ["crucible-validator.service", "crucible-trainer-node.service"] {
        let text = std::fs::read_to_string(deploy().join("systemd").join(unit)).unwrap();
        for directive in ["Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict", "User="] {
            assert!(text.contains(directive), "{unit} lacks {directive}");
        }
        // The unit as installed, starting this build's binary.
        let installed = text.replace("/usr/local/bin/crucible", env!("CARGO_BIN_EXE_crucible"));
        let path = dir.path().join(unit);
        std::fs::write(&path, installed).unwrap();
        let out = Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&path).output().unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        // Offline, systemd-analyze may say it cannot reach the manager; what it says of the unit counts.
        let about_unit: Vec<&str> = said.lines().filter(|l| l.contains(unit)).collect();
        assert!(about_unit.is_empty(), "{unit}: {said}");
        assert!(out.status.success(), "{unit}: {said}");
    }
}

#[test]
fn the_compose_file_is_valid_and_probes_readyz() {
    if !have("docker-compose") {
        return;
    }
    let out = Command::new("docker-compose")
        .args(["-f", "compose.yaml", "config"])
        .current_dir(deploy())
        .env("POSTGRES_PASSWORD", "a-password")
        .env("CRUCIBLE_API__TOKEN", "a-token")
        .output()
        .unwrap();
    let config = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{config}{}", String::from_utf8_lossy(&out.stderr));
    for expected in
        ["postgres:", "validator:", "pg_isready", "/readyz", "service_healthy", "dockerfile: deploy/Dockerfile"]
    {
        assert!(config.contains(expected), "{expected:?} missing from:\n{config}");
    }
    assert!(config.contains("postgres://crucible:a-password@postgres:5432/crucible"), "{config}");
    // Without the secrets, compose refuses to start instead of running with empty ones.
    let out = Command::new("docker-compose")
        .args(["-f", "compose.yaml", "config"])
        .current_dir(deploy())
        .env_remove("POSTGRES_PASSWORD")
        .env_remove("CRUCIBLE_API__TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("set POSTGRES_PASSWORD"));
}
