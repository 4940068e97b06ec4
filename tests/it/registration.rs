//! Registration pings against real HTTP servers on loopback, well-behaved and misbehaving: every miner
//! ends with an outcome and a reason, and no answer is buffered past the cap or waited on past the timeout.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use crucible::domain::rules::RegistrationRules;
use crucible::domain::{AdmissionOutcome, Coldkey, Hotkey, TournamentId, TournamentType};
use crucible::miners::RegistrationSource;
use crucible::miners::directory::MinerEntry;
use crucible::miners::http::{HttpRegistration, MinerList};

/// A server on loopback that answers every connection with `behave`; returns its address.
fn server(behave: fn(&mut TcpStream)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        for stream in listener.incoming().take(4).flatten() {
            thread::spawn(move || {
                let mut stream = stream;
                let mut request = [0u8; 2048];
                let _ = stream.read(&mut request);
                behave(&mut stream);
            });
        }
    });
    address
}

fn reply(stream: &mut TcpStream, status: &str, content_type: &str, body: &str) {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}

const GOOD: &str =
    r#"{"github_repo": "https://github.com/miner/trainer", "commit_hash": "0123456789abcdef0123456789abcdef01234567"}"#;

fn good(s: &mut TcpStream) {
    reply(s, "200 OK", "application/json", GOOD);
}
fn hangs(_: &mut TcpStream) {
    thread::sleep(Duration::from_secs(30));
}
fn just_in_time(s: &mut TcpStream) {
    thread::sleep(Duration::from_millis(300));
    good(s);
}
fn too_late(s: &mut TcpStream) {
    thread::sleep(Duration::from_millis(1800));
    good(s);
}
fn fails(s: &mut TcpStream) {
    reply(s, "500 Internal Server Error", "text/plain", "boom");
}
fn html(s: &mut TcpStream) {
    reply(s, "200 OK", "text/html", "<html><body>hello</body></html>");
}
fn no_commit(s: &mut TcpStream) {
    reply(s, "200 OK", "application/json", r#"{"github_repo": "https://github.com/miner/trainer"}"#);
}
fn endless(s: &mut TcpStream) {
    let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n");
    let chunk = format!("{:x}\r\n{}\r\n", 4096, "7".repeat(4096));
    while s.write_all(chunk.as_bytes()).is_ok() {}
}
fn redirects(s: &mut TcpStream) {
    let _ = s.write_all(b"HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:1/elsewhere\r\ncontent-length: 0\r\n\r\n");
}
fn cut_off(s: &mut TcpStream) {
    let _ = s.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{\"github_repo\": ",
    );
}

fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

#[test]
fn every_miner_gets_an_outcome_with_a_reason() {
    let servers: Vec<(String, AdmissionOutcome, &str)> = vec![
        (server(good), AdmissionOutcome::Admitted, ""),
        (server(just_in_time), AdmissionOutcome::Admitted, ""),
        (server(hangs), AdmissionOutcome::Timeout, "within 1 s"),
        (server(too_late), AdmissionOutcome::Timeout, "within 1 s"),
        (server(fails), AdmissionOutcome::HttpStatus, "HTTP 500"),
        (server(html), AdmissionOutcome::InvalidJson, "not JSON"),
        (server(no_commit), AdmissionOutcome::MissingField, "commit_hash"),
        (server(endless), AdmissionOutcome::InvalidJson, "larger than 65536 bytes"),
        (server(redirects), AdmissionOutcome::HttpStatus, "302 (redirects are not followed)"),
        (server(cut_off), AdmissionOutcome::InvalidJson, "broke off"),
        (closed_port(), AdmissionOutcome::ConnectionRefused, "cannot connect"),
    ];
    let entries: Vec<MinerEntry> = servers
        .iter()
        .enumerate()
        .map(|(i, (address, _, _))| MinerEntry {
            hotkey: Hotkey::synthetic(i as u64),
            coldkey: Coldkey::synthetic(i as u64),
            address: address.clone(),
            stake: 1.0,
        })
        .collect();
    let rules = RegistrationRules {
        ping_timeout_secs: 1.0,
        ping_batch_size: 4,
        ..crucible::domain::rules::Rules::default().registration
    };
    let source = HttpRegistration::new(MinerList::Fixed(entries), &rules).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let id = TournamentId::new(1, 2026, 11, 25);
    let candidates = runtime.block_on(source.ping_all(&id, TournamentType::Text, chrono::Utc::now()));
    assert_eq!(candidates.len(), servers.len());
    for (candidate, (address, outcome, reason)) in candidates.iter().zip(&servers) {
        match &candidate.answer {
            Ok(submission) => {
                assert_eq!(*outcome, AdmissionOutcome::Admitted, "{address}");
                assert_eq!(submission.commit_hash, "0123456789abcdef0123456789abcdef01234567");
            }
            Err((got, why)) => {
                assert_eq!(got, outcome, "{address}: {why}");
                assert!(why.contains(reason), "{address}: {why:?} should mention {reason:?}");
            }
        }
    }
}
