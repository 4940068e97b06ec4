//! Registration at scale: one HTTP ping round to 200 miners on loopback (each a small server answering
//! the reference's JSON), at most `ping_batch_size` in flight, unsigned and signed with an sr25519 key.
//! Figures go to BENCHMARKS.md.

use std::io::{Read, Write};
use std::net::TcpListener;

use criterion::{Criterion, criterion_group, criterion_main};
use crucible::domain::rules::Rules;
use crucible::domain::{Coldkey, Hotkey, TournamentId, TournamentType};
use crucible::miners::RegistrationSource;
use crucible::miners::directory::MinerEntry;
use crucible::miners::http::{HttpRegistration, MinerList};
use crucible::miners::signing::ValidatorKey;

const MINERS: u64 = 200;

/// A miner server: a thread per connection answering every request on it with a submission, keeping
/// the connection alive as miners' HTTP servers do.
fn miner() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            std::thread::spawn(move || answer(stream));
        }
    });
    address
}

fn answer(mut stream: std::net::TcpStream) {
    let body = r#"{"github_repo": "https://github.com/miner/trainer", "commit_hash": "0123456789abcdef0123456789abcdef01234567"}"#;
    let answer =
        format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len());
    let mut pending = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => pending.extend_from_slice(&buffer[..n]),
        }
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            pending.drain(..end + 4);
            if stream.write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    }
}

fn registration(c: &mut Criterion) {
    let entries: Vec<MinerEntry> = (0..MINERS)
        .map(|n| MinerEntry {
            hotkey: Hotkey::synthetic(n),
            coldkey: Coldkey::synthetic(n),
            address: miner(),
            stake: 1.0,
        })
        .collect();
    let rules = Rules::default().registration;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let id = TournamentId::new(1, 2026, 11, 26);
    let key = "e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a";
    let unsigned = HttpRegistration::new(MinerList::Fixed(entries.clone()), &rules).unwrap();
    let signed = HttpRegistration::new(MinerList::Fixed(entries), &rules)
        .unwrap()
        .signed_by(ValidatorKey::from_seed_hex(key).unwrap());
    let mut group = c.benchmark_group("registration");
    group.sample_size(20);
    for (name, source) in [("ping_200_miners", &unsigned), ("ping_200_miners_signed", &signed)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let answers = runtime.block_on(source.ping_all(&id, TournamentType::Text, chrono::Utc::now()));
                if let Some(refused) = answers.iter().find(|a| a.answer.is_err()) {
                    panic!("a miner did not answer: {:?}", refused.answer);
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, registration);
criterion_main!(benches);
