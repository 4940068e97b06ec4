//! The checks of `crucible doctor`, each asking what the validator would ask of its configuration at
//! start or at its first use, and none changing anything (the database is not migrated, no directory
//! is made, no port kept).

use std::path::Path;
use std::time::Duration;

use super::Check;
use crate::config::{Backend, ExecutorBackend, Settings};
use crate::docker::Engine;
use crate::exec::remote::RemoteExecutor;
use crate::exec::remote::settings::RemoteNodeSettings;
use crate::http::Secret;
use crate::miners::directory::{DirectorySource, FileDirectory};
use crate::store::{Store, StoreOptions};

/// How long a check waits for the database or a node: a doctor says quickly what is wrong.
const PATIENCE: Duration = Duration::from_secs(5);

/// Every check, in the order the validator needs them.
pub(super) async fn all(settings: &Settings) -> Vec<Check> {
    let mut checks = Vec::new();
    let store = database(settings, &mut checks);
    checks.push(content(settings));
    checks.extend(docker(settings).await);
    checks.push(gpus(settings));
    checks.extend(nodes(settings, store.as_ref()).await);
    checks.extend(miners(settings));
    checks.push(api(settings));
    checks.extend(directories(settings));
    checks
}

/// Reachable, and its schema this binary's.
fn database(settings: &Settings, checks: &mut Vec<Check>) -> Option<Store> {
    let options = StoreOptions { connect_timeout: PATIENCE, ..settings.database.store_options() };
    let store = match Store::open_with(&settings.database.url, &options) {
        Ok(store) => store,
        Err(e) => {
            let fix = "start the database, or correct database.url (CRUCIBLE_DATABASE__URL); for PostgreSQL the role needs to connect to the database and create tables in it";
            checks.push(Check::fail("database", e.to_string(), fix));
            return None;
        }
    };
    let url = store.url().to_owned();
    let state = match store.ping().and_then(|()| store.migration_state()) {
        Ok(state) => state,
        Err(e) => {
            checks.push(Check::fail("database", format!("{url}: {e}"), "check that the database answers queries"));
            return None;
        }
    };
    checks.push(if !state.unknown.is_empty() {
        Check::fail(
            "database",
            format!(
                "{url}: applied migrations this binary does not have ({}): a newer crucible used it",
                state.unknown.join(", ")
            ),
            "run the crucible version that migrated it, or point database.url at another database",
        )
    } else if !state.pending.is_empty() {
        Check::warn(
            "database",
            format!("{url}: reachable; {} of {} migrations not applied yet", state.pending.len(), state.known),
            "the validator applies them when it starts; `crucible migrate` applies them now",
        )
    } else if store.is_memory() {
        Check::warn(
            "database",
            format!("{url}: an in-memory database keeps nothing across a restart"),
            "set database.url to a file (sqlite://PATH) or to PostgreSQL",
        )
    } else {
        Check::ok("database", format!("{url}: reachable, schema current ({} migrations)", state.known))
    });
    Some(store)
}

/// The task content can serve every task the rules ask for.
fn content(settings: &Settings) -> Check {
    let dir = settings.content.dir.trim();
    if dir.is_empty() {
        return Check::fail(
            "content",
            "content.dir is not set: the validator needs task content to draw tasks from",
            "set content.dir to a content directory (README: \"Task content\"); `crucible tasks tiny --out DIR` writes a tiny one for CPUs",
        );
    }
    match crate::content::Content::load(Path::new(dir)) {
        Err(problems) => Check::fail(
            "content",
            format!("content.dir {dir}: {}", problems.join("; ")),
            "repair the entries named, or point content.dir at another directory",
        ),
        Ok(content) => match content.catalog.gaps(&settings.rules.tasks) {
            gaps if gaps.is_empty() => Check::ok("content", format!("{dir}: serves every task the rules ask for")),
            gaps => Check::fail(
                "content",
                format!("{dir} cannot serve the rules: {}", gaps.join("; ")),
                "add models and datasets for what is missing, or change [rules.tasks]",
            ),
        },
    }
}

/// The engine answers and has the validator-owned images this configuration runs.
async fn docker(settings: &Settings) -> Vec<Check> {
    let executor = settings.validator.executor;
    if executor == ExecutorBackend::Simulated {
        return vec![Check::skip("docker", "not used: validator.executor = \"simulated\"")];
    }
    // Remote nodes train and score; this host only scores models a node uploaded instead.
    let needed = executor == ExecutorBackend::Local;
    let missing = |check: &'static str, detail: String, fix: &str| match needed {
        true => Check::fail(check, detail, fix),
        false => Check::warn(check, format!("{detail}: models a node uploads cannot be scored here"), fix),
    };
    let engine = match Engine::connect().await {
        Ok(engine) => engine,
        Err(e) => {
            let fix = "start the Docker engine (or set DOCKER_HOST); the validator's user needs its socket (the docker group)";
            return vec![missing("docker", e.to_string(), fix)];
        }
    };
    let mut checks = vec![Check::ok("docker", "the Docker engine answers")];
    let local = &settings.local_executor;
    let mut images = vec![("evaluator", local.evaluator())];
    if needed {
        let tags = crate::images::Tags::current();
        images.push(("base of miners' images", tags.ml_base));
        if let Some(download) = local.downloader(!settings.content.dir.trim().is_empty()) {
            images.push(("download step", download));
        }
    }
    for (what, image) in images {
        checks.push(if engine.has_image(&image).await {
            Check::ok("images", format!("{what}: {image}"))
        } else {
            missing(
                "images",
                format!("{what}: {image} is not on the engine"),
                "run `crucible images build` with this binary (no registry needed), or correct [local_executor]",
            )
        });
    }
    checks
}

/// The GPUs trainings get.
fn gpus(settings: &Settings) -> Check {
    match settings.validator.executor {
        ExecutorBackend::Simulated => match crate::sim::NodeSpec::parse(&settings.simulation.nodes) {
            Ok(spec) => {
                let gpus: u32 = spec.nodes.iter().flatten().map(|(_, n)| n).sum();
                Check::ok("gpus", format!("a simulated fleet of {} nodes, {gpus} GPUs", spec.nodes.len()))
            }
            Err(e) => Check::fail("gpus", format!("simulation.nodes: {e}"), "correct simulation.nodes"),
        },
        ExecutorBackend::Remote => Check::skip("gpus", "the trainer nodes report theirs (see nodes)"),
        ExecutorBackend::Local => {
            let discovered = crate::exec::gpus::discover();
            let found = discovered.as_ref().map_or(0, Vec::len);
            let offered = crate::node::inventory::inventory(&settings.trainer_node, discovered);
            let mut classes: Vec<String> = offered.iter().map(|g| g.class.to_string()).collect();
            classes.dedup();
            match (offered.len(), found) {
                (0, _) => Check::fail(
                    "gpus",
                    "NVML found no GPU and trainer_node.gpus is empty",
                    "install the NVIDIA driver and container toolkit, or set trainer_node.gpus (e.g. \"8H100\") and local_executor.gpus = \"none\" on a host without GPUs",
                ),
                (n, 0) => Check::ok("gpus", format!("{n} GPUs ({}) from trainer_node.gpus", classes.join(", "))),
                (n, _) => Check::ok("gpus", format!("{n} GPUs ({}) discovered by NVML", classes.join(", "))),
            }
        }
    }
}

/// Every configured or added trainer node answers `get_gpu_availability`.
async fn nodes(settings: &Settings, store: Option<&Store>) -> Vec<Check> {
    if settings.validator.executor != ExecutorBackend::Remote {
        return vec![Check::skip("nodes", "no remote trainer nodes: validator.executor is not \"remote\"")];
    }
    let mut polling = settings.validator.polling.clone();
    polling.request_timeout_secs = polling.request_timeout_secs.min(PATIENCE.as_secs_f64());
    let remote = match RemoteExecutor::new(&settings.validator.nodes, &polling) {
        Ok(remote) => remote,
        Err(e) => return vec![Check::fail("nodes", format!("validator.nodes: {e}"), "correct [[validator.nodes]]")],
    };
    let mut checks = Vec::new();
    if let Some(store) = store {
        match store.added_nodes() {
            Ok(added) => {
                for node in added {
                    let id = node.id.clone();
                    remote.add_node(&RemoteNodeSettings { id: node.id, url: node.url, token: Secret::new(node.token) });
                    if node.draining {
                        checks.push(Check::ok("nodes", format!("{id}: draining (added through the control API)")));
                    }
                }
            }
            Err(e) => checks.push(Check::warn("nodes", format!("the added nodes cannot be read: {e}"), "see database")),
        }
    }
    let ids = remote.node_ids();
    if ids.is_empty() {
        return vec![Check::fail(
            "nodes",
            "no trainer nodes: none in [[validator.nodes]] and none added through the control API",
            "add a [[validator.nodes]] table (id, url, token) per GPU host running `crucible trainer-node`",
        )];
    }
    for id in ids {
        let url = remote.url_of(id.as_str()).unwrap_or_default();
        checks.push(match remote.availability(id.as_str()).await {
            Ok(gpus) => {
                let free = gpus.iter().filter(|g| g.available).count();
                Check::ok("nodes", format!("{id} at {url}: {} GPUs, {free} free", gpus.len()))
            }
            Err(reason) => Check::fail(
                "nodes",
                format!("{id} at {url}: {reason}"),
                "start `crucible trainer-node` there, and check the url and token in [[validator.nodes]] against its trainer_node.token and allow_list",
            ),
        });
    }
    checks
}

/// The miners registration pings, and the key that signs the pings.
fn miners(settings: &Settings) -> Vec<Check> {
    if settings.validator.registration != Backend::Http {
        return vec![Check::skip("miners", "simulated miners: validator.registration is not \"http\"")];
    }
    let directory = match settings.miners.directory.trim() {
        "" => Check::warn(
            "miners",
            "miners.directory is empty: only miners already in the store are pinged",
            "set miners.directory to a TOML file of [[miner]] entries (config/miners.toml shows one)",
        ),
        path => match (FileDirectory { path: path.into() }).load() {
            Ok(entries) => Check::ok("miners", format!("{path}: {} miners", entries.len())),
            Err(e) => Check::fail("miners", e.to_string(), "correct the file, or miners.directory"),
        },
    };
    let key = match settings.validator.load_key() {
        Ok(Some(key)) => Check::ok("key", format!("pings are signed as {}", key.address())),
        Ok(None) => Check::warn(
            "key",
            "validator.key_file is empty: pings go unsigned, and miners that check signatures refuse them",
            "set validator.key_file to a file holding the validator hotkey's 32-byte seed in hex",
        ),
        Err(e) => {
            Check::fail("key", format!("validator.key_file {e}"), "make the file readable, holding the seed in hex")
        }
    };
    vec![directory, key]
}

/// The control API's address is free, and operations have a token.
fn api(settings: &Settings) -> Check {
    let api = &settings.api;
    if api.listen.is_empty() {
        return Check::warn(
            "api",
            "api.listen is empty: no control API, so no /readyz for probes and no operations",
            "set api.listen, e.g. \"127.0.0.1:8090\"",
        );
    }
    if let Err(e) = std::net::TcpListener::bind(&api.listen) {
        return Check::fail(
            "api",
            format!("cannot listen on {}: {e}", api.listen),
            "choose a free address in api.listen (is a validator already running on it?)",
        );
    }
    match api.token.is_empty() {
        true => Check::warn(
            "api",
            format!("{}: free; no api.token, so every operation is refused", api.listen),
            "set CRUCIBLE_API__TOKEN to a long random secret",
        ),
        false => Check::ok("api", format!("{}: free; operations need the token", api.listen)),
    }
}

/// The directories the validator writes to exist and take files, or can be made.
fn directories(settings: &Settings) -> Vec<Check> {
    let local = settings.validator.executor == ExecutorBackend::Local;
    let http = settings.validator.registration == Backend::Http;
    let executor = &settings.local_executor;
    let dirs = [
        ("local_executor.work_dir", &executor.work_dir, local),
        ("local_executor.cache_dir", &executor.cache_dir, local),
        ("local_executor.heldout_dir", &executor.heldout_dir, local),
        ("validator.scratch_dir", &settings.validator.scratch_dir, http),
    ];
    let used: Vec<_> = dirs.into_iter().filter(|(_, _, used)| *used).collect();
    if used.is_empty() {
        return vec![Check::skip("dirs", "no working directory is used by this configuration")];
    }
    used.into_iter()
        .map(|(key, dir, _)| match writable(Path::new(dir.as_str())) {
            Ok(how) => Check::ok("dirs", format!("{key} {dir}: {how}")),
            Err(e) => Check::fail(
                "dirs",
                format!("{key} {dir}: {e}"),
                "make it writable by the validator's user, or choose another directory",
            ),
        })
        .collect()
}

/// Whether files can be written in `dir`, or `dir` made in its nearest existing parent.
fn writable(dir: &Path) -> Result<&'static str, String> {
    let (existing, how) = match dir.is_dir() {
        true => (dir.to_path_buf(), "writable"),
        false => {
            let parent = dir.ancestors().skip(1).find(|p| p.as_os_str().is_empty() || p.is_dir());
            match parent {
                Some(p) if p.as_os_str().is_empty() => (Path::new(".").to_path_buf(), "made at start"),
                Some(p) => (p.to_path_buf(), "made at start"),
                None => return Err("no parent directory exists".into()),
            }
        }
    };
    tempfile::tempfile_in(&existing).map(|_| how).map_err(|e| format!("cannot write in {}: {e}", existing.display()))
}
