//! `crucible doctor` as an operator runs it before starting a validator: a ready configuration passes
//! every check with exit code 0; each broken part (database down, no content, a node that does not
//! answer, a miner directory or key that cannot be read, an address in use) fails with what it found and
//! what to do, exit code 1, while a node that answers is reported with its GPUs; a database not yet
//! migrated is a warning until `crucible migrate`, on SQLite and PostgreSQL.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::content::sim_content;
use super::node::{TOKEN, spawn_node};
use super::remote::closed_port;
use super::store::support::TestDatabase;

/// A validator hotkey's secret seed.
const SEED: &str = "0x9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

/// Runs `crucible [--config config] doctor --json` with `env`; its exit code and report.
pub(crate) fn doctor(config: Option<&Path>, env: &[(&str, &str)]) -> (i32, Value) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_crucible"));
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let out =
        command.args(["doctor", "--json"]).env_remove("CRUCIBLE_DATABASE__URL").envs(env.iter().copied()).output();
    let out = out.expect("crucible doctor runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), report)
}

/// The checks named `name`, as (verdict, detail, fix).
pub(crate) fn checks<'a>(report: &'a Value, name: &str) -> Vec<(&'a str, &'a str, &'a str)> {
    let all = report["checks"].as_array().expect("a list of checks");
    let named = all.iter().filter(|c| c["check"] == name);
    named
        .map(|c| (c["verdict"].as_str().unwrap(), c["detail"].as_str().unwrap(), c["fix"].as_str().unwrap_or("")))
        .collect()
}

fn verdict<'a>(report: &'a Value, name: &str) -> &'a str {
    let found = checks(report, name);
    assert_eq!(found.len(), 1, "one {name} check expected: {report:#}");
    found[0].0
}

#[test]
fn a_ready_simulated_configuration_passes_every_check() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("crucible.db").display());
    let out = Command::new(env!("CARGO_BIN_EXE_crucible")).args(["migrate", "--database-url", &db]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let content = sim_content().to_string_lossy().into_owned();
    let env = [
        ("CRUCIBLE_DATABASE__URL", db.as_str()),
        ("CRUCIBLE_CONTENT__DIR", content.as_str()),
        ("CRUCIBLE_API__LISTEN", "127.0.0.1:0"),
        ("CRUCIBLE_API__TOKEN", "a-long-operator-token"),
    ];
    let (code, report) = doctor(None, &env);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["failed"], 0);
    for name in ["database", "content", "gpus", "api"] {
        assert_eq!(verdict(&report, name), "ok", "{name}: {report:#}");
    }
    for name in ["docker", "nodes", "miners", "dirs"] {
        assert_eq!(verdict(&report, name), "skip", "{name}: {report:#}");
    }
    let (_, detail, _) = checks(&report, "database")[0];
    assert!(detail.contains("schema current"), "{detail}");

    // Without --json: one line per check, and the summary.
    let out = Command::new(env!("CARGO_BIN_EXE_crucible")).arg("doctor").envs(env).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("  ok    database") && text.contains("ready: no check failed"), "{text}");
}

#[test]
fn every_broken_part_fails_with_what_it_found_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let node = spawn_node(&dir.path().join("node.db"), &[]);
    let silent = closed_port();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().map(|a| a.to_string()).unwrap();
    let key = dir.path().join("validator.key");
    std::fs::write(&key, SEED).unwrap();
    let config = dir.path().join("validator.toml");
    let text = format!(
        r#"
[database]
url = "postgres://crucible:crucible@{}/crucible"
[validator]
executor = "remote"
registration = "http"
key_file = "{}"
scratch_dir = "{}"
[[validator.nodes]]
id = "answering"
url = "{}"
token = "{TOKEN}"
[[validator.nodes]]
id = "silent"
url = "{silent}"
[miners]
directory = "{}"
[api]
listen = "{taken}"
"#,
        closed_port().trim_start_matches("http://"),
        key.display(),
        dir.path().join("scratch").display(),
        node.url,
        dir.path().join("no-such-miners.toml").display(),
    );
    std::fs::write(&config, text).unwrap();
    let (code, report) = doctor(Some(&config), &[]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["ok"], false);

    let database = checks(&report, "database");
    assert_eq!(database[0].0, "fail", "{report:#}");
    assert!(database[0].1.contains("cannot connect to"), "{database:?}");
    assert!(database[0].2.contains("database.url"), "{database:?}");
    let content = checks(&report, "content");
    assert_eq!(content[0].0, "fail");
    assert!(
        content[0].1.contains("content.dir is not set") && content[0].2.contains("crucible tasks tiny"),
        "{content:?}"
    );

    let nodes = checks(&report, "nodes");
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    let answering = nodes.iter().find(|n| n.1.starts_with("answering")).unwrap();
    assert_eq!(answering.0, "ok", "{nodes:?}");
    assert!(answering.1.contains("3 GPUs, 3 free"), "{nodes:?}");
    let silent = nodes.iter().find(|n| n.1.starts_with("silent")).unwrap();
    assert_eq!(silent.0, "fail", "{nodes:?}");
    assert!(silent.2.contains("crucible trainer-node"), "{nodes:?}");

    let miners = checks(&report, "miners");
    assert_eq!(miners[0].0, "fail", "{miners:?}");
    assert!(miners[0].1.contains("no-such-miners.toml"), "{miners:?}");
    let key = checks(&report, "key");
    assert_eq!(key[0].0, "ok", "{key:?}");
    assert!(key[0].1.starts_with("pings are signed as 5"), "{key:?}");
    let api = checks(&report, "api");
    assert_eq!(api[0].0, "fail", "{api:?}");
    assert!(api[0].1.contains(&format!("cannot listen on {taken}")), "{api:?}");
    // Remote nodes train: this host's engine only scores uploaded models, so it can only warn.
    assert!(checks(&report, "docker").iter().all(|c| c.0 != "fail"), "{report:#}");
    let dirs = checks(&report, "dirs");
    assert_eq!(dirs.len(), 1, "only the registration's scratch directory is used: {dirs:?}");
    assert_eq!(dirs[0].0, "ok", "{dirs:?}");
    assert!(dirs[0].1.contains("made at start"), "{dirs:?}");
}

#[test]
fn a_configuration_that_does_not_load_is_named_on_one_line_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("validator.key");
    std::fs::write(&key, "not a seed").unwrap();
    let key = key.to_string_lossy().into_owned();
    let out = Command::new(env!("CARGO_BIN_EXE_crucible"))
        .arg("doctor")
        .env("CRUCIBLE_VALIDATOR__KEY_FILE", &key)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("validator.key_file: {key}: the key must be a 32-byte secret seed")), "{stderr}");
}

#[test]
fn a_database_not_yet_migrated_is_a_warning_until_crucible_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("fresh.db").display());
    let postgres = TestDatabase::create();
    let mut urls = vec![sqlite];
    urls.extend(postgres.as_ref().map(|db| db.url.clone()));
    let content = sim_content().to_string_lossy().into_owned();
    for url in urls {
        let env = [("CRUCIBLE_DATABASE__URL", url.as_str()), ("CRUCIBLE_CONTENT__DIR", content.as_str())];
        let (code, report) = doctor(None, &env);
        assert_eq!(code, 0, "a warning alone does not fail: {report:#}");
        let database = checks(&report, "database");
        assert_eq!(database[0].0, "warn", "{url}: {report:#}");
        assert!(database[0].1.contains("migrations not applied yet"), "{database:?}");
        assert!(database[0].2.contains("crucible migrate"), "{database:?}");

        let out =
            Command::new(env!("CARGO_BIN_EXE_crucible")).args(["migrate", "--database-url", &url]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let (_, report) = doctor(None, &env);
        assert_eq!(checks(&report, "database")[0].0, "ok", "{url}: {report:#}");
    }
}
