//! `crucible trainer-node`: the trainer API (trainer-node-api.md) on a GPU host, wire-compatible with
//! the reference's Python trainer nodes, plus bearer-token access.
//!
//! * `settings`: `[trainer_node]` (the validator's `[[validator.nodes]]` are `exec::remote::settings`).
//! * `wire`: the JSON of the API on the node's side (the validator's is `exec::remote::wire`).
//! * access and errors come from [`crate::http`]: allow-list, bearer token, JSON errors.
//! * `inventory`: the GPUs offered (discovered with NVML, else configured).
//! * `book`: the TaskBook actor: starts, GPU holds, runs through the executor, restore after restart.
//! * `routes`: the HTTP handlers.
//!
//! Task records are durable (`node_tasks` in the configured database): a restarted node knows its
//! tasks and re-attaches to runs its executor still sees.
//!
//! The executor comes from `trainer_node.executor` (`simulated`, or `local`: the Docker pipeline),
//! built where the command is wired (`cli::trainer_node`) and handed to [`start`] in [`NodeParts`].

pub mod answers;
pub mod book;
pub mod checks;
pub mod inventory;
pub mod routes;
pub mod settings;
pub mod wire;

use std::net::TcpListener;
use std::rc::Rc;
use std::sync::Arc;

use actix::Actor;
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

use crate::exec::Executor;
use crate::http::auth::Access;
use crate::http::{Gate, guard};
use crate::store::{Db, Store};
use book::TaskBook;
use inventory::NodeGpu;
use routes::NodeState;

/// Everything a node server is made of.
pub struct NodeParts {
    pub store: Arc<Store>,
    pub executor: Rc<dyn Executor>,
    pub gpus: Vec<NodeGpu>,
    pub access: Access,
    pub max_body_bytes: usize,
}

/// Starts the task book (which restores the stored tasks first) and the HTTP server on `listener`.
/// Call inside a running actix system; the returned server runs until stopped or signalled.
pub fn start(parts: NodeParts, listener: TcpListener) -> std::io::Result<Server> {
    let book = TaskBook::new(Db::new(parts.store.clone()), parts.executor, parts.gpus).start();
    let state = NodeState { book, store: parts.store, max_body_bytes: parts.max_body_bytes };
    let gate = web::Data::new(Gate { access: parts.access, public_reads: false, open: &[], detail_body: true });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .app_data(gate.clone())
            .app_data(web::QueryConfig::default().error_handler(|e, _| {
                let issue = answers::Issue::new(
                    "query_invalid",
                    vec![serde_json::json!("query")],
                    e.to_string(),
                    serde_json::Value::Null,
                );
                answers::NodeError::Invalid(vec![issue]).into()
            }))
            .wrap(from_fn(guard))
            .configure(routes::configure)
            .default_service(web::to(answers::no_route))
    })
    .workers(2)
    .listen(listener)?
    .run();
    Ok(server)
}
