//! `/readyz` answers within a second whatever the database does: a real PostgreSQL behind a proxy
//! that the test cuts off (bytes no longer pass, connections stay open, as when a network path goes
//! silent) gives a quick 503 that says why, probes meanwhile do not pile up, and the service is ready
//! again once the path comes back.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crucible::store::Store;

use super::api::{call, serve_store};
use super::store::support::TestDatabase;

/// A TCP proxy whose path can be cut (bytes wait) and restored (they flow again).
struct Proxy {
    address: String,
    cut: Arc<(Mutex<bool>, Condvar)>,
}

impl Proxy {
    fn to(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let cut = Arc::new((Mutex::new(false), Condvar::new()));
        let gate = cut.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&upstream) else { continue };
                for (from, to) in [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)] {
                    let gate = gate.clone();
                    std::thread::spawn(move || relay(from, to, &gate));
                }
            }
        });
        Proxy { address, cut }
    }

    fn set_cut(&self, cut: bool) {
        *self.cut.0.lock().unwrap() = cut;
        self.cut.1.notify_all();
    }
}

/// Copies `from` to `to`, holding each chunk while the path is cut.
fn relay(mut from: TcpStream, mut to: TcpStream, cut: &(Mutex<bool>, Condvar)) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        drop(cut.1.wait_while(cut.0.lock().unwrap(), |cut| *cut).unwrap());
        if to.write_all(&buffer[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

#[test]
fn readyz_answers_503_within_a_second_while_postgresql_is_cut_off_and_200_once_it_is_back() {
    let Some(db) = TestDatabase::create() else { return };
    let mut url = url::Url::parse(&db.url).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = Proxy::to(upstream);
    let (host, port) = proxy.address.split_once(':').unwrap();
    url.set_host(Some(host)).unwrap();
    url.set_port(Some(port.parse().unwrap())).unwrap();
    let store = Arc::new(Store::open(url.as_str()).unwrap());
    store.migrate().unwrap();
    let api = serve_store(store, true, tokio::sync::broadcast::channel(8).0, None);
    let ready = format!("{api}/readyz");
    assert_eq!(call("GET", &ready, None, None).0, 200);

    proxy.set_cut(true);
    // Without its own limit the probe would wait as long as the silent connection does: for ever.
    // Each probe below would then hang until the client gives up.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        for probe in 0..3 {
            let response = client.get(&ready).send().await.expect("the probe answers while the database is silent");
            assert_eq!(response.status().as_u16(), 503, "probe {probe}");
            let body: serde_json::Value = response.json().await.unwrap();
            let error = body["error"].as_str().unwrap_or_default();
            assert!(error.contains("the store did not answer within 800 ms"), "probe {probe}: {body}");
        }
    });

    proxy.set_cut(false);
    // The ping that waited goes through, and the next probe finds the store answering.
    let back = (0..600).any(|_| {
        if call("GET", &ready, None, None).0 == 200 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
        false
    });
    assert!(back, "/readyz answers 200 again once the database is reachable");
}
