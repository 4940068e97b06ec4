//! Group commit: writes that arrive together share one transaction.
//!
//! A committer thread takes every write waiting (at most [`MAX_BATCH`]), runs them one after the other
//! in one write transaction, commits once, and only then answers each caller with its own result:
//! nothing is acknowledged before it is stored. When a write fails, the whole transaction is rolled
//! back and the batch runs again with each write in a savepoint of its own, so the failed one leaves
//! nothing and the others are kept (savepoints cost statements, and failures are rare). A commit that
//! fails answers every write of the batch with a transient error, and their callers retry. While one
//! batch commits the next gathers, so the latency a write waits is bounded by one batch's commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use super::{Store, StoreError, Tx};

/// The most writes one transaction carries.
pub const MAX_BATCH: usize = 256;

/// One write waiting for its batch.
pub(crate) trait Pending: Send {
    /// Runs the write in the batch's transaction (in a savepoint of its own when `isolated`), keeps its
    /// result and answers whether it succeeded.
    fn run(&mut self, tx: &mut Tx<'_>, isolated: bool) -> bool;
    /// Answers the caller: the kept result once the batch committed, else `failed`.
    fn answer(self: Box<Self>, failed: Option<String>);
}

/// A write and where its answer goes.
pub(crate) struct Call<T, F> {
    pub work: Arc<F>,
    pub result: Option<Result<T, StoreError>>,
    pub reply: tokio::sync::oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Pending for Call<T, F>
where
    T: Send,
    F: Fn(&mut Tx<'_>) -> Result<T, StoreError> + Send + Sync,
{
    fn run(&mut self, tx: &mut Tx<'_>, isolated: bool) -> bool {
        // A write that panics fails alone, as on the blocking pool, instead of ending the committer.
        let work = |tx: &mut Tx<'_>| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.work)(tx)))
                .unwrap_or_else(|_| Err(StoreError::Database("the write panicked".into())))
        };
        let result = if isolated { tx.savepoint(work) } else { work(tx) };
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn answer(self: Box<Self>, failed: Option<String>) {
        let answer = match failed {
            Some(why) => Err(StoreError::Unavailable(format!("the group commit failed: {why}"))),
            None => self.result.unwrap_or_else(|| Err(StoreError::Unavailable("the write did not run".into()))),
        };
        let _ = self.reply.send(answer);
    }
}

/// Sends writes to the committer thread, which runs while any sender lives.
#[derive(Clone)]
pub(crate) struct Committer {
    queue: mpsc::Sender<Box<dyn Pending>>,
    /// Transactions committed (or tried) so far.
    batches: Arc<AtomicU64>,
}

impl Committer {
    pub fn start(store: Arc<Store>) -> Self {
        let (send, receive) = mpsc::channel::<Box<dyn Pending>>();
        let batches = Arc::new(AtomicU64::new(0));
        let counted = batches.clone();
        std::thread::Builder::new()
            .name("crucible-commit".into())
            .spawn(move || commit_loop(&store, &receive, &counted))
            .expect("the group commit thread starts");
        Self { queue: send, batches }
    }

    /// Queues a write; `false` when the committer has stopped.
    pub fn submit(&self, write: Box<dyn Pending>) -> bool {
        self.queue.send(write).is_ok()
    }

    /// How many transactions the committer has run.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }
}

/// Commits what `receive` brings, batch after batch, until every sender is gone.
fn commit_loop(store: &Store, receive: &mpsc::Receiver<Box<dyn Pending>>, batches: &AtomicU64) {
    while let Ok(first) = receive.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receive.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        batches.fetch_add(1, Ordering::Relaxed);
        let began = std::time::Instant::now();
        let run_all = |batch: &mut Vec<Box<dyn Pending>>, isolated: bool| {
            store.transaction(|tx| {
                for write in batch.iter_mut() {
                    if !write.run(tx, isolated) && !isolated {
                        return Err(StoreError::Conflict("a write of the batch failed".into()));
                    }
                }
                Ok(())
            })
        };
        let mut committed = run_all(&mut batch, false);
        if matches!(committed, Err(StoreError::Conflict(_))) {
            committed = run_all(&mut batch, true);
        }
        metrics::histogram!("crucible_store_batch_seconds").record(began.elapsed().as_secs_f64());
        metrics::histogram!("crucible_store_batch_writes").record(batch.len() as f64);
        let failed = committed.err().map(|e| e.to_string());
        for write in batch {
            write.answer(failed.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EntityKind;

    fn call(n: usize, fails: bool) -> (Box<dyn Pending>, tokio::sync::oneshot::Receiver<Result<u64, StoreError>>) {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let work = Arc::new(move |tx: &mut Tx<'_>| {
            let at = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
            tx.log_event(EntityKind::Registration, &format!("write-{n}"), "written", "group commit test", at)?;
            if fails {
                return Err(StoreError::Conflict(format!("write {n} refuses")));
            }
            Ok(n as u64)
        });
        (Box::new(Call { work, result: None, reply }), answer)
    }

    #[test]
    fn writes_waiting_together_share_one_transaction_and_a_failed_one_leaves_nothing() {
        let store = Store::open("sqlite::memory:").unwrap();
        store.migrate().unwrap();
        let (send, receive) = mpsc::channel();
        let mut answers = Vec::new();
        for n in 0..10 {
            let (write, answer) = call(n, n == 3);
            send.send(write).unwrap();
            answers.push(answer);
        }
        drop(send);
        let batches = AtomicU64::new(0);
        commit_loop(&store, &receive, &batches);
        assert_eq!(batches.load(Ordering::Relaxed), 1, "ten writes waiting: one transaction");
        for (n, mut answer) in answers.into_iter().enumerate() {
            match answer.try_recv().unwrap() {
                Ok(got) => assert_eq!(got, n as u64),
                Err(StoreError::Conflict(m)) => assert_eq!((n, m.as_str()), (3, "write 3 refuses")),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(store.count_transitions().unwrap(), 9, "the refused write's row was rolled back alone");
        assert!(store.transitions(EntityKind::Registration, "write-3").unwrap().is_empty());
    }

    #[test]
    fn a_write_that_panics_fails_alone_and_the_committer_goes_on() {
        let store = Store::open("sqlite::memory:").unwrap();
        store.migrate().unwrap();
        let (send, receive) = mpsc::channel();
        let (reply, mut panicked) = tokio::sync::oneshot::channel::<Result<u64, StoreError>>();
        let work = Arc::new(|_: &mut Tx<'_>| -> Result<u64, StoreError> { panic!("a bug in a write") });
        send.send(Box::new(Call { work, result: None, reply }) as Box<dyn Pending>).unwrap();
        let (write, mut kept) = call(1, false);
        send.send(write).unwrap();
        drop(send);
        commit_loop(&store, &receive, &AtomicU64::new(0));
        assert!(matches!(panicked.try_recv().unwrap(), Err(StoreError::Database(m)) if m.contains("panicked")));
        assert_eq!(kept.try_recv().unwrap().unwrap(), 1);
        assert_eq!(store.count_transitions().unwrap(), 1);
    }

    #[test]
    fn more_writes_than_a_batch_holds_take_several_transactions() {
        let store = Store::open("sqlite::memory:").unwrap();
        store.migrate().unwrap();
        let (send, receive) = mpsc::channel();
        let answers: Vec<_> = (0..MAX_BATCH + 1)
            .map(|n| {
                let (write, answer) = call(n, false);
                send.send(write).unwrap();
                answer
            })
            .collect();
        drop(send);
        let batches = AtomicU64::new(0);
        commit_loop(&store, &receive, &batches);
        assert_eq!(batches.load(Ordering::Relaxed), 2);
        assert!(answers.into_iter().all(|mut a| a.try_recv().unwrap().is_ok()));
        assert_eq!(store.count_transitions().unwrap(), MAX_BATCH as u64 + 1);
    }
}
