//! `crucible trainer-node` as a GPU host runs it: real HTTP on loopback against the real binary, every
//! route, access refusals, bad requests, GPU conflicts, cancels, and durability across a SIGKILL.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crucible::domain::gpu::Placement;
use crucible::domain::{Hotkey, TaskId, TaskType, TournamentId};
use crucible::exec::TrainingJob;
use crucible::exec::remote::wire::start_body;
use serde_json::{Value, json};

pub const TOKEN: &str = "node-test-token";

/// A running `crucible trainer-node`; killed when dropped.
pub struct NodeProcess {
    pub child: Child,
    pub url: String,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a node on `db` with three GPUs (2 H100, 1 A100), the test token, runs that always succeed,
/// and `extra` settings.
pub fn spawn_node(db: &Path, extra: &[(&str, &str)]) -> NodeProcess {
    spawn_node_with(db, &[], extra)
}

/// [`spawn_node`] with global arguments such as `--config FILE`.
pub fn spawn_node_with(db: &Path, args: &[&str], extra: &[(&str, &str)]) -> NodeProcess {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args(args)
        .arg("trainer-node")
        .env("CRUCIBLE_DATABASE__URL", format!("sqlite://{}", db.display()))
        .env("CRUCIBLE_TRAINER_NODE__LISTEN", "127.0.0.1:0")
        .env("CRUCIBLE_TRAINER_NODE__TOKEN", TOKEN)
        .env("CRUCIBLE_TRAINER_NODE__GPUS", "2H100+1A100")
        .env("CRUCIBLE_SIMULATION__SHARES__CRASH_RATE", "0")
        .env("CRUCIBLE_SIMULATION__SHARES__HANG_RATE", "0")
        .env("CRUCIBLE_SIMULATION__SHARES__NO_OUTPUT_RATE", "0")
        .envs(extra.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the node starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let address = line.trim().strip_prefix("trainer-node listening on ").expect("the node prints its address");
    NodeProcess { url: format!("http://{address}"), child }
}

/// A job of hotkey `n` on GPUs `gpus`: `hours` of 0.0005 end within two seconds, 1.0 runs for minutes.
pub fn job(n: u64, hours: f64, gpus: &[u32], node: &str) -> TrainingJob {
    TrainingJob {
        tournament_id: TournamentId::new(n, 2026, 11, 25),
        task_id: TaskId::parse(&format!("node-test-task-{n}")).unwrap(),
        hotkey: Hotkey::synthetic(n),
        attempt: 1,
        task_type: TaskType::InstructText,
        model: "org/Model-1B".into(),
        model_params: Some(1_000_000_000),
        model_type: None,
        dataset: "org/data".into(),
        dataset_type_json: r#"{"field_instruction":"q","field_output":"a"}"#.into(),
        file_format: crucible::domain::FileFormat::S3,
        hours_to_complete: hours,
        expected_repo_name: format!("tournament-test-{n}"),
        repo_url: "https://github.com/miner/trainer".into(),
        commit_hash: "c".repeat(40),
        placement: Placement { node_id: crate::node_id(node), gpu_indices: gpus.to_vec() },
    }
}

/// A small blocking HTTP client for the tests.
pub struct Http {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
    pub base: String,
}

impl Http {
    pub fn new(base: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        // No kept-alive connections: the node may close an idle one just as a request reuses it.
        let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
        Self { runtime, client, base: base.to_owned() }
    }

    fn send(&self, request: reqwest::RequestBuilder, token: Option<&str>) -> (u16, Value) {
        let request = match token {
            Some(t) => request.bearer_auth(t),
            None => request,
        };
        self.runtime.block_on(async {
            let response = request.send().await.expect("the node answers");
            let status = response.status().as_u16();
            let body = response.bytes().await.unwrap();
            let value = serde_json::from_slice(&body).unwrap_or_else(|e| {
                panic!("HTTP {status} answered non-JSON ({e}): {}", String::from_utf8_lossy(&body))
            });
            (status, value)
        })
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.send(self.client.get(format!("{}{path}", self.base)), token)
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
        let request = self.client.post(format!("{}{path}", self.base)).header("content-type", "application/json");
        self.send(request.body(body.to_owned()), token)
    }

    pub fn start(&self, job: &TrainingJob) -> (u16, Value) {
        self.post("/v1/trainer/start_training", Some(TOKEN), &start_body(job).to_string())
    }

    /// `POST /v1/trainer/cancel_training` of the job's attempt.
    pub fn cancel(&self, job: &TrainingJob) -> (u16, Value) {
        let body = json!({ "task_id": job.task_id, "hotkey": job.hotkey, "attempt": job.attempt });
        self.post("/v1/trainer/cancel_training", Some(TOKEN), &body.to_string())
    }

    pub fn task(&self, job: &TrainingJob) -> (u16, Value) {
        self.get(&format!("/v1/trainer/{}?hotkey={}", job.task_id, job.hotkey), Some(TOKEN))
    }

    pub fn gpus(&self) -> Vec<Value> {
        let (status, gpus) = self.get("/v1/trainer/get_gpu_availability", Some(TOKEN));
        assert_eq!(status, 200, "{gpus}");
        gpus.as_array().unwrap().clone()
    }
}

/// Polls `probe` until it returns `Some`, for at most a minute.
pub fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn available(http: &Http) -> Vec<bool> {
    http.gpus().iter().map(|g| g["available"].as_bool().unwrap()).collect()
}

#[test]
fn every_route_answers_as_the_reference_does() {
    let dir = tempfile::tempdir().unwrap();
    let node = spawn_node(&dir.path().join("node.db"), &[]);
    let http = Http::new(&node.url);

    let gpus = http.gpus();
    assert_eq!(gpus.len(), 3);
    assert_eq!(gpus[0], json!({"gpu_id": 0, "gpu_type": "H100", "vram_gb": 80, "available": true, "used_until": null}));
    assert_eq!(gpus[2]["gpu_type"], "A100");

    let long = job(1, 1.0, &[0], "n");
    let (status, answer) = http.start(&long);
    assert_eq!((status, answer.clone()), (200, json!({"message": "Started Training!", "task_id": long.task_id})));
    let (status, body) = http.start(&long);
    assert_eq!(status, 409, "a repeated start of a running task is the reference's GPU conflict: {body}");
    assert!(body["detail"].as_str().unwrap().starts_with("GPU conflict detected."), "{body}");
    let _ = answer;
    assert_eq!(available(&http), [false, true, true]);
    assert!(http.gpus()[0]["used_until"].is_string());

    let (status, record) = http.task(&long);
    assert_eq!(status, 200);
    let sent = start_body(&long);
    for field in ["training_data", "github_repo", "github_commit_hash", "github_branch", "gpu_ids", "hotkey"] {
        assert_eq!(record[field], sent[field], "{field}");
    }
    assert_eq!(record["status"], "training");
    assert!(record["started_at"].is_string());
    assert_eq!((record["finished_at"].clone(), record["wandb_url"].clone()), (Value::Null, Value::Null));
    assert!(record["logs"].is_array());

    let short = job(2, 0.0005, &[1, 2], "n");
    assert_eq!(http.start(&short).0, 200);
    let done = eventually("the short task to end", || {
        let (_, record) = http.task(&short);
        (record["status"] != "training").then_some(record)
    });
    assert_eq!(done["status"], "success", "{done}");
    assert!(done["finished_at"].is_string());
    assert!(done["test_loss"].as_f64().is_some_and(|l| l > 0.0), "{done}");
    assert_eq!(available(&http), [false, true, true], "GPUs are free again once the task ended");

    let (status, recent) = http.get("/v1/trainer/get_recent_tasks?hours=1", Some(TOKEN));
    assert_eq!(status, 200);
    let ids: Vec<&str> =
        recent.as_array().unwrap().iter().map(|t| t["training_data"]["task_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [short.task_id.as_str(), long.task_id.as_str()], "newest first");
}

#[test]
fn refusals_and_errors_are_json_with_the_right_status() {
    let dir = tempfile::tempdir().unwrap();
    let node = spawn_node(&dir.path().join("node.db"), &[("CRUCIBLE_TRAINER_NODE__MAX_BODY_BYTES", "4096")]);
    let http = Http::new(&node.url);
    let gpus = "/v1/trainer/get_gpu_availability";

    let (status, body) = http.get(gpus, None);
    assert_eq!(status, 401);
    assert!(body["detail"].as_str().unwrap().contains("Authorization"), "{body}");
    let (status, body) = http.get(gpus, Some("not-the-token"));
    assert_eq!(status, 401);
    assert!(!body.to_string().contains("not-the-token") && !body.to_string().contains(TOKEN));

    let held = job(1, 1.0, &[0, 1], "n");
    assert_eq!(http.start(&held).0, 200);
    let (status, body) = http.start(&job(2, 1.0, &[1], "n"));
    assert_eq!(status, 409);
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.starts_with("GPU conflict detected.") && detail.contains("GPU 1 is held"), "{body}");
    let (status, body) = http.start(&job(3, 1.0, &[7], "n"));
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "gpu_ids", 0]), "{body}");

    let start = "/v1/trainer/start_training";
    let (status, body) = http.post(start, Some(TOKEN), "{\"training_data\": ");
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["type"], "json_invalid", "{body}");
    let mut missing = start_body(&job(4, 1.0, &[2], "n"));
    missing.as_object_mut().unwrap().remove("hotkey");
    let (status, body) = http.post(start, Some(TOKEN), &missing.to_string());
    assert_eq!(status, 422);
    assert_eq!(body["detail"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["detail"][0]["type"], "missing");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "hotkey"]));
    assert_eq!(body["detail"][0]["msg"], "Field required");
    let (status, _) = http.post(start, Some(TOKEN), &"x".repeat(5000));
    assert_eq!(status, 413);

    let (status, body) = http.get(&format!("/v1/trainer/unknown-task?hotkey={}", Hotkey::synthetic(1)), Some(TOKEN));
    let expected = format!("Task with ID 'unknown-task' and hotkey '{}' not found.", Hotkey::synthetic(1));
    assert_eq!((status, body), (404, json!({ "detail": expected })));
    let (status, body) = http.get(&format!("/v1/trainer/{}", held.task_id), Some(TOKEN));
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["query", "hotkey"]), "{body}");
    let (status, body) = http.get("/v1/trainer/get_recent_tasks?hours=soon", Some(TOKEN));
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["type"], "int_parsing", "{body}");
    // Spans past any date are every task, not a panic.
    for hours in ["4294967295", "-4294967295", "9223372036854775807"] {
        let (status, _) = http.get(&format!("/v1/trainer/get_recent_tasks?hours={hours}"), Some(TOKEN));
        assert!(status == 200 || status == 404, "hours={hours}: HTTP {status}");
    }
    let (status, body) = http.get("/v2/elsewhere", Some(TOKEN));
    assert_eq!((status, body), (404, json!({"detail": "Not Found"})));
}

#[test]
fn an_address_off_the_allow_list_is_forbidden_even_with_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("node.toml");
    std::fs::write(&config, "[trainer_node]\nallow_list = [\"10.9.9.0/24\"]\n").unwrap();
    let node = spawn_node_with(&dir.path().join("n.db"), &["--config", config.to_str().unwrap()], &[]);
    let (status, body) = Http::new(&node.url).get("/v1/trainer/get_gpu_availability", Some(TOKEN));
    assert_eq!(status, 403);
    assert!(body["detail"].as_str().unwrap().contains("127.0.0.1 is not allowed"), "{body}");
}

#[test]
fn a_node_listening_everywhere_without_a_token_does_not_start() {
    let out = Command::new(env!("CARGO_BIN_EXE_crucible"))
        .arg("trainer-node")
        .env("CRUCIBLE_TRAINER_NODE__LISTEN", "0.0.0.0:0")
        .env("CRUCIBLE_TRAINER_NODE__TOKEN", "")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("trainer_node.token"), "{stderr}");
}

#[test]
fn a_node_killed_and_restarted_still_knows_its_tasks_and_holds_their_gpus() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("node.db");
    let (long, short) = (job(1, 1.0, &[0], "n"), job(2, 0.0005, &[2], "n"));
    let first_record = {
        let mut node = spawn_node(&db, &[]);
        let http = Http::new(&node.url);
        assert_eq!(http.start(&long).0, 200);
        assert_eq!(http.start(&short).0, 200);
        eventually("the short task to succeed", || (http.task(&short).1["status"] == "success").then_some(()));
        let record = http.task(&long).1;
        node.child.kill().unwrap();
        node.child.wait().unwrap();
        record
    };
    let node = spawn_node(&db, &[]);
    let http = Http::new(&node.url);
    let (status, record) = http.task(&long);
    assert_eq!(status, 200);
    assert_eq!(record["status"], "training", "the simulated executor re-attaches to the run");
    assert_eq!(record["started_at"], first_record["started_at"]);
    assert_eq!(http.task(&short).1["status"], "success");
    assert_eq!(available(&http), [false, true, true], "the running task still holds its GPU");
    assert_eq!(http.start(&long).0, 409, "a repeated start after the restart is a conflict: the task still runs");
    assert_eq!(http.start(&job(3, 1.0, &[0], "n")).0, 409);
    // The task followed again after the restart is stopped like any other.
    assert_eq!(http.cancel(&long).0, 200);
    assert_eq!(available(&http), [true, true, true]);
}

#[test]
fn a_cancelled_task_is_stopped_its_gpus_freed_and_its_record_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let node = spawn_node(&dir.path().join("node.db"), &[]);
    let http = Http::new(&node.url);
    let (long, other) = (job(1, 1.0, &[0, 1], "n"), job(2, 1.0, &[2], "n"));
    assert_eq!(http.start(&long).0, 200);
    assert_eq!(http.start(&other).0, 200);
    assert_eq!(available(&http), [false, false, false]);

    let cancel = "/v1/trainer/cancel_training";
    let attempt = |n: u32| TrainingJob { attempt: n, ..long.clone() };
    let unsigned = json!({ "task_id": long.task_id, "hotkey": long.hotkey }).to_string();
    assert_eq!(http.post(cancel, None, &unsigned).0, 401);
    let (status, answer) = http.post(cancel, Some(TOKEN), &json!({ "task_id": long.task_id }).to_string());
    assert_eq!(status, 422);
    assert_eq!(answer["detail"][0]["loc"], json!(["body", "hotkey"]), "{answer}");
    let (status, answer) = http.cancel(&attempt(2));
    assert_eq!(status, 409, "another attempt than the running one is not stopped: {answer}");
    assert!(answer["detail"].as_str().unwrap().contains("is training attempt 1, not 2"), "{answer}");

    // Answered once the run is stopped, its end recorded and its GPUs free.
    let (status, answer) = http.cancel(&long);
    let expected =
        json!({ "message": "Training cancelled by the validator", "task_id": long.task_id, "hotkey": long.hotkey });
    assert_eq!((status, answer), (200, expected));
    assert_eq!(available(&http), [true, true, false], "only the cancelled task's GPUs are freed");
    let (_, record) = http.task(&long);
    assert_eq!((&record["status"], &record["failure_kind"]), (&json!("failure"), &json!("failed")), "{record}");
    assert_eq!(record["logs"].as_array().unwrap().last().unwrap(), "Training cancelled by the validator");
    assert!(record["finished_at"].is_string(), "{record}");
    assert_eq!(http.task(&other).1["status"], "training", "the other task runs on");

    let (status, answer) = http.cancel(&long);
    assert_eq!(status, 409, "{answer}");
    assert!(answer["detail"].as_str().unwrap().contains("is not training: attempt 1 ended failure"), "{answer}");
    let (status, answer) = http.cancel(&attempt(5));
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = http.cancel(&job(9, 1.0, &[0], "n"));
    assert_eq!(status, 404, "{answer}");
    assert!(answer["detail"].as_str().unwrap().ends_with("not found."), "{answer}");
    // The freed GPUs take the task's next attempt.
    assert_eq!(http.start(&attempt(2)).0, 200);
    assert_eq!(http.task(&long).1["attempt"], 2);
}
