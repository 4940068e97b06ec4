//! The async door to the store, for actors and servers. Diesel blocks, so every call runs on tokio's blocking pool, never on
//! an actor's event loop; under the virtual clock a blocking call in flight also holds time still.
//! Transient failures (connection lost, database busy) are retried with backoff before giving up.

use std::sync::Arc;
use std::time::Duration;

use super::group::{Call, Committer};
use super::{Store, StoreError, Tx};

#[derive(Clone)]
pub struct Db {
    store: Arc<Store>,
    /// `None` for an in-memory database, where a commit costs nothing to share.
    committer: Option<Committer>,
}

const RETRIES: u32 = 5;

impl Db {
    /// The door to `store`, with a group-commit thread of its own (stopped with the last clone) unless
    /// the database is in memory.
    pub fn new(store: Arc<Store>) -> Self {
        let committer = (!store.is_memory()).then(|| Committer::start(store.clone()));
        Self { store, committer }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// How many group-commit transactions this door has run.
    pub fn batches(&self) -> u64 {
        self.committer.as_ref().map_or(0, Committer::batches)
    }

    /// Runs `work` against the store off the event loop, retrying transient errors.
    pub async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Store) -> Result<T, StoreError> + Send + Sync + 'static,
    {
        let work = Arc::new(work);
        retrying("store call", || {
            let (store, job) = (self.store.clone(), work.clone());
            tokio::task::spawn_blocking(move || job(&store))
        })
        .await
    }

    /// Writes `work` in a transaction it shares with the writes that arrive with it (group commit,
    /// [`super::group`]), and answers once that transaction has committed; retries transient errors as
    /// [`Db::run`] does. In memory, where a commit costs nothing, `work` is a transaction of its own.
    pub async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&mut Tx<'_>) -> Result<T, StoreError> + Send + Sync + 'static,
    {
        let Some(committer) = &self.committer else {
            return self.run(move |s| s.transaction(|tx| work(tx))).await;
        };
        let work = Arc::new(work);
        retrying("store write", || {
            let (reply, answer) = tokio::sync::oneshot::channel();
            let call = Box::new(Call { work: work.clone(), result: None, reply });
            let committer = committer.clone();
            // Waited for on the blocking pool: under the virtual clock a write in flight holds time
            // still, as every store call does.
            tokio::task::spawn_blocking(move || {
                if !committer.submit(call) {
                    return Err(StoreError::Unavailable("the group commit thread has stopped".into()));
                }
                answer
                    .blocking_recv()
                    .unwrap_or_else(|_| Err(StoreError::Unavailable("the group commit dropped a write".into())))
            })
        })
        .await
    }
}

/// Awaits `attempt()`'s blocking task, again with a doubling pause while it fails transiently.
async fn retrying<T>(
    what: &'static str,
    attempt: impl Fn() -> tokio::task::JoinHandle<Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let mut delay = Duration::from_millis(50);
    let mut tries = 0;
    loop {
        let began = std::time::Instant::now();
        let result = attempt().await.unwrap_or_else(|e| Err(StoreError::Unavailable(format!("{what} panicked: {e}"))));
        metrics::histogram!("crucible_store_call_seconds").record(began.elapsed().as_secs_f64());
        match result {
            Err(e) if e.is_transient() && tries < RETRIES => {
                tries += 1;
                tracing::warn!(error = %e, attempt = tries, "{what} failed, retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            other => return other,
        }
    }
}
