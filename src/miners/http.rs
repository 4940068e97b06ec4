//! Registration over HTTP (miner-contract.md §1): `GET http://<address>/training_repo/{text|image}` to
//! every miner of the directory, at most `ping_batch_size` in flight, each within `ping_timeout_secs`,
//! the body capped at `max_response_bytes` (read in chunks and abandoned past the cap, never buffered
//! whole), redirects not followed. Requests are signed with the validator's hotkey when one is
//! configured (see [`super::signing`]). A submission then passes the repository gates on the exact
//! commit it names, fetched into a scratch directory, and a branch is pinned to its SHA there.
//! Every miner's outcome comes back with a reason it can act on.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;

use super::directory::{DirectorySource, MinerEntry, sync};
use super::signing::{Payload, ValidatorKey};
use super::{Candidate, CandidatesFuture, RegistrationSource, Submission};
use crate::domain::rules::RegistrationRules;
use crate::domain::{AdmissionOutcome, TournamentId, TournamentType};
use crate::repo::{GateRules, fetch, gates};
use crate::store::Store;

/// Where the list of miners to ping comes from.
#[derive(Clone)]
pub enum MinerList {
    /// The stored miner directory, read at every registration attempt.
    Store(Arc<Store>),
    /// The stored directory, first refreshed from its source at every registration attempt; when the
    /// source cannot be read, the stored directory is used as it is.
    Synced(Arc<Store>, Arc<dyn DirectorySource + Send + Sync>),
    Fixed(Vec<MinerEntry>),
}

pub struct HttpRegistration {
    client: reqwest::Client,
    miners: MinerList,
    batch: usize,
    cap: usize,
    timeout: Duration,
    key: Option<Arc<ValidatorKey>>,
    check: Option<Arc<RepositoryCheck>>,
}

/// The repository gates at registration: fetch the submitted commit, then check it.
#[derive(Debug, Clone)]
pub struct RepositoryCheck {
    pub gates: GateRules,
    pub fetch_timeout: Duration,
    /// Scratch checkouts are made (and removed) under this directory.
    pub scratch_dir: PathBuf,
}

/// Why one ping did not produce a submission.
type Refusal = (AdmissionOutcome, String);

impl HttpRegistration {
    pub fn new(miners: MinerList, rules: &RegistrationRules) -> Result<Self, reqwest::Error> {
        let timeout = Duration::from_secs_f64(rules.ping_timeout_secs);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("crucible/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            miners,
            batch: rules.ping_batch_size.max(1),
            cap: rules.max_response_bytes,
            timeout,
            key: None,
            check: None,
        })
    }

    /// Signs every request with `key`.
    pub fn signed_by(mut self, key: ValidatorKey) -> Self {
        self.key = Some(Arc::new(key));
        self
    }

    /// Runs the repository gates on every submission.
    pub fn with_repository_check(mut self, check: RepositoryCheck) -> Self {
        self.check = Some(Arc::new(check));
        self
    }
}

impl RegistrationSource for HttpRegistration {
    fn ping_all(&self, _: &TournamentId, tournament_type: TournamentType, _: DateTime<Utc>) -> CandidatesFuture {
        let (client, miners, cap, timeout) = (self.client.clone(), self.miners.clone(), self.cap, self.timeout);
        let (key, check) = (self.key.clone(), self.check.clone());
        let permits = Arc::new(Semaphore::new(self.batch));
        Box::pin(async move {
            let entries = match miners {
                MinerList::Fixed(entries) => entries,
                MinerList::Synced(store, source) => {
                    let read = tokio::task::spawn_blocking(move || {
                        refresh(&store, source.as_ref());
                        store.list_miners()
                    })
                    .await;
                    stored_entries(read)
                }
                MinerList::Store(store) => {
                    stored_entries(tokio::task::spawn_blocking(move || store.list_miners()).await)
                }
            };
            let mut tasks = tokio::task::JoinSet::new();
            for (index, entry) in entries.iter().cloned().enumerate() {
                let (client, permits, key, check) = (client.clone(), permits.clone(), key.clone(), check.clone());
                tasks.spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    let url = format!("http://{}/training_repo/{}", entry.address, tournament_type.endpoint());
                    let headers =
                        key.map(|k| k.headers(entry.hotkey.as_str(), Payload::None).to_vec()).unwrap_or_default();
                    let mut answer = ping(&client, &url, &headers, cap, timeout).await;
                    if let (Ok(submission), Some(check)) = (&answer, check) {
                        answer = check_repository(&check, submission, tournament_type).await;
                    }
                    (index, answer)
                });
            }
            let mut answers: Vec<Option<Result<Submission, Refusal>>> = vec![None; entries.len()];
            while let Some(joined) = tasks.join_next().await {
                if let Ok((index, answer)) = joined {
                    answers[index] = Some(answer);
                }
            }
            entries
                .into_iter()
                .zip(answers)
                .map(|(e, answer)| Candidate {
                    hotkey: e.hotkey,
                    coldkey: e.coldkey,
                    stake: e.stake,
                    answer: answer
                        .unwrap_or_else(|| Err((AdmissionOutcome::ConnectionRefused, "the ping task failed".into()))),
                })
                .collect()
        })
    }
}

/// Brings the stored directory up to date with its source; a source that cannot be read leaves the
/// stored directory as it is.
fn refresh(store: &Store, source: &dyn DirectorySource) {
    match source.load() {
        Ok(entries) => match sync(store, &entries, Utc::now()) {
            Ok(s) if s.added + s.updated + s.removed > 0 => tracing::info!(
                directory = %source.describe(), added = s.added, updated = s.updated, removed = s.removed,
                "miner directory refreshed"
            ),
            Ok(_) => {}
            Err(e) => tracing::error!(directory = %source.describe(), error = %e, "cannot store the miner directory"),
        },
        Err(e) => {
            tracing::warn!(directory = %source.describe(), error = %e, "miner directory unreadable: using the stored one")
        }
    }
}

type StoredMiners = Result<Result<Vec<crate::store::Miner>, crate::store::StoreError>, tokio::task::JoinError>;

fn stored_entries(read: StoredMiners) -> Vec<MinerEntry> {
    match read {
        Ok(Ok(stored)) => stored
            .into_iter()
            .map(|m| MinerEntry { hotkey: m.hotkey, coldkey: m.coldkey, address: m.address, stake: m.stake })
            .collect(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot read the miner directory");
            Vec::new()
        }
        Err(e) => {
            tracing::error!(error = %e, "reading the miner directory panicked");
            Vec::new()
        }
    }
}

/// One ping: the submission, or why there is none.
pub async fn ping(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&'static str, String)],
    cap: usize,
    timeout: Duration,
) -> Result<Submission, Refusal> {
    let transport = |e: reqwest::Error| -> Refusal {
        if e.is_timeout() {
            (AdmissionOutcome::Timeout, format!("no complete answer within {} s", timeout.as_secs_f64()))
        } else if e.is_connect() {
            (AdmissionOutcome::ConnectionRefused, format!("cannot connect: {}", root_cause(&e)))
        } else {
            (AdmissionOutcome::InvalidJson, format!("the answer broke off: {}", root_cause(&e)))
        }
    };
    let request = headers.iter().fold(client.get(url), |r, (name, value)| r.header(*name, value));
    let mut response = request.send().await.map_err(transport)?;
    let status = response.status();
    if status.is_redirection() {
        return Err((AdmissionOutcome::HttpStatus, format!("HTTP {} (redirects are not followed)", status.as_u16())));
    }
    if status != reqwest::StatusCode::OK {
        return Err((AdmissionOutcome::HttpStatus, format!("HTTP {}", status.as_u16())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > cap {
            return Err((AdmissionOutcome::InvalidJson, format!("the body is larger than {cap} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    submission(&body)
}

/// Fetches the submitted commit into a scratch directory and runs the gates there; the submission
/// comes back pinned to the commit's SHA.
pub async fn check_repository(
    check: &RepositoryCheck,
    submission: &Submission,
    tournament_type: TournamentType,
) -> Result<Submission, Refusal> {
    let refuse = |reason: String| (AdmissionOutcome::GateFailed, reason);
    std::fs::create_dir_all(&check.scratch_dir).map_err(|e| refuse(format!("validator scratch directory: {e}")))?;
    let scratch = tempfile::Builder::new()
        .prefix("registration-")
        .tempdir_in(&check.scratch_dir)
        .map_err(|e| refuse(format!("validator scratch directory: {e}")))?;
    let checked = fetch_and_check(check, submission, tournament_type, scratch.path().join("repo")).await;
    // Removing the checkout walks its whole tree: off the event loop.
    let _ = tokio::task::spawn_blocking(move || drop(scratch)).await;
    checked
}

async fn fetch_and_check(
    check: &RepositoryCheck,
    submission: &Submission,
    tournament_type: TournamentType,
    checkout: std::path::PathBuf,
) -> Result<Submission, Refusal> {
    let refuse = |reason: String| (AdmissionOutcome::GateFailed, reason);
    let limits = fetch::FetchLimits::new(&check.gates, check.fetch_timeout);
    let sha = fetch::fetch(&submission.repo_url, &submission.commit_hash, &checkout, &limits)
        .await
        .map_err(|e| refuse(format!("fetch failed: {e}")))?;
    let rules = check.gates.clone();
    let checked = tokio::task::spawn_blocking(move || gates::check(&checkout, tournament_type, &rules)).await;
    match checked {
        Ok(Ok(())) => Ok(Submission { repo_url: submission.repo_url.clone(), commit_hash: sha }),
        Ok(Err(failure)) => Err(refuse(format!("gate failed at {}: {failure}", &sha[..12.min(sha.len())]))),
        Err(e) => Err(refuse(format!("the gates did not run: {e}"))),
    }
}

/// The `{github_repo, commit_hash}` object of an answer.
pub fn submission(body: &[u8]) -> Result<Submission, Refusal> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| (AdmissionOutcome::InvalidJson, format!("not JSON: {e}")))?;
    let object = value.as_object().ok_or((AdmissionOutcome::InvalidJson, "not a JSON object".to_owned()))?;
    let field = |name: &str| -> Result<String, Refusal> {
        match object.get(name) {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
            Some(_) => Err((AdmissionOutcome::MissingField, format!("field `{name}` is not a non-empty string"))),
            None => Err((AdmissionOutcome::MissingField, format!("missing field `{name}`"))),
        }
    };
    Ok(Submission { repo_url: field("github_repo")?, commit_hash: field("commit_hash")? })
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
