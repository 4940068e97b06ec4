//! `crucible images build`: builds the validator-owned images with no registry (see `crate::images`),
//! showing each step; `crucible images list` names the tags this binary expects and whether the engine
//! has them.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;

use super::CliError;
use crate::docker::Engine;
use crate::images::{BuildOptions, DEFAULT_MIRROR, Tags, build_all};

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Build the root filesystem, crucible-ml-base, the evaluator and the download step, each only
    /// when the engine lacks its tag (needs Debian's mmdebstrap, run as root, and python3 with pip).
    Build {
        /// Where the root filesystem tar and the downloaded wheels are kept.
        #[arg(long, value_name = "DIR", default_value = "crucible-images")]
        work_dir: PathBuf,
        /// The Debian mirror mmdebstrap installs from.
        #[arg(long, value_name = "URL", default_value = DEFAULT_MIRROR)]
        mirror: String,
        /// The longest any one step may take, in seconds.
        #[arg(long, value_name = "SECS", default_value_t = 3600)]
        step_limit: u64,
    },
    /// The image tags this binary's recipe names, and whether the engine has each.
    List,
}

pub fn run(command: ImagesCommand) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(anyhow::Error::from)?;
    runtime.block_on(async {
        let engine = Engine::connect().await.map_err(anyhow::Error::from)?;
        match command {
            ImagesCommand::Build { work_dir, mirror, step_limit } => {
                if step_limit == 0 {
                    return Err(CliError::Usage("--step-limit: must be positive".into()));
                }
                let options = BuildOptions { work_dir, mirror, step_limit: Duration::from_secs(step_limit) };
                let tags = build_all(&engine, &options, &mut |line| println!("{line}"))
                    .await
                    .map_err(|e| CliError::Failure(anyhow::anyhow!("images build failed at {e}")))?;
                println!(
                    "ready: {}, {} (also {}:latest), {}",
                    tags.evaluator,
                    tags.ml_base,
                    crate::images::ML_BASE_REPO,
                    tags.download
                );
                Ok(())
            }
            ImagesCommand::List => {
                let tags = Tags::current();
                for (role, tag) in [
                    ("root filesystem", &tags.root),
                    ("ml-base", &tags.ml_base),
                    ("evaluator", &tags.evaluator),
                    ("download", &tags.download),
                ] {
                    let present = if engine.has_image(tag).await { "present" } else { "missing" };
                    println!("{role:>15}  {tag}  {present}");
                }
                Ok(())
            }
        }
    })
}
