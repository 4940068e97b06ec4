//! The trainer API's edges as the reference's FastAPI node answers them (docs/trainer-node-api.md):
//! routing (405, 307, 404), validation (422 with pydantic-style issues), the fields it accepts and
//! defaults, the recent-task list, and the reference's access mode (an IP allow-list, no token).

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::node::{Http, TOKEN, job, spawn_node, spawn_node_with};
use crucible::exec::remote::wire::start_body;

/// A raw answer: status, headers and the body as JSON (or `null` when empty).
fn raw(method: reqwest::Method, url: &str, token: Option<&str>) -> (u16, HashMap<String, String>, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    runtime.block_on(async {
        let mut request = client.request(method, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let body = response.bytes().await.unwrap();
        (status, headers, serde_json::from_slice(&body).unwrap_or(Value::Null))
    })
}

#[test]
fn routing_answers_405_307_and_404_as_starlette_does() {
    let dir = tempfile::tempdir().unwrap();
    let node = spawn_node(&dir.path().join("node.db"), &[]);
    let url = |path: &str| format!("{}{path}", node.url);
    let (status, headers, body) = raw(reqwest::Method::POST, &url("/v1/trainer/get_gpu_availability"), Some(TOKEN));
    assert_eq!((status, body), (405, json!({"detail": "Method Not Allowed"})));
    assert_eq!(headers["allow"], "GET");
    let (status, headers, _) = raw(reqwest::Method::PUT, &url("/v1/trainer/start_training"), Some(TOKEN));
    assert_eq!((status, headers["allow"].as_str()), (405, "POST"));

    // GET start_training is a task named start_training, as in the reference.
    let (status, body) = Http::new(&node.url).get("/v1/trainer/start_training?hotkey=5Dx1abcdefgh", Some(TOKEN));
    assert_eq!(status, 404);
    assert_eq!(body["detail"], "Task with ID 'start_training' and hotkey '5Dx1abcdefgh' not found.");

    let (status, headers, _) = raw(reqwest::Method::GET, &url("/v1/trainer/get_recent_tasks/?hours=1"), Some(TOKEN));
    assert_eq!(status, 307);
    assert_eq!(headers["location"], url("/v1/trainer/get_recent_tasks?hours=1"));
    let (status, headers, _) = raw(reqwest::Method::POST, &url("/v1/trainer/start_training/"), Some(TOKEN));
    assert_eq!((status, headers["location"].clone()), (307, url("/v1/trainer/start_training")));
    for path in ["/v1/trainer/", "/v1/trainer", "/v1/trainer/a/b"] {
        let (status, _, body) = raw(reqwest::Method::GET, &url(path), Some(TOKEN));
        assert_eq!((status, body), (404, json!({"detail": "Not Found"})), "{path}");
    }
}

#[test]
fn the_recent_list_is_a_404_when_empty_and_ordered_by_the_later_of_finish_and_start() {
    let dir = tempfile::tempdir().unwrap();
    let node = spawn_node(&dir.path().join("node.db"), &[]);
    let http = Http::new(&node.url);
    let (status, body) = http.get("/v1/trainer/get_recent_tasks?hours=1", Some(TOKEN));
    assert_eq!((status, body), (404, json!({"detail": "Tasks not found in the last 1 hours."})));
    let (status, body) = http.get("/v1/trainer/get_recent_tasks?hours=%202", Some(TOKEN));
    assert_eq!((status, body), (404, json!({"detail": "Tasks not found in the last 2 hours."})));

    // One started first and ended, two still running: the order is by the later of finish and start,
    // read from the records' own times.
    let (early, late, later) = (job(1, 0.002, &[0], "n"), job(2, 1.0, &[1], "n"), job(3, 1.0, &[2], "n"));
    assert_eq!(http.start(&early).0, 200);
    assert_eq!(http.start(&late).0, 200);
    crate::node::eventually("the early task to end", || (http.task(&early).1["status"] != "training").then_some(()));
    assert_eq!(http.start(&later).0, 200);
    let (status, recent) = http.get("/v1/trainer/get_recent_tasks?hours=1", Some(TOKEN));
    assert_eq!(status, 200);
    let recent = recent.as_array().unwrap();
    assert_eq!(recent.len(), 3);
    let key = |t: &Value| {
        let at = |field: &str| t[field].as_str().map(|s| chrono::DateTime::parse_from_rfc3339(s).unwrap());
        at("finished_at").max(at("started_at")).unwrap()
    };
    let keys: Vec<_> = recent.iter().map(key).collect();
    assert!(keys.windows(2).all(|w| w[0] >= w[1]), "newest first by the later of finish and start: {keys:?}");
    let first = recent[0]["training_data"]["task_id"].as_str().unwrap();
    assert_eq!(first, later.task_id.as_str(), "started after the early task ended, so newest");
}

#[test]
fn fields_are_accepted_and_defaulted_as_the_reference_does() {
    let dir = tempfile::tempdir().unwrap();
    let node = spawn_node(&dir.path().join("node.db"), &[]);
    let http = Http::new(&node.url);
    let start = "/v1/trainer/start_training";

    // A reference request: no expected_repo_name, hours as a numeric string, no crucible extras.
    let text = job(1, 1.0, &[0], "n");
    let mut body = start_body(&text);
    for extra in ["tournament_id", "attempt", "task_type", "model_params"] {
        body.as_object_mut().unwrap().remove(extra);
    }
    body["training_data"].as_object_mut().unwrap().remove("expected_repo_name");
    body["training_data"]["hours_to_complete"] = json!("1");
    body["gpu_ids"] = json!(["0"]);
    let (status, answer) = http.post(start, Some(TOKEN), &body.to_string());
    assert_eq!(status, 200, "{answer}");
    let record = http.task(&text).1;
    assert_eq!(record["training_data"]["expected_repo_name"], format!("organic_{}", text.task_id));

    // An image request without model_type runs as sdxl; an explicit null is refused.
    let mut image = job(2, 1.0, &[1], "n");
    image.task_type = crucible::domain::TaskType::Image;
    image.dataset = "https://x/d.zip".into();
    let mut body = start_body(&image);
    body["training_data"].as_object_mut().unwrap().remove("model_type");
    let (status, answer) = http.post(start, Some(TOKEN), &body.to_string());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(http.task(&image).1["training_data"]["model_type"], "sdxl");
    let mut null_type = start_body(&job(3, 1.0, &[2], "n"));
    null_type["training_data"] =
        json!({"model": "m", "task_id": "t-3", "hours_to_complete": 1, "dataset_zip": "z", "model_type": null});
    let (status, answer) = http.post(start, Some(TOKEN), &null_type.to_string());
    assert_eq!(status, 422);
    let issue = &answer["detail"][0];
    assert_eq!(
        (issue["type"].clone(), issue["loc"].clone()),
        (json!("enum"), json!(["body", "training_data", "TrainRequestImage", "model_type"]))
    );

    // file_format: required and one of the reference's values.
    for (format, kind) in [(None, "missing"), (Some(json!("parquet")), "enum"), (Some(json!("S3")), "enum")] {
        let mut body = start_body(&job(4, 1.0, &[2], "n"));
        match format {
            Some(value) => body["training_data"]["file_format"] = value,
            None => drop(body["training_data"].as_object_mut().unwrap().remove("file_format")),
        }
        let (status, answer) = http.post(start, Some(TOKEN), &body.to_string());
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["detail"][0]["type"], kind, "{answer}");
        assert_eq!(answer["detail"][0]["loc"], json!(["body", "training_data", "TrainRequestText", "file_format"]));
    }
    let (status, answer) = http.post(start, Some(TOKEN), "[1]");
    assert_eq!(status, 422);
    assert_eq!(answer["detail"][0]["type"], "model_attributes_type");
    // Every problem at once.
    let (status, answer) = http.post(start, Some(TOKEN), r#"{"training_data": {}, "gpu_ids": [1.5]}"#);
    assert_eq!(status, 422);
    let locs: Vec<String> = answer["detail"].as_array().unwrap().iter().map(|i| i["loc"].to_string()).collect();
    for expected in [
        "hotkey",
        "github_repo",
        "gpu_ids",
        "model",
        "task_id",
        "hours_to_complete",
        "dataset_type",
        "file_format",
        "dataset",
    ] {
        assert!(locs.iter().any(|l| l.contains(&format!("\"{expected}\""))), "{expected} missing from {locs:?}");
    }
}

/// A GET of the node's GPU list from `source` (a loopback-range address), without a token.
fn gpus_from(url: &str, source: &str) -> (u16, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = reqwest::Client::builder().local_address(source.parse::<std::net::IpAddr>().unwrap()).build().unwrap();
    runtime.block_on(async {
        let response = client.get(format!("{url}/v1/trainer/get_gpu_availability")).send().await.unwrap();
        (response.status().as_u16(), response.json::<Value>().await.unwrap())
    })
}

#[test]
fn a_node_serves_a_reference_validator_by_allow_list_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("node.toml");
    std::fs::write(&config, "[trainer_node]\nallow_list = [\"127.0.0.2\"]\n").unwrap();
    let off_loopback = [("CRUCIBLE_TRAINER_NODE__LISTEN", "0.0.0.0:0"), ("CRUCIBLE_TRAINER_NODE__TOKEN", "")];
    let node = spawn_node_with(&dir.path().join("n.db"), &["--config", config.to_str().unwrap()], &off_loopback);
    let port = node.url.rsplit(':').next().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    // The listed validator address, without a token.
    let (status, gpus) = gpus_from(&url, "127.0.0.2");
    assert_eq!(status, 200, "{gpus}");
    assert_eq!(gpus.as_array().unwrap().len(), 3);
    // Another address: 403, as a validator off the list.
    let (status, body) = gpus_from(&url, "127.0.0.3");
    assert_eq!(status, 403, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("127.0.0.3"), "{body}");
    // The listed validator starts a training without a token.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let listed =
        reqwest::Client::builder().local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap()).build().unwrap();
    let start = listed.post(format!("{url}/v1/trainer/start_training")).json(&start_body(&job(8, 1.0, &[0], "n")));
    let status = runtime.block_on(async { start.send().await.unwrap().status().as_u16() });
    assert_eq!(status, 200);
    // Loopback, as the reference always allows it; a validator configured as the reference's (no
    // token) runs a training on the node to its end.
    assert_eq!(gpus_from(&url, "127.0.0.1").0, 200);
    let outcome = crate::remote::run_remote(&url, "", job(9, 0.0005, &[1], "gpu-1")).join().unwrap();
    assert!(matches!(outcome, crucible::exec::RunOutcome::Success { .. }), "{outcome:?}");
}

#[test]
fn the_start_up_log_names_the_access_mode_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let mode = |listen: &str, token: &str, allow: &str| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_crucible"))
            .arg("trainer-node")
            .env(
                "CRUCIBLE_DATABASE__URL",
                format!(
                    "sqlite://{}",
                    dir.path().join(format!("{}.db", listen.len() + allow.len() + token.len())).display()
                ),
            )
            .env("CRUCIBLE_TRAINER_NODE__LISTEN", listen)
            .env("CRUCIBLE_TRAINER_NODE__TOKEN", token)
            .env("CRUCIBLE_TRAINER_NODE__ALLOW_LIST", allow)
            .env("CRUCIBLE_TRAINER_NODE__GPUS", "1H100")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (lines, read) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut log = String::new();
        let found = loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match read.recv_timeout(left) {
                Ok(line) if line.contains("access: ") => break Some(line),
                Ok(line) => log.push_str(&line),
                Err(_) => break None,
            }
        };
        child.kill().unwrap();
        child.wait().unwrap();
        found.unwrap_or_else(|| panic!("the node logged no access mode within a minute: {log}"))
    };
    let reference = mode("0.0.0.0:0", "", "[\"10.9.9.7\"]");
    assert!(reference.contains("reference mode") && reference.contains("10.9.9.7"), "{reference}");
    assert!(reference.contains("trainer_node.token is empty and trainer_node.allow_list is set"), "{reference}");
    let token = mode("127.0.0.1:0", "secret-token", "[]");
    assert!(token.contains("token mode") && !token.contains("secret-token"), "{token}");
    let open = mode("127.0.0.1:0", "", "[]");
    assert!(open.contains("open on loopback"), "{open}");
}
