//! `crucible miner --config FILE`: a small reference miner server. It answers the validator's
//! registration ping, `GET /training_repo/{text|image}`, with the repository and commit configured for
//! that tournament type (miner-contract.md §1), and 404 for a type it does not enter.

use std::net::TcpListener;
use std::path::PathBuf;

use actix_web::{App, HttpResponse, HttpServer, web};
use clap::Args;
use serde::Deserialize;
use serde_json::json;

use super::CliError;

/// `crucible miner --config FILE`: the global `--config` names the miner's own TOML file:
/// `listen = "127.0.0.1:7999"` and `[text]` / `[image]` tables with `github_repo` and `commit_hash`.
#[derive(Debug, Args)]
pub struct MinerArgs {}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MinerConfig {
    listen: String,
    text: Option<Entry>,
    image: Option<Entry>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    github_repo: String,
    commit_hash: String,
}

async fn training_repo(path: web::Path<String>, config: web::Data<MinerConfig>) -> HttpResponse {
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
    let listener = TcpListener::bind(&config.listen)
        .map_err(|e| CliError::Usage(format!("cannot listen on {}: {e}", config.listen)))?;
    let address = listener.local_addr().map_err(anyhow::Error::from)?;
    println!("miner listening on {address}");
    let data = web::Data::new(config);
    actix_web::rt::System::new()
        .block_on(async move {
            let server = HttpServer::new(move || {
                App::new().app_data(data.clone()).route("/training_repo/{task_type}", web::get().to(training_repo))
            })
            .workers(1)
            .listen(listener)?
            .run();
            server.await
        })
        .map_err(|e| CliError::Failure(anyhow::anyhow!("the miner server failed: {e}")))
}
