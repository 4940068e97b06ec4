//! `crucible tasks tiny --out DIR`: writes a tiny content directory for CPUs, made locally with fixed
//! seeds and nothing downloaded (tiny Llama-architecture text models with their tokenizer, tiny SDXL
//! and Flux pipelines, datasets for every task type, reward functions), by the evaluator image's own
//! `crucible_eval.tiny`, then checks it as the validator would.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;

use super::CliError;
use crate::config::Settings;
use crate::content::Content;
use crate::docker::{ContainerSpec, Engine, container};

#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// Write a tiny content directory (models, datasets, reward functions) for CPU runs.
    Tiny {
        /// The directory to write; it must not exist yet or be empty.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The seed of every random choice (models, rows, images).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// The image that writes it (default: the configured evaluator).
        #[arg(long, value_name = "IMAGE")]
        image: Option<String>,
    },
}

pub fn run(command: TasksCommand, settings: &Settings) -> Result<(), CliError> {
    let TasksCommand::Tiny { out, seed, image } = command;
    if out.exists() && std::fs::read_dir(&out).map_err(anyhow::Error::from)?.next().is_some() {
        return Err(CliError::Usage(format!("--out {}: exists and is not empty", out.display())));
    }
    std::fs::create_dir_all(&out).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
    let out = out.canonicalize().map_err(anyhow::Error::from)?;
    let image = image.unwrap_or_else(|| settings.local_executor.evaluator());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(anyhow::Error::from)?;
    runtime.block_on(async {
        let engine = Engine::connect().await.map_err(anyhow::Error::from)?;
        if !engine.has_image(&image).await {
            return Err(CliError::Failure(anyhow::anyhow!(
                "the image {image} is not on this Docker engine: run `crucible images build` first"
            )));
        }
        println!("writing a tiny world (seed {seed}) to {} with {image} ...", out.display());
        let spec = ContainerSpec {
            name: format!("crucible-tiny-{}", std::process::id()),
            image,
            entrypoint: Some(vec!["python3".into(), "-m".into(), "crucible_eval.tiny".into()]),
            args: vec!["--out".into(), "/out".into(), "--seed".into(), seed.to_string()],
            binds: vec![format!("{}:/out", out.display())],
            network: None,
            ..Default::default()
        };
        container::remove(&engine, &spec.name).await;
        let end = container::run(&engine, &spec, Duration::from_secs(1800))
            .await
            .map_err(|e| anyhow::anyhow!("the tiny-world container did not run: {e}"))?;
        container::remove(&engine, &spec.name).await;
        if end.exit_code != 0 || end.timed_out {
            let why = end.last_error_line().unwrap_or("no output").to_owned();
            return Err(CliError::Failure(anyhow::anyhow!(
                "writing the tiny world failed (exit {}): {why}",
                end.exit_code
            )));
        }
        for line in end.stdout.iter().rev().take(3).rev() {
            println!("  {line}");
        }
        Ok(())
    })?;
    let content = Content::load(&out)
        .map_err(|problems| anyhow::anyhow!("the written content does not check: {}", problems.join("; ")))?;
    let catalog = &content.catalog;
    println!(
        "wrote {}: {} models, {} datasets by task type, {} reward functions",
        out.display(),
        catalog.models.len(),
        catalog.datasets.len(),
        catalog.reward_functions.len()
    );
    println!("use it with `--content {}`, or [content] dir = \"{}\"", out.display(), out.display());
    Ok(())
}
