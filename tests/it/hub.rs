//! The hub client (`crucible::exec::hub`) against a local stand-in serving the Hugging Face hub's
//! routes over HTTP: model info, resolve, redirects to another host, `X-Error-Code` errors, 5xx. The
//! hub itself is not reachable from CI.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use crucible::exec::hub::{Hub, HubSettings};
use crucible::http::Secret;

pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// Files of each repository (`org/name` → (path, content)).
pub type Repos = HashMap<String, Vec<(&'static str, &'static str)>>;

/// A request the stand-in saw: its path and `Authorization` header.
pub type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A stand-in hub serving `repos`. A file named `loss` is sent through a redirect to `cdn` (another
/// stand-in), or to this one when `None`, as the hub sends large files elsewhere. The first
/// `failures` requests are answered 503.
pub fn stand_in_hub(repos: Repos, cdn: Option<String>, failures: usize) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for (n, mut stream) in listener.incoming().map_while(Result::ok).enumerate() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut authorization = None;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':')
                    && name.eq_ignore_ascii_case("authorization")
                {
                    authorization = Some(value.trim().to_owned());
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            log.lock().unwrap().push((path.clone(), authorization));
            let (status, headers, body) = if n < failures {
                ("503 Busy", String::new(), String::new())
            } else {
                route(&repos, &path, cdn.as_deref())
            };
            let head =
                format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n", body.len());
            let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes()));
        }
    });
    (url, seen)
}

fn route(repos: &Repos, path: &str, cdn: Option<&str>) -> (&'static str, String, String) {
    let not_found = || {
        let headers = "x-error-code: RepoNotFound\r\ncontent-type: application/json\r\n".to_owned();
        ("401 Unauthorized", headers, r#"{"error":"Repository not found"}"#.to_owned())
    };
    if let Some(rest) = path.strip_prefix("/cdn/") {
        let (repo, file) = rest.rsplit_once("/-/").unwrap();
        let body = repos[repo].iter().find(|(name, _)| *name == file).unwrap().1;
        return ("200 OK", String::new(), body.to_owned());
    }
    if let Some(rest) = path.strip_prefix("/api/models/") {
        let Some(repo) = rest.strip_suffix("/revision/main") else { return not_found() };
        let Some(files) = repos.get(repo) else { return not_found() };
        let siblings: Vec<_> = files.iter().map(|(name, _)| serde_json::json!({ "rfilename": name })).collect();
        let info = serde_json::json!({ "id": repo, "sha": COMMIT, "siblings": siblings });
        return ("200 OK", "content-type: application/json\r\n".into(), info.to_string());
    }
    let path = decode(path);
    let Some((repo, file)) = path.trim_start_matches('/').split_once(&format!("/resolve/{COMMIT}/")) else {
        return not_found();
    };
    let Some(files) = repos.get(repo) else { return not_found() };
    match files.iter().find(|(name, _)| *name == file) {
        Some(_) if file == "loss" => {
            ("302 Found", format!("location: {}/cdn/{repo}/-/{file}\r\n", cdn.unwrap_or_default()), String::new())
        }
        Some((_, body)) => ("200 OK", format!("x-repo-commit: {COMMIT}\r\n"), (*body).to_owned()),
        None => ("404 Not Found", "x-error-code: EntryNotFound\r\n".into(), String::new()),
    }
}

/// `%XX` escapes decoded.
fn decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], path.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hub(endpoint: &str, token: &str, max_download_bytes: u64) -> Hub {
    let settings = HubSettings {
        endpoint: endpoint.into(),
        token: Secret::new(token),
        max_download_bytes,
        request_timeout_secs: 10.0,
        ..HubSettings::default()
    };
    Hub::new(settings).unwrap()
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

fn repos(name: &str, files: Vec<(&'static str, &'static str)>) -> Repos {
    HashMap::from([(format!("gradients-io-tournaments/{name}"), files)])
}

#[test]
fn a_repository_is_fetched_with_the_token_which_never_follows_a_redirect_elsewhere() {
    let files = vec![
        ("config.json", "{}"),
        ("checkpoints/last.safetensors", "weights"),
        ("odd name#1.json", "odd"),
        ("optimizer.PT", "pickle"),
        ("loss", "0.5"),
    ];
    let (cdn, cdn_seen) = stand_in_hub(repos("m", files.clone()), None, 0);
    let (url, seen) = stand_in_hub(repos("m", files), Some(cdn), 0);
    let dir = tempfile::tempdir().unwrap();
    let fetched = block_on(hub(&url, "hub-token", 1 << 20).download("m", dir.path(), Some("checkpoints"))).unwrap();
    assert_eq!((fetched.commit.as_str(), fetched.files), (COMMIT, 4));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("last.safetensors")).unwrap(),
        "weights",
        "the prefix is dropped"
    );
    assert_eq!(std::fs::read_to_string(dir.path().join("odd name#1.json")).unwrap(), "odd");
    assert_eq!(std::fs::read_to_string(dir.path().join("loss")).unwrap(), "0.5");
    assert!(!dir.path().join("optimizer.PT").exists(), "pickles are never fetched");
    let seen = seen.lock().unwrap().clone();
    assert!(seen.iter().all(|(_, auth)| auth.as_deref() == Some("Bearer hub-token")), "{seen:?}");
    assert!(seen.iter().any(|(path, _)| path.contains("odd%20name%231.json")), "{seen:?}");
    let cdn_seen = cdn_seen.lock().unwrap().clone();
    assert_eq!(cdn_seen.len(), 1);
    assert_eq!(cdn_seen[0].1, None, "the token is not sent to another host");
}

#[test]
fn bad_repositories_and_hubs_fail_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _) = stand_in_hub(repos("m", vec![("../escape.json", "x"), ("big.safetensors", "0123456789")]), None, 0);
    let error = block_on(hub(&url, "", 1 << 20).download("m", dir.path(), None)).unwrap_err();
    assert!(error.contains("refusing the file path \"../escape.json\""), "{error}");
    assert!(!dir.path().parent().unwrap().join("escape.json").exists());

    let (url, _) = stand_in_hub(repos("m", vec![("big.safetensors", "0123456789")]), None, 0);
    let error = block_on(hub(&url, "", 5).download("m", dir.path(), None)).unwrap_err();
    assert!(error.contains("max_download_bytes"), "{error}");
    let error = block_on(hub(&url, "", 1 << 20).download("absent", dir.path(), None)).unwrap_err();
    assert!(error.contains("gradients-io-tournaments/absent") && error.contains("no such model repository"), "{error}");

    // Two 503s are tried again; three are the reason.
    let (url, _) = stand_in_hub(repos("m", vec![("a.safetensors", "w")]), None, 2);
    assert!(block_on(hub(&url, "", 1 << 20).download("m", dir.path(), None)).is_ok());
    let (url, _) = stand_in_hub(repos("m", vec![("a.safetensors", "w")]), None, 3);
    let error = block_on(hub(&url, "", 1 << 20).download("m", dir.path(), None)).unwrap_err();
    assert!(error.contains("HTTP 503") && error.contains("3 tries"), "{error}");

    // https is spoken (this client has TLS): a closed port fails to connect, not for its scheme.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let error = block_on(hub(&format!("https://{closed}"), "", 1).download("m", dir.path(), None)).unwrap_err();
    assert!(error.contains("the hub: cannot connect") && !error.contains("scheme"), "{error}");
}
