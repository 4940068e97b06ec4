//! Runs of trainer nodes that upload instead of scoring (the reference's nodes) are scored by the
//! validator: the model is fetched from a hub in the Hugging Face layout (a local stand-in serving the
//! hub's routes over HTTP, through the real client code path) and evaluated by the evaluator image on
//! the real Docker engine. The hub itself is not reachable from CI.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use crucible::exec::hub::{Hub, HubSettings};
use crucible::exec::local::{GpuAccess, LocalExecutor, LocalSettings};
use crucible::exec::remote::RemoteExecutor;
use crucible::exec::remote::evaluation::RemoteEvaluation;
use crucible::exec::{Executor, RunOutcome};
use crucible::repo::GateRules;

use super::support::{EVALUATOR, engine};
use crate::node::job;
use crate::remote::{STARTED, polling, scripted, settings};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// A stand-in hub: `repos` maps `org/name` to its files; a file named `loss` is served through a
/// redirect, as the hub sends large files elsewhere. Returns its URL and the paths requested.
fn stand_in_hub(repos: HashMap<String, Vec<(&'static str, &'static str)>>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            log.lock().unwrap().push(path.clone());
            let (status, headers, body) = route(&repos, &path);
            let head =
                format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n", body.len());
            let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes()));
        }
    });
    (url, seen)
}

fn route(repos: &HashMap<String, Vec<(&'static str, &'static str)>>, path: &str) -> (&'static str, String, String) {
    let not_found = || {
        let headers = "x-error-code: RepoNotFound\r\ncontent-type: application/json\r\n".to_owned();
        ("401 Unauthorized", headers, r#"{"error":"Repository not found"}"#.to_owned())
    };
    if let Some(cdn) = path.strip_prefix("/cdn/") {
        let (repo, file) = cdn.rsplit_once("/-/").unwrap();
        let body = repos[repo].iter().find(|(name, _)| *name == file).unwrap().1;
        return ("200 OK", String::new(), body.to_owned());
    }
    if let Some(rest) = path.strip_prefix("/api/models/") {
        let Some(repo) = rest.strip_suffix("/revision/main") else { return not_found() };
        let Some(files) = repos.get(repo) else { return not_found() };
        let siblings: Vec<_> = files.iter().map(|(name, _)| serde_json::json!({ "rfilename": name })).collect();
        let info = serde_json::json!({ "id": repo, "sha": COMMIT, "siblings": siblings });
        return ("200 OK", "content-type: application/json\r\n".into(), info.to_string());
    }
    let Some((repo, file)) = path.trim_start_matches('/').split_once(&format!("/resolve/{COMMIT}/")) else {
        return not_found();
    };
    let Some(files) = repos.get(repo) else { return not_found() };
    match files.iter().find(|(name, _)| *name == file) {
        Some(_) if file == "loss" => ("302 Found", format!("location: /cdn/{repo}/-/{file}\r\n"), String::new()),
        Some((_, body)) => ("200 OK", format!("x-repo-commit: {COMMIT}\r\n"), (*body).to_owned()),
        None => ("404 Not Found", "x-error-code: EntryNotFound\r\n".into(), String::new()),
    }
}

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
    let (hub_url, requested) = stand_in_hub(repos);
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
    let evaluation = RemoteEvaluation { local: LocalExecutor::new(engine, local, GateRules::default()), hub };
    let remote = RemoteExecutor::new(&settings(&node, ""), &polling()).unwrap().with_evaluation(evaluation);

    let outcome = runtime.block_on(remote.run(scored.clone()));
    assert_eq!(outcome, RunOutcome::Success { test_loss: 0.375, synth_loss: None });
    let requested = requested.lock().unwrap().clone();
    assert!(requested.iter().any(|p| p.ends_with("nested/adapter_model.safetensors")), "{requested:?}");
    assert!(!requested.iter().any(|p| p.ends_with(".pkl")), "pickles are never fetched: {requested:?}");

    let outcome = runtime.block_on(remote.run(missing.clone()));
    let RunOutcome::Failed { reason } = outcome else { panic!("{outcome:?}") };
    assert!(reason.contains(&missing.expected_repo_name) && reason.contains("no such model repository"), "{reason}");
    assert!(std::fs::read_dir(dir.path().join("work")).map_or(true, |mut d| d.next().is_none()), "directories removed");
}
