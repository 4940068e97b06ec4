//! Following a container through an engine that misbehaves: a fake Engine API on a real local socket
//! whose wait stream breaks (as when dockerd restarts) and whose inspection answers as scripted.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// The answers of the fake engine's `GET /containers/c1/json`, in order; the last one repeats.
type States = Arc<Mutex<VecDeque<(u16, String)>>>;

fn state(status: &str, exit_code: i64) -> (u16, String) {
    (200, format!(r#"{{"Id":"c1","State":{{"Status":"{status}","ExitCode":{exit_code},"OOMKilled":false}}}}"#))
}

async fn fake_engine(states: Vec<(u16, String)>) -> Engine {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let states: States = Arc::new(Mutex::new(states.into()));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream, states.clone()));
        }
    });
    let docker =
        bollard::Docker::connect_with_http(&format!("http://{address}"), 30, bollard::API_DEFAULT_VERSION).unwrap();
    Engine::with_docker(docker, "fake").await.unwrap()
}

async fn answer(stream: TcpStream, states: States) {
    let mut reader = BufReader::new(stream);
    let (mut head, mut length) = (String::new(), 0usize);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        if line.trim().is_empty() {
            break;
        }
        head.push_str(&line);
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body).await;
    let request = head.lines().next().unwrap_or_default().to_owned();
    let path = request.split(' ').nth(1).unwrap_or_default();
    let path = path.split('?').next().unwrap_or_default();
    let path = path.trim_start_matches('/');
    // Without its API version prefix (`v1.41/`), if it has one.
    let path = match path.split_once('/') {
        Some((version, rest)) if version.starts_with('v') && version[1..].starts_with(|c: char| c.is_ascii_digit()) => {
            rest
        }
        _ => path,
    };
    let (status, body) = match path {
        "_ping" => (200, "OK".to_owned()),
        "version" => (200, r#"{"ApiVersion":"1.41","Version":"20.10.24"}"#.to_owned()),
        "info" => (200, r#"{"NCPU":2}"#.to_owned()),
        // The wait stream breaks: the connection closes without an answer.
        "containers/c1/wait" => return,
        "containers/c1/json" => {
            let mut states = states.lock().unwrap();
            if states.len() > 1 { states.pop_front().unwrap() } else { states.front().cloned().unwrap() }
        }
        "containers/c1/logs" | "containers/c1/stop" => (200, String::new()),
        _ => (404, r#"{"message":"not here"}"#.to_owned()),
    };
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\napi-version: 1.41\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = reader.get_mut().write_all(response.as_bytes()).await;
}

#[tokio::test]
async fn a_broken_wait_stream_is_waited_again_until_the_container_says_how_it_ended() {
    let engine = fake_engine(vec![state("running", 0), state("running", 0), state("exited", 3)]).await;
    let end = follow(&engine, "c1", Duration::from_secs(60)).await;
    assert_eq!((end.exit_code, end.timed_out, end.lost), (3, false, None));
}

#[tokio::test]
async fn an_engine_that_cannot_say_makes_the_run_lost_not_exit_0() {
    let broken = (500, r#"{"message":"engine restarting"}"#.to_owned());
    let engine = fake_engine(vec![state("running", 0), broken]).await;
    let end = follow(&engine, "c1", Duration::from_secs(60)).await;
    let lost = end.lost.expect("the run is lost");
    assert!(lost.starts_with("the Docker engine could not say how the container ended"), "{lost}");
    assert!(lost.contains("engine restarting"), "{lost}");
}
