//! Argon2id runs on its own threads, one per core, never on the async workers
//! (docs/RULES.md#password-hashing): a burst of sign-ins queues for them
//! instead of stalling every other request. Every Argon2 computation of the
//! server runs here: verifying a password, the dummy for an unknown address,
//! and hashing a new one.
//!
//! The threads are Portier's own rather than tokio's blocking pool, and they
//! share a few working memories of 19 MiB each (docs/RULES.md#password-hashing):
//! - a computation takes one that is free, or makes one, so there are never
//!   more than there are threads, and sign-ins one after another reuse the same
//!   warm memory whichever thread runs them;
//! - a memory nobody used for [`KEEP_IDLE`] is given back to the system, so
//!   the server shrinks again after a burst.
//!
//! A thread takes the next job off the queue itself the moment it finishes.
//! A job whose request has gone (timeout, closed connection) is skipped
//! rather than computed for nobody.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use portier_core::passwords::{
    Argon2Memory, Password, dummy_hash, hash_password_with, verify_password_with,
};
use tokio::sync::oneshot;

/// How long a working memory nobody uses is kept.
pub const KEEP_IDLE: Duration = Duration::from_secs(1);

/// A computation, which hands back how to deliver its answer: the memory is
/// put back before the answer goes, so that the next computation the answer
/// leads to finds it free.
type Job = Box<dyn FnOnce(&mut Argon2Memory) -> Deliver + Send>;
type Deliver = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Working memories no thread uses now, with when each was put back.
    idle: Vec<(Argon2Memory, Instant)>,
    /// Every `Hasher` is gone: the threads end.
    closed: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Closes the queue when the last `Hasher` goes.
struct Closer(Arc<Shared>);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.ready.notify_all();
    }
}

#[derive(Clone)]
pub struct Hasher {
    shared: Arc<Shared>,
    /// Held by every clone; the threads hold only `shared`.
    _closer: Arc<Closer>,
    threads: usize,
}

impl Hasher {
    /// One thread per core: Argon2id is CPU-bound, more threads would only
    /// share the same cores (and thrash the cache with their working sets).
    pub fn new() -> Hasher {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let shared = Arc::new(Shared::default());
        let mut threads = 0;
        for n in 0..cores {
            let shared = Arc::clone(&shared);
            // A thread that cannot start leaves the others; with none at
            // all, `run` answers as if the job had failed.
            let started = std::thread::Builder::new()
                .name(format!("portier-argon2-{n}"))
                .stack_size(256 * 1024)
                .spawn(move || work(&shared));
            threads += usize::from(started.is_ok());
        }
        Hasher {
            _closer: Arc::new(Closer(Arc::clone(&shared))),
            shared,
            threads,
        }
    }

    /// Runs `f` on a hashing thread, in a working memory; `None` when it
    /// could not run.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Argon2Memory) -> T + Send + 'static,
    ) -> Option<T> {
        if self.threads == 0 {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            if tx.is_closed() {
                return Box::new(|| ());
            }
            let answer = f(memory);
            Box::new(move || {
                let _ = tx.send(answer);
            })
        });
        self.shared.lock().jobs.push_back(job);
        self.shared.ready.notify_one();
        rx.await.ok()
    }

    pub async fn hash(&self, password: Password) -> String {
        let salt: [u8; 16] = rand::random();
        self.run(move |memory| hash_password_with(&password, salt, memory))
            .await
            .unwrap_or_default()
    }

    /// Verifies against `hash`, or against a dummy when there is none, so an
    /// unknown address costs the same time as a wrong password.
    pub async fn verify(&self, hash: Option<String>, candidate: String) -> bool {
        self.run(move |memory| match hash {
            Some(h) => verify_password_with(&h, &candidate, memory),
            None => {
                verify_password_with(dummy_hash(), &candidate, memory);
                false
            }
        })
        .await
        .unwrap_or(false)
    }

    /// How many working memories are kept for the next computation (for
    /// tests).
    pub fn memories_kept(&self) -> usize {
        self.shared.lock().idle.len()
    }
}

/// A hashing thread: takes jobs until every `Hasher` is gone.
fn work(shared: &Shared) {
    loop {
        let (job, mut memory) = {
            let mut queue = shared.lock();
            loop {
                if let Some(job) = queue.jobs.pop_front() {
                    // The memory used last: the warmest.
                    let memory = queue.idle.pop().map(|(m, _)| m).unwrap_or_default();
                    break (job, memory);
                }
                if queue.closed {
                    return;
                }
                // Waiting, this thread also gives back what nobody used
                // for a while (the mutex is released while it waits).
                queue
                    .idle
                    .retain(|(_, put_back)| put_back.elapsed() < KEEP_IDLE);
                queue = shared
                    .ready
                    .wait_timeout(queue, KEEP_IDLE)
                    .map(|(q, _)| q)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
        };
        // A panicking job must not take the thread with it; the request
        // sees its answer channel dropped.
        let deliver = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut memory)));
        shared.lock().idle.push((memory, Instant::now()));
        if let Ok(deliver) = deliver {
            deliver();
        }
    }
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memories_are_shared_bounded_by_the_threads_and_given_back_when_idle() {
        let hasher = Hasher::new();
        let password = Password::new(
            "Kw8!vLp2#rTq".into(),
            &portier_core::passwords::PasswordPolicy::default(),
            &[],
        )
        .unwrap();
        // One after another: one memory, whichever thread ran each.
        for _ in 0..4 {
            let hash = hasher.hash(password.clone()).await;
            assert!(hasher.verify(Some(hash), "Kw8!vLp2#rTq".into()).await);
        }
        assert_eq!(hasher.memories_kept(), 1);
        // At once: never more than the threads.
        let many: Vec<_> = (0..12).map(|_| hasher.verify(None, "x".into())).collect();
        for verified in futures_util::future::join_all(many).await {
            assert!(!verified);
        }
        let kept = hasher.memories_kept();
        assert!((1..=hasher.threads).contains(&kept), "{kept}");
        // Idle: given back.
        tokio::time::sleep(KEEP_IDLE * 3).await;
        assert_eq!(hasher.memories_kept(), 0);
    }
}
