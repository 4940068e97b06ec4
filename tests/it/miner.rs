//! `crucible miner` as a miner runs it, pinged by the validator's HTTP registration.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crucible::domain::rules::Rules;
use crucible::domain::{AdmissionOutcome, Coldkey, Hotkey, TournamentId, TournamentType};
use crucible::miners::RegistrationSource;
use crucible::miners::directory::MinerEntry;
use crucible::miners::http::{HttpRegistration, MinerList, RepositoryCheck};
use crucible::miners::signing::{Payload, ValidatorKey};
use crucible::repo::GateRules;

/// A checksummed SS58 hotkey numbered `n`, as a real miner's hotkey is.
pub fn real_hotkey(n: u64) -> Hotkey {
    let mut public = [0u8; 32];
    public[..8].copy_from_slice(&n.to_le_bytes());
    crucible::miners::signing::ss58_encode(&public).parse().unwrap()
}

/// A `crucible miner` process entering text tournaments; returns it and its address.
pub fn spawn(dir: &std::path::Path, n: usize) -> (Child, String) {
    spawn_with(dir, n, &format!("https://github.com/miner-{n}/trainer"), &format!("{n:040x}"), "")
}

/// A `crucible miner` submitting `repo` at `commit`, with `extra` top-level TOML (hotkey, validators).
pub fn spawn_with(dir: &std::path::Path, n: usize, repo: &str, commit: &str, extra: &str) -> (Child, String) {
    let config = dir.join(format!("miner-{n}.toml"));
    let text =
        format!("listen = \"127.0.0.1:0\"\n{extra}\n[text]\ngithub_repo = \"{repo}\"\ncommit_hash = \"{commit}\"\n");
    std::fs::write(&config, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args(["--config", config.to_str().unwrap(), "miner"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let Some(address) = line.trim().strip_prefix("miner listening on ") else {
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        panic!("the miner did not start: {line:?} {stderr}");
    };
    let address = address.to_owned();
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

/// The development keys `//Alice` and `//Bob` as validators' hotkeys, `//Charlie` as the miner's.
const ALICE_SEED: &str = "e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a";
const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const BOB_SEED: &str = "398f0c28f98885e046333d4a41c19cee4c37368a9832c6502f6cfd182e2aef89";
const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const CHARLIE: &str = "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y";
const DAVE_SEED: &str = "868020ae0687dda7d57565093a69090211449845a7e11453612800b663307246";

/// One registration ping of the miner at `address` (hotkey Charlie), signed by `seed` when given.
fn ping_as(address: &str, seed: Option<&str>) -> Result<crucible::miners::Submission, (AdmissionOutcome, String)> {
    let entry = MinerEntry {
        hotkey: CHARLIE.parse().unwrap(),
        coldkey: Coldkey::synthetic(3),
        address: address.to_owned(),
        stake: 1.0,
    };
    let mut source = HttpRegistration::new(MinerList::Fixed(vec![entry]), &Rules::default().registration).unwrap();
    if let Some(seed) = seed {
        source = source.signed_by(ValidatorKey::from_seed_hex(seed).unwrap());
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let id = TournamentId::new(3, 2026, 11, 26);
    runtime.block_on(source.ping_all(&id, TournamentType::Text, chrono::Utc::now())).remove(0).answer
}

fn status(code: u16) -> Result<crucible::miners::Submission, (AdmissionOutcome, String)> {
    Err((AdmissionOutcome::HttpStatus, format!("HTTP {code}")))
}

#[test]
fn a_miner_listing_validators_answers_only_their_signed_requests() {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("hotkey = \"{CHARLIE}\"\nvalidators = [\"{ALICE}\"]");
    let (mut child, address) = spawn_with(dir.path(), 3, "https://example.invalid/r", "main", &extra);
    assert_eq!(ping_as(&address, Some(ALICE_SEED)).unwrap().commit_hash, "main");
    assert_eq!(ping_as(&address, None), status(403), "unsigned: no listed validator");
    assert_eq!(ping_as(&address, Some(BOB_SEED)), status(403), "a validator not listed");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The reference's policy: validators of the metagraph with at least the minimum stake, checked
/// before the signature; then nonce, signature and miner hotkey as fiber checks them.
#[test]
fn a_miner_with_the_stake_policy_answers_staked_validators_once_per_nonce() {
    let dir = tempfile::tempdir().unwrap();
    let metagraph = dir.path().join("metagraph.toml");
    let node = |hotkey: &str, stake: f64| format!("[[node]]\nhotkey = \"{hotkey}\"\nstake = {stake:?}\n");
    std::fs::write(&metagraph, node(ALICE, 1000.0) + &node(BOB, 999.0)).unwrap();
    let extra = format!("hotkey = \"{CHARLIE}\"\n[metagraph]\nfile = \"{}\"\nmin_stake = 1000", metagraph.display());
    let (mut child, address) = spawn_with(dir.path(), 4, "https://example.invalid/r", "main", &extra);
    assert_eq!(ping_as(&address, Some(ALICE_SEED)).unwrap().commit_hash, "main");
    assert_eq!(ping_as(&address, Some(BOB_SEED)), status(403), "stake below the minimum");
    assert_eq!(ping_as(&address, Some(DAVE_SEED)), status(403), "not in the metagraph");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let alice = ValidatorKey::from_seed_hex(ALICE_SEED).unwrap();
    let get = |headers: &[(&'static str, String); 4]| {
        let request = headers
            .iter()
            .fold(reqwest::Client::new().get(format!("http://{address}/training_repo/text")), |r, (k, v)| {
                r.header(*k, v)
            });
        runtime.block_on(async {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        })
    };
    let headers = alice.headers(CHARLIE, Payload::None);
    assert_eq!(get(&headers).0, 200);
    let (code, body) = get(&headers);
    assert_eq!(code, 401, "a replayed nonce: {body}");
    assert!(body.contains("nonce"), "{body}");
    let (code, body) = get(&alice.headers(ALICE, Payload::None));
    assert_eq!(code, 401, "signed for another miner: {body}");
    assert!(body.contains("not 5FLSig"), "{body}");
    let (code, body) = get(&alice.headers(CHARLIE, Payload::Body(b"")));
    assert_eq!(code, 401, "signed with the POST layout: {body}");
    assert!(body.contains("signature"), "{body}");

    // The operator raises Bob's stake: the miner reads the changed file.
    std::fs::write(&metagraph, node(ALICE, 1000.0) + &node(BOB, 1500.0) + "\n").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while ping_as(&address, Some(BOB_SEED)).is_err() {
        assert!(std::time::Instant::now() < deadline, "the changed metagraph was never read");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_miner_config_with_both_policies_or_a_bad_metagraph_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &str| {
        let config = dir.path().join("miner.toml");
        let text = format!(
            "listen = \"127.0.0.1:0\"\nhotkey = \"{CHARLIE}\"\n{extra}\n[text]\ngithub_repo = \"r\"\ncommit_hash = \"c\"\n"
        );
        std::fs::write(&config, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_crucible"))
            .args(["--config", config.to_str().unwrap(), "miner"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let both = run(&format!("validators = [\"{ALICE}\"]\n[metagraph]\nfile = \"m.toml\""));
    assert!(both.contains("not both"), "{both}");
    let missing = run("[metagraph]\nfile = \"/nonexistent/metagraph.toml\"");
    assert!(missing.contains("/nonexistent/metagraph.toml"), "{missing}");
}

/// The directory of spawned miners: the n-th (from 1) with the synthetic keys of n and stake 1.
fn directory_of(miners: &[(Child, String)]) -> Vec<MinerEntry> {
    miners
        .iter()
        .enumerate()
        .map(|(i, (_, address))| MinerEntry {
            hotkey: Hotkey::synthetic(i as u64 + 1),
            coldkey: Coldkey::synthetic(i as u64 + 1),
            address: address.clone(),
            stake: 1.0,
        })
        .collect()
}

#[test]
fn registration_runs_the_gates_on_the_submitted_commit_and_pins_branches() {
    let dir = tempfile::tempdir().unwrap();
    let (good, good_sha) = crate::docker::support::miner_repo(&dir.path().join("good"), "true\n", &[]);
    let (bad, bad_sha) = crate::docker::support::miner_repo(&dir.path().join("bad"), "true\n", &[("bin/fast.so", "x")]);
    let good_url = good.to_string_lossy().into_owned();
    let bad_url = bad.to_string_lossy().into_owned();
    let miners = [
        spawn_with(dir.path(), 1, &good_url, "main", ""),
        spawn_with(dir.path(), 2, &bad_url, &bad_sha, ""),
        spawn_with(dir.path(), 3, &good_url, &"1".repeat(40), ""),
    ];
    let entries = directory_of(&miners);
    let check = RepositoryCheck {
        gates: GateRules { allow_local: true, ..GateRules::default() },
        fetch_timeout: std::time::Duration::from_secs(30),
        scratch_dir: dir.path().join("scratch"),
    };
    let source = HttpRegistration::new(MinerList::Fixed(entries), &Rules::default().registration)
        .unwrap()
        .with_repository_check(check);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let id = TournamentId::new(4, 2026, 11, 26);
    let answers = runtime.block_on(source.ping_all(&id, TournamentType::Text, chrono::Utc::now()));
    assert_eq!(answers[0].answer.as_ref().unwrap().commit_hash, good_sha, "the branch is pinned to its SHA");
    let (outcome, reason) = answers[1].answer.clone().unwrap_err();
    assert_eq!(outcome, AdmissionOutcome::GateFailed);
    assert!(reason.contains("bin/fast.so") && reason.contains(&bad_sha[..12]), "{reason}");
    let (outcome, reason) = answers[2].answer.clone().unwrap_err();
    assert_eq!(outcome, AdmissionOutcome::GateFailed);
    assert!(reason.starts_with("fetch failed: "), "{reason}");
    assert!(std::fs::read_dir(dir.path().join("scratch")).unwrap().next().is_none(), "scratch checkouts are removed");
    for (mut child, _) in miners {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

#[test]
fn the_directory_file_is_read_again_at_every_registration() {
    use crucible::miners::directory::FileDirectory;
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(crucible::store::Store::open("sqlite::memory:").unwrap());
    store.migrate().unwrap();
    let (mut first, first_address) = spawn(dir.path(), 1);
    let (mut second, second_address) = spawn(dir.path(), 2);
    let file = dir.path().join("miners.toml");
    let entry = |n: u64, address: &str| {
        format!(
            "[[miner]]\nhotkey = \"{}\"\ncoldkey = \"{}\"\naddress = \"{address}\"\nstake = 1.0\n",
            Hotkey::synthetic(n),
            Coldkey::synthetic(n)
        )
    };
    std::fs::write(&file, entry(1, &first_address)).unwrap();
    let source = std::sync::Arc::new(FileDirectory { path: file.clone() });
    let registration =
        HttpRegistration::new(MinerList::Synced(store.clone(), source), &Rules::default().registration).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let id = TournamentId::new(9, 2026, 11, 26);
    let hotkeys = |answers: Vec<crucible::miners::Candidate>| answers.into_iter().map(|c| c.hotkey).collect::<Vec<_>>();
    let ping = || hotkeys(runtime.block_on(registration.ping_all(&id, TournamentType::Text, chrono::Utc::now())));
    assert_eq!(ping(), [Hotkey::synthetic(1)]);

    // The operator replaces the first miner by the second: the next registration sees it.
    std::fs::write(&file, entry(2, &second_address)).unwrap();
    assert_eq!(ping(), [Hotkey::synthetic(2)]);
    // A broken file loses nothing: the stored directory is used as it is.
    std::fs::write(&file, "[[miner]]\nhotkey = 3\n").unwrap();
    assert_eq!(ping(), [Hotkey::synthetic(2)]);
    for child in [&mut first, &mut second] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// One repository that never answers is refused at its own budget while the others are admitted; and
/// a validator with the default sources refuses a local path, naming the rule.
#[test]
fn a_slow_repository_is_refused_at_its_budget_and_local_paths_only_when_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let (good, good_sha) = crate::docker::support::miner_repo(&dir.path().join("good"), "true\n", &[]);
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/miner/trainer", silent.local_addr().unwrap());
    let holder = std::thread::spawn(move || silent.incoming().map_while(Result::ok).take(4).collect::<Vec<_>>());
    let good_url = good.to_string_lossy().into_owned();
    let miners = [spawn_with(dir.path(), 1, &good_url, "main", ""), spawn_with(dir.path(), 2, &silent_url, "main", "")];
    let entries = directory_of(&miners);
    let registration = |gates: GateRules| {
        let check = RepositoryCheck {
            gates,
            fetch_timeout: std::time::Duration::from_secs(2),
            scratch_dir: dir.path().join("s"),
        };
        HttpRegistration::new(MinerList::Fixed(entries.clone()), &Rules::default().registration)
            .unwrap()
            .with_repository_check(check)
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let id = TournamentId::new(5, 2026, 11, 30);
    let local = registration(GateRules { allow_local: true, ..GateRules::default() });
    let answers = runtime.block_on(local.ping_all(&id, TournamentType::Text, chrono::Utc::now()));
    assert_eq!(answers[0].answer.as_ref().unwrap().commit_hash, good_sha);
    let (outcome, reason) = answers[1].answer.clone().unwrap_err();
    assert_eq!(outcome, AdmissionOutcome::GateFailed);
    assert!(reason.ends_with("took longer than 2 s"), "{reason}");

    let strict = registration(GateRules::default());
    let answers = runtime.block_on(strict.ping_all(&id, TournamentType::Text, chrono::Utc::now()));
    let (_, reason) = answers[0].answer.clone().unwrap_err();
    assert_eq!(reason, format!("fetch failed: {good_url:?} is not an https:// URL"));
    let (_, reason) = answers[1].answer.clone().unwrap_err();
    assert!(reason.contains("is not an https:// URL"), "{reason}");
    for (mut child, _) in miners {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    drop(holder);
}
