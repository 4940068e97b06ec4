use std::io::Write;

use super::*;

fn env(test: &str, vars: &[(&str, &str)]) -> Env {
    // A prefix of this test's own, with the variables set for this test only.
    let prefix = format!("CRUCIBLE_CFGTEST_{test}_");
    for (k, v) in vars {
        // SAFETY: each test uses distinct variable names under its own prefix, and nothing reads them
        // concurrently except this test's figment.
        unsafe { std::env::set_var(format!("{prefix}{k}"), v) };
    }
    Env::prefixed(&prefix)
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn default_toml_states_exactly_the_built_in_defaults() {
    let loaded = Settings::load_with_env(None, Env::prefixed("CRUCIBLE_CFGTEST_NONE_")).unwrap();
    assert_eq!(loaded, Settings::default());
}

#[test]
fn a_config_file_overrides_only_the_keys_it_names() {
    let f = file("[rules.registration]\nmin_participants = 12\n[database]\nurl = \"sqlite::memory:\"\n");
    let s = Settings::load_with_env(Some(f.path()), Env::prefixed("CRUCIBLE_CFGTEST_NONE_")).unwrap();
    assert_eq!(s.rules.registration.min_participants, 12);
    assert_eq!(s.database.url, "sqlite::memory:");
    assert_eq!(s.rules.registration.ping_batch_size, 50);
}

#[test]
fn sqlite_synchronous_is_a_database_setting_and_a_wrong_value_names_the_choices() {
    let e = env("synchronous", &[("DATABASE__SQLITE_SYNCHRONOUS", "full")]);
    let s = Settings::load_with_env(None, e).unwrap();
    assert_eq!(s.database.store_options().sqlite_synchronous.as_str(), "FULL");
    let f = file("[database]\nsqlite_synchronous = \"off\"\n");
    let err = Settings::load_with_env(Some(f.path()), Env::prefixed("CRUCIBLE_CFGTEST_NONE_")).unwrap_err().to_string();
    assert!(err.contains("database.sqlite_synchronous") && err.contains("normal") && err.contains("full"), "{err}");
}

#[test]
fn environment_overrides_the_file() {
    let f = file("[rules.scoring]\ngroup_advance = 6\n");
    let e = env("override", &[("RULES__SCORING__GROUP_ADVANCE", "5"), ("TEST_POSTGRES_URL", "ignored")]);
    let s = Settings::load_with_env(Some(f.path()), e).unwrap();
    assert_eq!(s.rules.scoring.group_advance, 5);
}

#[test]
fn a_bad_type_names_the_key() {
    let f = file("[rules.registration]\nmin_participants = \"many\"\n");
    let err = Settings::load_with_env(Some(f.path()), Env::prefixed("CRUCIBLE_CFGTEST_NONE_")).unwrap_err().to_string();
    assert!(err.contains("rules.registration.min_participants"), "{err}");
}

#[test]
fn an_unknown_key_is_rejected_by_name() {
    let f = file("[rules.scoring]\ngroup_advnace = 6\n");
    let err = Settings::load_with_env(Some(f.path()), Env::prefixed("CRUCIBLE_CFGTEST_NONE_")).unwrap_err().to_string();
    assert!(err.contains("group_advnace"), "{err}");
}

#[test]
fn an_invalid_value_is_rejected_by_name() {
    let e = env("invalid", &[("RULES__WEIGHTS__DECLINE", "1.5")]);
    let err = Settings::load_with_env(None, e).unwrap_err().to_string();
    assert!(err.contains("rules.weights.decline"), "{err}");
}

#[test]
fn a_missing_config_file_is_named() {
    let err = Settings::load_with_env(Some(Path::new("/nonexistent/crucible.toml")), Env::prefixed("X_")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/crucible.toml"), "{err}");
}

#[test]
fn an_unknown_backend_is_named() {
    let f = file("[validator]\nexecutor = \"kubernetes\"\n");
    let err = Settings::load_with_env(Some(f.path()), Env::prefixed("CRUCIBLE_CFGTEST_NONE_")).unwrap_err().to_string();
    assert!(err.contains("validator.executor") && err.contains("kubernetes"), "{err}");
}

#[test]
fn remote_nodes_load_from_a_file_and_the_remote_executor_needs_them() {
    let f = file(
        "[validator]\nexecutor = \"remote\"\n[[validator.nodes]]\nid = \"gpu-1\"\nurl = \"http://10.0.0.5:8001\"\n\
         token = \"s3cret\"\n[validator.polling]\npoll_interval_secs = 5.0\n",
    );
    let s = Settings::load_with_env(Some(f.path()), Env::prefixed("CRUCIBLE_CFGTEST_NONE_")).unwrap();
    assert_eq!(s.validator.executor, ExecutorBackend::Remote);
    assert_eq!((s.validator.nodes[0].id.as_str(), s.validator.nodes[0].token.expose()), ("gpu-1", "s3cret"));
    assert_eq!(s.validator.polling.poll_interval_secs, 5.0);
    assert_eq!(s.validator.polling.lost_after_polls, 10, "unnamed keys keep their defaults");
    assert!(!format!("{s:?}").contains("s3cret"), "the token never prints");

    let f =
        file("[validator]\nexecutor = \"remote\"\n\n[[validator.nodes]]\nid = \"\"\nurl = \"http://127.0.0.1:8001\"\n");
    let err = Settings::load_with_env(Some(f.path()), Env::prefixed("CRUCIBLE_CFGTEST_NONE_")).unwrap_err().to_string();
    assert!(err.contains("node id") && err.contains("id"), "an empty node id is refused by name: {err}");
    let f = file("[validator]\nexecutor = \"remote\"\n");
    let err = Settings::load_with_env(Some(f.path()), Env::prefixed("CRUCIBLE_CFGTEST_NONE_")).unwrap_err().to_string();
    assert!(err.contains("validator.nodes"), "{err}");
    let f = file("[trainer_node]\nlisten = \"0.0.0.0:8001\"\n");
    let err = Settings::load_with_env(Some(f.path()), Env::prefixed("CRUCIBLE_CFGTEST_NONE_")).unwrap_err().to_string();
    assert!(err.contains("trainer_node.token"), "{err}");
}

#[test]
fn fetch_sources_and_budgets_are_checked() {
    let e = env("hosts", &[("GATES__ALLOWED_HOSTS", "[\"github.com/miner\"]")]);
    let err = Settings::load_with_env(None, e).unwrap_err().to_string();
    assert!(err.contains("gates.allowed_hosts: \"github.com/miner\" is not a host name"), "{err}");
    let e = env("budget", &[("GATES__REGISTRATION_FETCH_SECS", "0")]);
    let err = Settings::load_with_env(None, e).unwrap_err().to_string();
    assert!(err.contains("registration_fetch_secs must be positive"), "{err}");
    let defaults = Settings::load_with_env(None, env("fetchdefaults", &[])).unwrap();
    assert!(!defaults.gates.allow_local, "local sources are off unless asked for");
}
