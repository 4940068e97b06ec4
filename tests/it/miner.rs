//! `crucible miner` as a miner runs it, pinged by the validator's HTTP registration.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crucible::domain::rules::Rules;
use crucible::domain::{AdmissionOutcome, Coldkey, Hotkey, TournamentId, TournamentType};
use crucible::miners::RegistrationSource;
use crucible::miners::directory::MinerEntry;
use crucible::miners::http::{HttpRegistration, MinerList};

/// A `crucible miner` process entering text tournaments; returns it and its address.
pub fn spawn(dir: &std::path::Path, n: usize) -> (Child, String) {
    let config = dir.join(format!("miner-{n}.toml"));
    let text = format!(
        "listen = \"127.0.0.1:0\"\n[text]\ngithub_repo = \"https://github.com/miner-{n}/trainer\"\ncommit_hash = \"{n:040x}\"\n"
    );
    std::fs::write(&config, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args(["--config", config.to_str().unwrap(), "miner"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let address = line.trim().strip_prefix("miner listening on ").expect("the miner prints its address").to_owned();
    (child, address)
}

#[test]
fn the_reference_miner_answers_the_registration_ping() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address) = spawn(dir.path(), 7);

    let entry = MinerEntry { hotkey: Hotkey::synthetic(1), coldkey: Coldkey::synthetic(1), address, stake: 1.0 };
    let source = HttpRegistration::new(MinerList::Fixed(vec![entry]), &Rules::default().registration).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let id = TournamentId::new(7, 2026, 11, 25);
    let text = runtime.block_on(source.ping_all(&id, TournamentType::Text, chrono::Utc::now()));
    let submission = text[0].answer.as_ref().expect("admitted");
    assert_eq!(submission.repo_url, "https://github.com/miner-7/trainer");
    assert_eq!(submission.commit_hash, format!("{:040x}", 7));
    let image = runtime.block_on(source.ping_all(&id, TournamentType::Image, chrono::Utc::now()));
    assert_eq!(image[0].answer.as_ref().unwrap_err(), &(AdmissionOutcome::HttpStatus, "HTTP 404".to_owned()));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_miner_config_without_entries_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("miner.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args(["--config", config.to_str().unwrap(), "miner"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a [text] or an [image] table"));
}
