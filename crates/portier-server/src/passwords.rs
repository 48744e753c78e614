//! Argon2id runs on its own threads, one per core, never on the async workers
//! (DESIGN §5, §7): a burst of sign-ins queues for them instead of stalling
//! every other request.
//!
//! The threads are Portier's own rather than tokio's blocking pool: each keeps
//! its 19 MiB of Argon2 memory warm from one verification to the next, and
//! takes the next job off the queue itself the moment it finishes, without a
//! permit hand-off through the async runtime. A job whose request has gone
//! (timeout, closed connection) is skipped rather than computed for nobody.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use portier_core::passwords::{Password, dummy_hash, hash_password, verify_password};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Clone)]
pub struct Hasher {
    jobs: Sender<Job>,
}

impl Hasher {
    /// One thread per core: Argon2id is CPU-bound, more threads would only
    /// share the same cores (and thrash the cache with their working sets).
    pub fn new() -> Hasher {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..cores {
            let queue = Arc::clone(&queue);
            // A thread that cannot start leaves the others; with none at
            // all, `run` answers as if the job had failed.
            let _ = std::thread::Builder::new()
                .name(format!("portier-argon2-{n}"))
                .stack_size(256 * 1024)
                .spawn(move || work(&queue));
        }
        Hasher { jobs }
    }

    /// Runs `f` on a hashing thread; `None` when it could not run.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            if !tx.is_closed() {
                let _ = tx.send(f());
            }
        });
        self.jobs.send(job).ok()?;
        rx.await.ok()
    }

    pub async fn hash(&self, password: Password) -> String {
        let salt: [u8; 16] = rand::random();
        self.run(move || hash_password(&password, salt))
            .await
            .unwrap_or_default()
    }

    /// Verifies against `hash`, or against a dummy when there is none, so an
    /// unknown address costs the same time as a wrong password.
    pub async fn verify(&self, hash: Option<String>, candidate: String) -> bool {
        self.run(move || match hash {
            Some(h) => verify_password(&h, &candidate),
            None => {
                verify_password(dummy_hash(), &candidate);
                false
            }
        })
        .await
        .unwrap_or(false)
    }
}

/// A hashing thread: takes jobs until every `Hasher` is gone.
fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next job; a poisoned
        // lock (a panic while waiting, which cannot happen) ends the thread.
        let next = match queue.lock() {
            Ok(q) => q.recv(),
            Err(_) => return,
        };
        let Ok(job) = next else { return };
        // A panicking job must not take the thread with it; the request
        // sees its answer channel dropped.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher::new()
    }
}
