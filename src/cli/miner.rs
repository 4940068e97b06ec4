//! `crucible miner --config FILE`: a small reference miner server. It answers the validator's
//! registration ping, `GET /training_repo/{text|image}`, with the repository and commit configured for
//! that tournament type (miner-contract.md §1), and 404 for a type it does not enter.
//!
//! Access, as the reference's miners (fiber 2.4.0) decide it: with `[metagraph]` (`file`,
//! `min_stake`, default 1000) only validators with that stake are answered, with `validators` only
//! those listed (403 for others, checked first, as fiber does); then the request must be signed for
//! this miner's `hotkey` (see [`crate::miners::verify`]: nonce, signature, miner hotkey, each refusal
//! a 401). With `hotkey` and neither policy, requests any validator signed are answered; without
//! `hotkey`, any request is (for local trials).

use std::net::TcpListener;
use std::path::PathBuf;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use clap::Args;
use serde::Deserialize;
use serde_json::json;

use super::CliError;
use crate::miners::access::{AccessPolicy, DEFAULT_MIN_STAKE, Metagraph};
use crate::miners::signing::{self, Payload};
use crate::miners::verify::{self, NonceStore};

/// `crucible miner --config FILE`: the global `--config` names the miner's own TOML file:
/// `listen = "127.0.0.1:7999"` and `[text]` / `[image]` tables with `github_repo` and `commit_hash`.
#[derive(Debug, Args)]
pub struct MinerArgs {}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MinerConfig {
    listen: String,
    /// This miner's hotkey, which signed requests must name.
    #[serde(default)]
    hotkey: Option<String>,
    /// Validators (SS58 hotkeys) whose signed requests are answered.
    #[serde(default)]
    validators: Vec<String>,
    /// The reference's policy: validators of the metagraph with enough stake.
    #[serde(default)]
    metagraph: Option<MetagraphConfig>,
    text: Option<Entry>,
    image: Option<Entry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetagraphConfig {
    /// A TOML file of `[[node]]` entries (`hotkey`, `stake`).
    file: PathBuf,
    #[serde(default = "default_min_stake")]
    min_stake: f64,
}

fn default_min_stake() -> f64 {
    DEFAULT_MIN_STAKE
}

/// Who may be answered, and the nonces already used.
struct Gate {
    me: String,
    policy: Option<AccessPolicy>,
    nonces: NonceStore,
}

impl Gate {
    /// `None` when the request may be answered, else the refusal to send.
    fn refuse(&self, request: &HttpRequest) -> Option<HttpResponse> {
        if self.me.is_empty() {
            return None;
        }
        let header = |name: &'static str| request.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let validator = header(signing::VALIDATOR_HOTKEY).unwrap_or_default();
        if let Some(Err(why)) = self.policy.as_ref().map(|p| p.admit(&validator)) {
            return Some(HttpResponse::Forbidden().json(json!({ "detail": why })));
        }
        match verify::verify(header, Payload::None, &self.me, &self.nonces, verify::now_ns()) {
            Ok(_) => None,
            Err(why) => Some(HttpResponse::Unauthorized().json(json!({ "detail": why.to_string() }))),
        }
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    github_repo: String,
    commit_hash: String,
}

async fn training_repo(
    request: HttpRequest,
    path: web::Path<String>,
    config: web::Data<MinerConfig>,
    gate: web::Data<Gate>,
) -> HttpResponse {
    if let Some(refusal) = gate.refuse(&request) {
        return refusal;
    }
    let entry = match path.as_str() {
        "text" => config.text.as_ref(),
        "image" => config.image.as_ref(),
        other => {
            return HttpResponse::NotFound().json(json!({ "error": format!("unknown tournament type {other:?}") }));
        }
    };
    match entry {
        Some(e) => HttpResponse::Ok().json(e),
        None => {
            HttpResponse::NotFound().json(json!({ "error": format!("this miner does not enter {path} tournaments") }))
        }
    }
}

pub fn run(config: Option<PathBuf>) -> Result<(), CliError> {
    use figment::Figment;
    use figment::providers::{Format, Toml};
    let path = config.ok_or_else(|| CliError::Usage("miner needs --config FILE".into()))?;
    let shown = path.display().to_string();
    if !path.is_file() {
        return Err(CliError::Usage(format!("miner config {shown} does not exist or is not a file")));
    }
    let config: MinerConfig = Figment::from(Toml::file_exact(&path))
        .extract()
        .map_err(|e| CliError::Usage(format!("miner config {shown}: {e}")))?;
    if config.text.is_none() && config.image.is_none() {
        return Err(CliError::Usage(format!("miner config {shown}: needs a [text] or an [image] table")));
    }
    let gate = gate(&config).map_err(|e| CliError::Usage(format!("miner config {shown}: {e}")))?;
    let listener = TcpListener::bind(&config.listen)
        .map_err(|e| CliError::Usage(format!("cannot listen on {}: {e}", config.listen)))?;
    let address = listener.local_addr().map_err(anyhow::Error::from)?;
    println!("miner listening on {address}");
    crate::telemetry::init(crate::config::LogFormat::Text, "info");
    match (&gate.policy, gate.me.is_empty()) {
        (Some(policy), _) => tracing::info!("answering {}, signed for {}", policy.describe(), gate.me),
        (None, false) => tracing::warn!(
            "answering requests any validator signed for {}: set `validators` or `[metagraph]` to choose which",
            gate.me
        ),
        (None, true) => tracing::warn!("answering every request, signed or not: set `hotkey` to check signatures"),
    }
    let data = web::Data::new(config);
    let gate = web::Data::new(gate);
    actix_web::rt::System::new()
        .block_on(async move {
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(data.clone())
                    .app_data(gate.clone())
                    .route("/training_repo/{task_type}", web::get().to(training_repo))
            })
            .workers(1)
            .listen(listener)?
            .run();
            server.await
        })
        .map_err(|e| CliError::Failure(anyhow::anyhow!("the miner server failed: {e}")))
}

/// The access gate the configuration asks for.
fn gate(config: &MinerConfig) -> Result<Gate, String> {
    let policy = match (&config.metagraph, config.validators.is_empty()) {
        (Some(_), false) => return Err("set `validators` or `[metagraph]`, not both".into()),
        (Some(m), true) => {
            if !m.min_stake.is_finite() || m.min_stake < 0.0 {
                return Err("metagraph.min_stake must be a non-negative number".into());
            }
            Some(AccessPolicy::Stake { metagraph: Metagraph::open(&m.file)?, min_stake: m.min_stake })
        }
        (None, false) => {
            for validator in &config.validators {
                signing::ss58_decode(validator).map_err(|e| format!("validators: {e}"))?;
            }
            Some(AccessPolicy::AllowList(config.validators.clone()))
        }
        (None, true) => None,
    };
    let me = match (&config.hotkey, &policy) {
        (Some(hotkey), _) => {
            signing::ss58_decode(hotkey).map_err(|e| format!("hotkey: {e}"))?;
            hotkey.clone()
        }
        (None, Some(_)) => return Err("`validators` and `[metagraph]` need this miner's `hotkey`".into()),
        (None, None) => String::new(),
    };
    Ok(Gate { me, policy, nonces: NonceStore::default() })
}
