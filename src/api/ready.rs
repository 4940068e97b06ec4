//! `/readyz` answers within [`READY_WITHIN`] whatever the database does. A database that is down or
//! cut off can keep a query waiting for as long as the pool's connect timeout, or for ever on a
//! connection whose peer went silent; a probe that waits with it makes a load balancer or an orchestrator
//! wait too. So the ping runs on a blocking thread and the probe waits for it at most [`READY_WITHIN`],
//! then answers 503. At most one ping is in flight: probes arriving meanwhile share its answer, so a
//! hung database never piles up blocked threads.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::store::Store;

/// How long a readiness probe waits for the store before answering that it is not ready.
pub const READY_WITHIN: Duration = Duration::from_millis(800);

/// The answer of one ping: `None` while it runs.
type Answer = Option<Result<(), String>>;

/// A ping in flight: when it started, and its answer to come.
type InFlight = Option<(Instant, watch::Receiver<Answer>)>;

/// The ping in flight, shared by the probes that arrive while it runs.
#[derive(Clone, Default)]
pub struct ReadyProbe(Arc<Mutex<InFlight>>);

impl ReadyProbe {
    /// Whether the store answers a trivial query within [`READY_WITHIN`]; the reason when not.
    pub async fn store_answers(&self, store: &Arc<Store>) -> Result<(), String> {
        let (since, mut answer) = self.in_flight(store);
        let waited = tokio::time::timeout(READY_WITHIN, answer.wait_for(Option::is_some)).await;
        match waited {
            Ok(Ok(done)) => done.clone().expect("waited for an answer"),
            Ok(Err(_)) => Err("the store check stopped without an answer".into()),
            Err(_) => Err(format!(
                "the store did not answer within {} ms (its check has waited {:.1} s)",
                READY_WITHIN.as_millis(),
                since.elapsed().as_secs_f64()
            )),
        }
    }

    /// The running ping, or a new one.
    fn in_flight(&self, store: &Arc<Store>) -> (Instant, watch::Receiver<Answer>) {
        let mut slot = self.0.lock().expect("the probe's lock is never poisoned");
        if let Some((since, answer)) = slot.as_ref() {
            return (*since, answer.clone());
        }
        let (tell, answer) = watch::channel(None);
        let since = Instant::now();
        *slot = Some((since, answer.clone()));
        let (store, probe) = (store.clone(), self.0.clone());
        tokio::task::spawn_blocking(move || {
            let result = store.ping().map_err(|e| format!("the store does not answer: {e}"));
            // The next probe starts a new ping, then the waiting ones learn this one's answer.
            *probe.lock().expect("the probe's lock is never poisoned") = None;
            let _ = tell.send(Some(result));
        });
        (since, answer)
    }
}
