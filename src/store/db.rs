//! The async door to the store, for actors and servers. Diesel blocks, so every call runs on tokio's blocking pool, never on
//! an actor's event loop; under the virtual clock a blocking call in flight also holds time still.
//! Transient failures (connection lost, database busy) are retried with backoff before giving up.

use std::sync::Arc;
use std::time::Duration;

use super::{Store, StoreError};

#[derive(Clone)]
pub struct Db {
    store: Arc<Store>,
}

const RETRIES: u32 = 5;

impl Db {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Runs `work` against the store off the event loop, retrying transient errors.
    pub async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Store) -> Result<T, StoreError> + Send + Sync + 'static,
    {
        let work = Arc::new(work);
        let mut delay = Duration::from_millis(50);
        let mut attempt = 0;
        loop {
            let (store, job) = (self.store.clone(), work.clone());
            let began = std::time::Instant::now();
            let result = tokio::task::spawn_blocking(move || job(&store))
                .await
                .unwrap_or_else(|e| Err(StoreError::Unavailable(format!("store call panicked: {e}"))));
            metrics::histogram!("crucible_store_call_seconds").record(began.elapsed().as_secs_f64());
            match result {
                Err(e) if e.is_transient() && attempt < RETRIES => {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, "store call failed, retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                other => return other,
            }
        }
    }
}
