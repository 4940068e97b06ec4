//! `crucible doctor`: checks a configuration end to end before a validator runs on it, the way the
//! validator would use it: the database reachable and migrated, the task content able to serve the
//! rules, the Docker engine and the validator-owned images, the GPUs, the trainer nodes answering, the
//! miner directory and the signing key, the control API's address, and the working directories. Each
//! check prints one line, and a failed one what to do about it. Exit code 0 when nothing failed (warnings
//! allowed), 1 otherwise; `--json` prints the same as one JSON document.

mod checks;

use clap::Args;
use serde::Serialize;

use super::CliError;
use crate::config::Settings;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the checks as one JSON document instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// How a check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// As the validator needs it.
    Ok,
    /// Works, but probably not as intended.
    Warn,
    /// The validator would refuse to start, or would fail at its first use of it.
    Fail,
    /// Not used by this configuration.
    Skip,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "skip",
        }
    }
}

/// One check's result: what it found and, unless it is fine, what to do.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub verdict: Verdict,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn ok(check: &'static str, detail: impl Into<String>) -> Self {
        Self { check, verdict: Verdict::Ok, detail: detail.into(), fix: None }
    }
    fn skip(check: &'static str, detail: impl Into<String>) -> Self {
        Self { check, verdict: Verdict::Skip, detail: detail.into(), fix: None }
    }
    fn warn(check: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { check, verdict: Verdict::Warn, detail: detail.into(), fix: Some(fix.into()) }
    }
    fn fail(check: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { check, verdict: Verdict::Fail, detail: detail.into(), fix: Some(fix.into()) }
    }
}

#[derive(Serialize)]
struct Report<'a> {
    config: String,
    ok: bool,
    failed: usize,
    warnings: usize,
    checks: &'a [Check],
}

pub fn run(args: DoctorArgs, config: Option<&std::path::Path>, settings: &Settings) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(anyhow::Error::from)?;
    let checks = runtime.block_on(checks::all(settings));
    let count = |v: Verdict| checks.iter().filter(|c| c.verdict == v).count();
    let (failed, warnings) = (count(Verdict::Fail), count(Verdict::Warn));
    let config = config.map_or_else(|| "config/default.toml (no --config)".to_owned(), |p| p.display().to_string());
    if args.json {
        let report = Report { config, ok: failed == 0, failed, warnings, checks: &checks };
        println!("{}", serde_json::to_string_pretty(&report).map_err(anyhow::Error::from)?);
    } else {
        println!("crucible doctor: {config}");
        for check in &checks {
            println!("  {:<4}  {:<10} {}", check.verdict.label(), check.check, check.detail);
            if let Some(fix) = &check.fix {
                println!("  {:<4}  {:<10} fix: {fix}", "", "");
            }
        }
        match failed {
            0 => println!("ready: no check failed ({warnings} warning(s))"),
            n => println!("{n} check(s) failed: fix them and run `crucible doctor` again"),
        }
    }
    if failed > 0 {
        return Err(CliError::Failure(anyhow::anyhow!("{failed} check(s) failed")));
    }
    Ok(())
}
