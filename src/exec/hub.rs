//! Trained models on a model hub, in the Hugging Face hub's HTTP layout: where the reference's trainer
//! nodes put their outputs (`{organisation}/{expected_repo_name}`, branch `main`) and where the
//! validator fetches them to evaluate them itself.
//!
//! The layout read (the one `huggingface_hub` speaks, so any server of it works, a local mirror too):
//!
//! * `GET {endpoint}/api/models/{repo}/revision/{revision}` → `{"sha": "<commit>", "siblings":
//!   [{"rfilename": "path"}, ...]}`;
//! * `GET {endpoint}/{repo}/resolve/{commit}/{path}` → the file (redirects followed, as the hub sends
//!   large files elsewhere);
//! * errors: 401/404 with `X-Error-Code: RepoNotFound` (or `RevisionNotFound`, `EntryNotFound`, `GatedRepo`).
//!
//! Every file is written below the destination (no absolute path, no `..`), pickled and other unsafe
//! formats are never fetched (`.pkl`, `.pt`, `.pth`, `.bin`, `.ckpt`, ... in any case: the evaluator
//! loads safetensors only), requests the hub answers with 5xx or not at all are tried three times, and
//! the whole download is capped. A redirect to another host does not carry the token.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::http::Secret;

/// `[hub]`: where the validator fetches the outputs of trainer nodes that upload instead of scoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubSettings {
    /// Base URL of the hub (the reference's: `https://huggingface.co`).
    pub endpoint: String,
    /// The organisation the nodes upload to (the reference's: `gradients-io-tournaments`).
    pub organisation: String,
    /// Sent as `Authorization: Bearer <token>` when set.
    #[serde(default)]
    pub token: Secret,
    /// Largest download of one model, in bytes.
    pub max_download_bytes: u64,
    /// Time limit of one request, in seconds (a file's whole transfer included).
    pub request_timeout_secs: f64,
}

impl Default for HubSettings {
    fn default() -> Self {
        Self {
            endpoint: "https://huggingface.co".into(),
            organisation: "gradients-io-tournaments".into(),
            token: Secret::default(),
            max_download_bytes: 200 << 30,
            request_timeout_secs: 1800.0,
        }
    }
}

impl HubSettings {
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match url::Url::parse(&self.endpoint) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => problems.push(format!("hub.endpoint: {:?} is not an http(s) URL", self.endpoint)),
        }
        if self.organisation.is_empty() || self.organisation.contains('/') {
            problems.push(format!("hub.organisation: {:?} must be one name without '/'", self.organisation));
        }
        if self.max_download_bytes == 0 {
            problems.push("hub.max_download_bytes: must be positive".into());
        }
        if !(self.request_timeout_secs.is_finite() && self.request_timeout_secs > 0.0) {
            problems.push("hub.request_timeout_secs: must be a positive number of seconds".into());
        }
        problems
    }
}

#[derive(Debug, Deserialize)]
struct RepoInfo {
    sha: String,
    #[serde(default)]
    siblings: Vec<Sibling>,
}

#[derive(Debug, Deserialize)]
struct Sibling {
    rfilename: String,
}

/// What a download brought.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    /// The commit the files are from.
    pub commit: String,
    pub files: usize,
    pub bytes: u64,
}

/// Formats never downloaded: pickles (which run code when loaded) and other unsafe weights; the
/// evaluator loads safetensors only.
const SKIPPED: [&str; 13] =
    [".pkl", ".pickle", ".pth", ".pt", ".bin", ".ckpt", ".joblib", ".npy", ".npz", ".h5", ".ot", ".msgpack", ".onnx"];

/// Whether `file` is of a format never downloaded.
fn skipped(file: &str) -> bool {
    let lower = file.to_ascii_lowercase();
    SKIPPED.iter().any(|suffix| lower.ends_with(suffix))
}

/// Largest model info read (the file list).
const MAX_INFO_BYTES: usize = 8 << 20;

/// Tries of one request when the hub answers 5xx or not at all.
const TRIES: u32 = 3;

/// A client of one hub.
#[derive(Clone)]
pub struct Hub {
    http: reqwest::Client,
    settings: HubSettings,
}

impl Hub {
    pub fn new(settings: HubSettings) -> Result<Self, reqwest::Error> {
        let timeout = Duration::from_secs_f64(settings.request_timeout_secs);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(30).min(timeout))
            .user_agent(concat!("crucible/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, settings })
    }

    /// `{organisation}/{name}`.
    pub fn repo_id(&self, name: &str) -> String {
        format!("{}/{name}", self.settings.organisation)
    }

    /// Downloads every file of `{organisation}/{name}` at `main` into `dest`; files under `prefix/`
    /// (the reference's image outputs are under `checkpoints/`) land at the top of `dest`.
    pub async fn download(&self, name: &str, dest: &Path, prefix: Option<&str>) -> Result<Fetched, String> {
        let repo = self.repo_id(name);
        let endpoint = self.settings.endpoint.trim_end_matches('/');
        let info_url = format!("{endpoint}/api/models/{repo}/revision/main");
        let response = self.get(&info_url).await.map_err(|e| format!("{repo}: {e}"))?;
        let mut response = checked(response, &repo).await?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("{repo}: the model info broke off: {e}"))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_INFO_BYTES {
                return Err(format!("{repo}: the hub's model info is larger than {MAX_INFO_BYTES} bytes"));
            }
        }
        let info: RepoInfo =
            serde_json::from_slice(&body).map_err(|e| format!("{repo}: the hub's model info is unreadable: {e}"))?;
        if info.sha.len() != 40 || !info.sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{repo}: the hub's model info names no commit (sha {:?})", info.sha));
        }
        let wanted: Vec<&str> = info.siblings.iter().map(|s| s.rfilename.as_str()).filter(|f| !skipped(f)).collect();
        if wanted.is_empty() {
            return Err(format!("{repo}: the repository holds no model files at {}", info.sha));
        }
        let mut bytes = 0u64;
        for file in &wanted {
            let local = prefix.and_then(|p| file.strip_prefix(&format!("{p}/"))).unwrap_or(file);
            let target = below(dest, local).ok_or_else(|| format!("{repo}: refusing the file path {file:?}"))?;
            let mut url = url::Url::parse(&format!("{endpoint}/{repo}/resolve/{}/", info.sha))
                .map_err(|e| format!("{repo}: bad hub URL: {e}"))?;
            url.path_segments_mut()
                .map_err(|()| format!("{repo}: bad hub URL"))?
                .pop_if_empty()
                .extend(file.split('/'));
            let url = url.to_string();
            let response = self.get(&url).await.map_err(|e| format!("{repo}/{file}: {e}"))?;
            let mut response = checked(response, &format!("{repo}/{file}")).await?;
            if let Some(parent) = target.parent() {
                tokio::fs::create_dir_all(parent).await.map_err(|e| format!("{}: {e}", parent.display()))?;
            }
            let mut out = tokio::fs::File::create(&target).await.map_err(|e| format!("{}: {e}", target.display()))?;
            while let Some(chunk) =
                response.chunk().await.map_err(|e| format!("{repo}/{file}: the download broke off: {e}"))?
            {
                bytes += chunk.len() as u64;
                if bytes > self.settings.max_download_bytes {
                    return Err(format!(
                        "{repo}: larger than hub.max_download_bytes ({})",
                        self.settings.max_download_bytes
                    ));
                }
                out.write_all(&chunk).await.map_err(|e| format!("{}: {e}", target.display()))?;
            }
            out.flush().await.map_err(|e| format!("{}: {e}", target.display()))?;
        }
        Ok(Fetched { commit: info.sha, files: wanted.len(), bytes })
    }

    /// One GET, tried again (after 1 s, then 2 s) while the hub answers 5xx or not at all.
    async fn get(&self, url: &str) -> Result<reqwest::Response, String> {
        let mut last = String::new();
        for attempt in 0..TRIES {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
            }
            let mut request = self.http.get(url);
            if !self.settings.token.is_empty() {
                request = request.bearer_auth(self.settings.token.expose());
            }
            match request.send().await {
                Ok(response) if response.status().is_server_error() => {
                    last = format!("the hub answered HTTP {}", response.status().as_u16());
                }
                Ok(response) => return Ok(response),
                Err(e) => last = format!("the hub: {}", crate::http::transport_error(&e)),
            }
        }
        Err(format!("{last} ({TRIES} tries)"))
    }
}

/// A success, or the hub's error in words a miner or operator can act on.
async fn checked(mut response: reqwest::Response, what: &str) -> Result<reqwest::Response, String> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let code = response.headers().get("x-error-code").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let message = match response.chunk().await {
        Ok(Some(first)) => String::from_utf8_lossy(&first[..first.len().min(200)]).into_owned(),
        _ => String::new(),
    };
    Err(match code.as_str() {
        "RepoNotFound" => format!("{what}: no such model repository on the hub (or it is private)"),
        "RevisionNotFound" => format!("{what}: the repository has no branch main"),
        "EntryNotFound" => format!("{what}: no such file in the repository"),
        "GatedRepo" => format!("{what}: the repository is gated"),
        _ if status.as_u16() == 401 || status.as_u16() == 403 => {
            format!("{what}: the hub refused access (HTTP {status}); check hub.token")
        }
        _ => format!("{what}: the hub answered HTTP {}: {}", status.as_u16(), message.trim()),
    })
}

/// `dest/relative` when `relative` stays below `dest`.
fn below(dest: &Path, relative: &str) -> Option<PathBuf> {
    let path = Path::new(relative);
    let plain = path.components().all(|c| matches!(c, Component::Normal(_)));
    (plain && !relative.is_empty()).then(|| dest.join(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_stay_below_the_destination() {
        let dest = Path::new("/d");
        assert_eq!(below(dest, "a/b.safetensors"), Some(PathBuf::from("/d/a/b.safetensors")));
        for bad in ["../x", "/etc/passwd", "a/../../x", ""] {
            assert_eq!(below(dest, bad), None, "{bad}");
        }
    }

    #[test]
    fn unsafe_formats_are_skipped_in_any_case() {
        for file in ["training_args.bin", "optimizer.PT", "x.pkl", "model.ckpt", "a/b.Pickle"] {
            assert!(skipped(file), "{file}");
        }
        for file in ["adapter_model.safetensors", "config.json", "tokenizer.model", "README.md"] {
            assert!(!skipped(file), "{file}");
        }
    }

    #[test]
    fn settings_name_their_problems() {
        assert!(HubSettings::default().validate().is_empty());
        let bad = HubSettings {
            endpoint: "ftp://x".into(),
            organisation: "a/b".into(),
            max_download_bytes: 0,
            request_timeout_secs: 0.0,
            ..Default::default()
        };
        let problems = bad.validate().join("\n");
        for key in ["hub.endpoint", "hub.organisation", "hub.max_download_bytes", "hub.request_timeout_secs"] {
            assert!(problems.contains(key), "{problems}");
        }
    }
}
