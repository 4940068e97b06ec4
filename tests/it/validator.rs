//! `crucible validator` on the wall clock: it starts tournaments, stops cleanly on SIGTERM, and a
//! restart on the same database restores what was live.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crucible::actors::Event;

fn start(db: &std::path::Path) -> (Child, mpsc::Receiver<String>) {
    start_with(db, &[])
}

pub(crate) fn start_with(db: &std::path::Path, env: &[(&str, &str)]) -> (Child, mpsc::Receiver<String>) {
    start_with_args(db, &[], env)
}

/// [`start_with`] with global arguments such as `--config FILE`.
pub(crate) fn start_with_args(
    db: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args(args)
        .args(["validator", "--log-format", "json"])
        .env("CRUCIBLE_CONTENT__DIR", crate::content::sim_content())
        .envs(env.iter().copied())
        .env("CRUCIBLE_DATABASE__URL", format!("sqlite://{}", db.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the validator starts");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (lines, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    (child, receiver)
}

/// Waits (with a deadline) for a log line containing `needle`.
pub(crate) fn wait_for(lines: &mpsc::Receiver<String>, needle: &str) -> String {
    loop {
        match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(e) => panic!("no log line with {needle:?}: {e}"),
        }
    }
}

/// Records a received transfer with `crucible ledger credit`, as an operator does.
pub(crate) fn credit(url: &str, coldkey: &crucible::domain::Coldkey, rao: u64, reference: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args(["ledger", "credit", "--coldkey", coldkey.as_str(), "--rao", &rao.to_string(), "--reference", reference])
        .env("CRUCIBLE_DATABASE__URL", url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

pub(crate) fn terminate(child: &mut Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
}

#[test]
fn sigterm_stops_the_validator_cleanly_and_a_restart_restores_its_tournaments() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("validator.db");
    let env = [("CRUCIBLE_API__LISTEN", "127.0.0.1:0"), ("CRUCIBLE_API__TOKEN", "op-token")];
    let (mut child, lines) = start_with(&db, &env);
    let listening = wait_for(&lines, "control API listening");
    assert!(!listening.contains("op-token"), "the token never appears in logs: {listening}");
    let created = wait_for(&lines, "TournamentCreated");
    let line: serde_json::Value = serde_json::from_str(&created).expect("JSON log lines");
    assert_eq!(line["level"], "INFO");
    terminate(&mut child);
    wait_for(&lines, "\"stopped\"");
    assert!(child.wait().unwrap().success(), "a clean stop exits with 0");

    let (mut child, lines) = start(&db);
    wait_for(&lines, "restoring tournament");
    terminate(&mut child);
    assert!(child.wait().unwrap().success());
}

#[actix_rt::test]
async fn the_validator_admits_real_miners_over_http_and_starts_the_tournament() {
    use crucible::domain::{AdmissionOutcome, Coldkey};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("validator.db");
    let url = format!("sqlite://{}", db.display());
    let mut miners = Vec::new();
    let mut directory = String::new();
    // Real repositories on disk: the gates run on the submitted commit; the tenth fails them.
    let (good, _) = crate::docker::support::miner_repo(&dir.path().join("good"), "true\n", &[]);
    let (packed, _) = crate::docker::support::miner_repo(&dir.path().join("packed"), "true\n", &[("a.pyc", "x")]);
    // Requests are signed with the validator's hotkey, and the miners answer only it.
    let key_file = dir.path().join("validator.key");
    std::fs::write(&key_file, "0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a\n").unwrap();
    for n in 0..10 {
        let (hotkey, coldkey) = (crate::miner::real_hotkey(100 + n as u64), Coldkey::synthetic(100 + n as u64));
        let repo = if n == 9 { &packed } else { &good };
        let only_the_validator =
            format!("hotkey = \"{hotkey}\"\nvalidators = [\"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY\"]");
        let (child, address) =
            crate::miner::spawn_with(dir.path(), n, &repo.to_string_lossy(), "main", &only_the_validator);
        miners.push(child);
        directory += &format!(
            "[[miner]]\nhotkey = \"{hotkey}\"\ncoldkey = \"{coldkey}\"\naddress = \"{address}\"\nstake = {n}.0\n"
        );
        if n != 8 {
            // The ninth miner's coldkey never pays.
            credit(&url, &coldkey, 1_000_000_000, &format!("block-{n}"));
        }
    }
    // Two misbehaving servers: one refuses connections, one answers 500.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let failing = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let failing_address = failing.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for mut stream in failing.incoming().map_while(Result::ok) {
            let mut request = [0u8; 2048];
            let _ = std::io::Read::read(&mut stream, &mut request);
            let _ = std::io::Write::write_all(
                &mut stream,
                b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    for (n, address) in [(10u64, &closed), (11, &failing_address)] {
        let (hotkey, coldkey) = (crate::miner::real_hotkey(100 + n), Coldkey::synthetic(100 + n));
        directory += &format!(
            "[[miner]]\nhotkey = \"{hotkey}\"\ncoldkey = \"{coldkey}\"\naddress = \"{address}\"\nstake = 1.0\n"
        );
    }
    let directory_file = dir.path().join("miners.toml");
    std::fs::write(&directory_file, directory).unwrap();
    let scratch = dir.path().join("scratch");
    let mut app = crate::app::spawn_app(|settings| {
        settings.database.url = url.clone();
        settings.validator.registration = crucible::config::Backend::Http;
        settings.gates.allow_local = true;
        settings.miners.directory = directory_file.display().to_string();
        settings.validator.key_file = key_file.display().to_string();
        settings.validator.scratch_dir = scratch.display().to_string();
    })
    .await;
    let store = app.store.clone();
    let is_text = |id: &crucible::domain::TournamentId| {
        store.get_tournament(id).unwrap().tournament_type == crucible::domain::TournamentType::Text
    };
    let ended = app
        .next(|event| match event {
            Event::RegistrationEnded { id, admitted, rejected, .. } if is_text(id) => Some((*admitted, *rejected)),
            _ => None,
        })
        .await;
    assert_eq!(ended, (8, 4), "admitted and rejected");
    app.next(|event| matches!(event, Event::RoundStarted { id, .. } if is_text(id)).then_some(())).await;
    for mut m in miners {
        m.kill().unwrap();
        m.wait().unwrap();
    }

    let text = store.list_tournaments(Some("text")).unwrap();
    let participants = store.list_participants(&text[0].id).unwrap();
    let broke = participants.iter().find(|p| p.hotkey == crate::miner::real_hotkey(108)).unwrap();
    assert_eq!(broke.admission, AdmissionOutcome::BalanceTooLow, "{}", broke.admission_reason);
    let packed = participants.iter().find(|p| p.hotkey == crate::miner::real_hotkey(109)).unwrap();
    assert_eq!(packed.admission, AdmissionOutcome::GateFailed);
    assert!(packed.admission_reason.contains("a.pyc"), "{}", packed.admission_reason);
    let refused = participants.iter().find(|p| p.hotkey == crate::miner::real_hotkey(110)).unwrap();
    assert_eq!(refused.admission, AdmissionOutcome::ConnectionRefused, "{}", refused.admission_reason);
    let failing = participants.iter().find(|p| p.hotkey == crate::miner::real_hotkey(111)).unwrap();
    assert_eq!((failing.admission, failing.admission_reason.as_str()), (AdmissionOutcome::HttpStatus, "HTTP 500"));
    let paid = participants.iter().filter(|p| p.admission == AdmissionOutcome::Admitted && !p.is_house).count();
    assert_eq!(paid, 8);
    assert_eq!(store.balance(&Coldkey::synthetic(100)).unwrap(), 1_000_000_000 - 200_000_000, "charged once");
}

#[test]
fn one_entry_per_coldkey_and_fees_charged_once_across_a_killed_validator() {
    use crucible::domain::{AdmissionOutcome, Coldkey, Hotkey, LedgerKind};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("validator.db");
    let url = format!("sqlite://{}", db.display());
    let (good, _) = crate::docker::support::miner_repo(&dir.path().join("good"), "true\n", &[]);
    let mut miners = Vec::new();
    let mut directory = String::new();
    for n in 0..10u64 {
        // The tenth miner shares the first one's coldkey, with less stake.
        let coldkey = Coldkey::synthetic(200 + if n == 9 { 0 } else { n });
        let hotkey = Hotkey::synthetic(200 + n);
        let (child, address) = crate::miner::spawn_with(dir.path(), n as usize, &good.to_string_lossy(), "main", "");
        miners.push(child);
        let stake = if n == 9 { 0.5 } else { 10.0 };
        directory += &format!(
            "[[miner]]\nhotkey = \"{hotkey}\"\ncoldkey = \"{coldkey}\"\naddress = \"{address}\"\nstake = {stake}\n"
        );
        if n != 9 {
            credit(&url, &coldkey, 1_000_000_000, &format!("block-{n}"));
        }
    }
    let directory_file = dir.path().join("miners.toml");
    std::fs::write(&directory_file, directory).unwrap();
    let scratch = dir.path().join("scratch");
    let env = [
        ("CRUCIBLE_VALIDATOR__REGISTRATION", "http"),
        ("CRUCIBLE_GATES__ALLOW_LOCAL", "true"),
        ("CRUCIBLE_MINERS__DIRECTORY", directory_file.to_str().unwrap()),
        ("CRUCIBLE_VALIDATOR__SCRATCH_DIR", scratch.to_str().unwrap()),
        ("CRUCIBLE_RULES__REGISTRATION__ONE_ENTRY_PER_COLDKEY", "true"),
    ];
    let (mut validator, lines) = start_with(&db, &env);
    wait_for(&lines, "admitted: 9, rejected: 1");
    validator.kill().unwrap();
    validator.wait().unwrap();
    let (mut validator, lines) = start_with(&db, &env);
    wait_for(&lines, "restoring tournament");
    terminate(&mut validator);
    assert!(validator.wait().unwrap().success());
    for mut m in miners {
        m.kill().unwrap();
        m.wait().unwrap();
    }

    let store = crucible::store::Store::open(&url).unwrap();
    let text = store.list_tournaments(Some("text")).unwrap();
    let participants = store.list_participants(&text[0].id).unwrap();
    let second = participants.iter().find(|p| p.hotkey == Hotkey::synthetic(209)).unwrap();
    assert_eq!(second.admission, AdmissionOutcome::DuplicateColdkey, "{}", second.admission_reason);
    for n in 0..9 {
        let events = store.ledger_events(&Coldkey::synthetic(200 + n)).unwrap();
        let fees: Vec<_> = events.iter().filter(|e| e.event.kind == LedgerKind::ParticipationFee).collect();
        assert_eq!(fees.len(), 1, "coldkey {n}: {events:?}");
    }
    assert_eq!(store.balance(&Coldkey::synthetic(200)).unwrap(), 1_000_000_000 - 200_000_000);
}

#[actix_rt::test]
async fn the_validator_serves_the_control_api_where_operators_record_credits() {
    let app = crate::app::spawn_app(|settings| settings.api.token = crucible::http::Secret::new("op-token")).await;
    let coldkey = crucible::domain::Coldkey::synthetic(77);
    let response = reqwest::Client::new()
        .post(format!("{}/v1/ledger/credits", app.url))
        .header("authorization", "Bearer op-token")
        .json(&serde_json::json!({ "coldkey": coldkey.as_str(), "rao": 5000, "reference": "block-1/ext-1" }))
        .send()
        .await
        .unwrap();
    let (status, body) = (response.status().as_u16(), response.text().await.unwrap());
    assert_eq!(status, 201, "{body}");
    assert_eq!(app.store.balance(&coldkey).unwrap(), 5000);
}
