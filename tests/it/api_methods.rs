//! Methods over loopback: a path asked with a method it does not take answers 405 with `Allow` and a
//! JSON body naming the methods; every GET also answers HEAD (headers, no body), without the token
//! when reads are public; an unknown path stays a JSON 404.

use super::api::{TOKEN, serve};

fn send(method: &str, url: &str, token: Option<&str>) -> (u16, reqwest::header::HeaderMap, String) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = reqwest::Client::new().request(method, url);
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        (status, headers, response.text().await.unwrap())
    })
}

#[test]
fn a_wrong_method_is_405_with_allow_and_get_paths_answer_head() {
    let (url, _store, _dir) = serve(true);
    let wrong = [
        ("DELETE", "/healthz", "GET, HEAD"),
        ("POST", "/v1/tournaments/history", "GET, HEAD"),
        ("GET", "/v1/ledger/credits", "POST"),
        ("PATCH", "/v1/miners/5C4hrfjw9DjXZTzV3MwzrrAr9P1MJhSrvWGWqi1eSuyUpnhM", "PUT, DELETE"),
        ("PUT", "/nodes", "GET, HEAD"),
    ];
    for (method, path, allow) in wrong {
        let (status, headers, body) = send(method, &format!("{url}{path}"), Some(TOKEN));
        assert_eq!(status, 405, "{method} {path}: {body}");
        assert_eq!(headers.get("allow").and_then(|v| v.to_str().ok()), Some(allow), "{method} {path}");
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(method) && error.contains(allow), "{method} {path}: {error}");
    }

    for path in ["/healthz", "/readyz", "/v1/tournaments/history", "/metrics", "/", "/nodes"] {
        let (get, get_headers, get_body) = send("GET", &format!("{url}{path}"), None);
        let (head, head_headers, head_body) = send("HEAD", &format!("{url}{path}"), None);
        assert_eq!((get, head), (200, 200), "{path}: {get_body}");
        assert!(head_body.is_empty(), "HEAD {path} sent a body: {head_body}");
        assert!(!get_body.is_empty(), "GET {path}");
        assert_eq!(get_headers.get("content-type"), head_headers.get("content-type"), "{path}");
    }

    // reqwest follows the redirect: the UI's page comes back.
    let (status, _, body) = send("GET", &format!("{url}/swagger-ui"), None);
    assert_eq!(status, 200);
    assert!(body.contains("swagger"), "{body}");

    let (status, _, body) = send("GET", &format!("{url}/no/such/path"), None);
    assert_eq!(status, 404, "{body}");
    assert!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["error"].is_string());
}

#[test]
fn head_needs_the_token_exactly_where_get_does() {
    let (url, _store, _dir) = serve(false);
    for path in ["/v1/tournaments/history", "/"] {
        assert_eq!(send("HEAD", &format!("{url}{path}"), None).0, 401, "{path}");
        assert_eq!(send("HEAD", &format!("{url}{path}"), Some(TOKEN)).0, 200, "{path}");
    }
    // Health checks are open whatever the reads.
    assert_eq!(send("HEAD", &format!("{url}/healthz"), None).0, 200);
}
