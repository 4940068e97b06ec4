//! A trainer node restarted while a task was training hands it to its executor; when the executor
//! cannot find the run any more, the task is marked failed with the "lost" reason and frees its GPUs.

use std::net::TcpListener;
use std::rc::Rc;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use crucible::domain::{GpuClass, NodeTaskStatus};
use crucible::exec::remote::wire::start_body;
use crucible::exec::{Executor, RunFuture, TrainingJob};
use crucible::http::Secret;
use crucible::http::auth::{Access, AllowList};
use crucible::node::book::LOST;
use crucible::node::inventory::NodeGpu;
use crucible::node::{NodeParts, start};
use crucible::store::{NodeTask, Store};

use super::node::{Http, TOKEN, eventually, job};

/// Sees no run that started before it existed; new runs never end.
struct Blind;

impl Executor for Blind {
    fn name(&self) -> &'static str {
        "blind"
    }
    fn run(&self, _: TrainingJob) -> RunFuture {
        Box::pin(std::future::pending())
    }
    fn reattach(&self, _: TrainingJob, _: DateTime<Utc>) -> Option<RunFuture> {
        None
    }
}

#[test]
fn a_task_the_executor_cannot_find_after_a_restart_is_marked_lost() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&format!("sqlite://{}", dir.path().join("node.db").display())).unwrap());
    store.migrate().unwrap();
    // What a node that died mid-run left behind.
    let left = job(5, 1.0, &[1], "local");
    store
        .start_node_task(&NodeTask {
            task_id: left.task_id.clone(),
            hotkey: left.hotkey.clone(),
            attempt: 1,
            request: start_body(&left).as_object().unwrap().clone(),
            gpu_ids: vec![1],
            status: NodeTaskStatus::Training,
            started_at: Utc::now(),
            finished_at: None,
            logs: vec!["accepted".into()],
            test_loss: None,
            synth_loss: None,
            eval: Default::default(),
            failure: None,
        })
        .unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (handles, handle) = std::sync::mpsc::channel();
    let node_store = store.clone();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let gpus = (0..2).map(|index| NodeGpu { index, class: GpuClass::H100, vram_gb: 80 }).collect();
            let access = Access { token: Secret::new(TOKEN), allow: AllowList::default() };
            let parts =
                NodeParts { store: node_store, executor: Rc::new(Blind), gpus, access, max_body_bytes: 1 << 20 };
            let server = start(parts, listener).unwrap();
            handles.send(server.handle()).unwrap();
            server.await
        })
    });
    let http = Http::new(&url);
    let record = eventually("the lost task to be marked", || {
        let (_, record) = http.task(&left);
        (record["status"] != "training").then_some(record)
    });
    assert_eq!(record["status"], "failure");
    assert_eq!(record["logs"].as_array().unwrap().last().unwrap(), LOST);
    assert_eq!(record["failure_kind"], "failed");
    eventually("the lost task's GPU to be free", || http.gpus().iter().all(|g| g["available"] == true).then_some(()));
    assert_eq!(store.node_tasks_in(NodeTaskStatus::Training).unwrap(), vec![]);

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(handle.recv().unwrap().stop(true));
    thread.join().unwrap().unwrap();
}
