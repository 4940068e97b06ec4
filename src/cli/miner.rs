//! `crucible miner --config FILE`: a small reference miner server. It answers the validator's
//! registration ping, `GET /training_repo/{text|image}`, with the repository and commit configured for
//! that tournament type (miner-contract.md §1), and 404 for a type it does not enter. With `validators`
//! listed, it answers only requests those validators signed for its `hotkey` (see
//! [`crate::miners::signing`]), each nonce once and at most a minute old; others get 401.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Mutex;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use clap::Args;
use serde::Deserialize;
use serde_json::json;

use super::CliError;
use crate::miners::signing;

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
    /// Validators (SS58 hotkeys) whose signed requests are answered; empty: any request is.
    #[serde(default)]
    validators: Vec<String>,
    text: Option<Entry>,
    image: Option<Entry>,
}

/// How old a nonce may be.
const NONCE_MAX_AGE_SECS: u64 = 60;

/// Nonces already answered, with when they were issued (ns), kept for the nonce's lifetime.
#[derive(Default)]
struct SeenNonces(Mutex<HashMap<String, u128>>);

fn now_ns() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos()
}

/// `Ok` when the request may be answered, else why not (sent with 401).
fn authorise(request: &HttpRequest, config: &MinerConfig, seen: &SeenNonces) -> Result<(), String> {
    if config.validators.is_empty() {
        return Ok(());
    }
    let header = |name: &'static str| request.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let me = config.hotkey.as_deref().unwrap_or_default();
    let now = now_ns();
    let validator = signing::verify(header, me, b"", now, NONCE_MAX_AGE_SECS).map_err(|e| e.to_string())?;
    if !config.validators.contains(&validator) {
        return Err(format!("validator {validator} is not one this miner answers"));
    }
    let nonce = header(signing::NONCE).unwrap_or_default();
    let mut seen = seen.0.lock().unwrap_or_else(|p| p.into_inner());
    let window = u128::from(NONCE_MAX_AGE_SECS) * 2_000_000_000;
    seen.retain(|_, issued| *issued + window >= now);
    if seen.insert(nonce, now).is_some() {
        return Err("the nonce was already used".into());
    }
    Ok(())
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
    seen: web::Data<SeenNonces>,
) -> HttpResponse {
    if let Err(why) = authorise(&request, &config, &seen) {
        return HttpResponse::Unauthorized().json(json!({ "error": why }));
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
    if !config.validators.is_empty() && config.hotkey.is_none() {
        return Err(CliError::Usage(format!("miner config {shown}: `validators` needs this miner's `hotkey`")));
    }
    for validator in &config.validators {
        signing::ss58_decode(validator)
            .map_err(|e| CliError::Usage(format!("miner config {shown}: validators: {e}")))?;
    }
    let listener = TcpListener::bind(&config.listen)
        .map_err(|e| CliError::Usage(format!("cannot listen on {}: {e}", config.listen)))?;
    let address = listener.local_addr().map_err(anyhow::Error::from)?;
    println!("miner listening on {address}");
    let data = web::Data::new(config);
    let seen = web::Data::new(SeenNonces::default());
    actix_web::rt::System::new()
        .block_on(async move {
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(data.clone())
                    .app_data(seen.clone())
                    .route("/training_repo/{task_type}", web::get().to(training_repo))
            })
            .workers(1)
            .listen(listener)?
            .run();
            server.await
        })
        .map_err(|e| CliError::Failure(anyhow::anyhow!("the miner server failed: {e}")))
}
