//! Argon2id runs on a bounded pool of blocking threads, one per core, never on
//! the async workers (DESIGN §5, §7): a burst of sign-ins queues for the pool
//! instead of stalling every other request.

use std::sync::Arc;

use portier_core::passwords::{Password, dummy_hash, hash_password, verify_password};
use tokio::sync::Semaphore;

#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
}

impl Hasher {
    /// One permit per core: Argon2id is CPU-bound, more threads would only
    /// share the same cores.
    pub fn new() -> Hasher {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Hasher {
            permits: Arc::new(Semaphore::new(cores)),
        }
    }

    pub async fn hash(&self, password: Password) -> String {
        let _permit = self.permits.acquire().await;
        let salt: [u8; 16] = rand::random();
        tokio::task::spawn_blocking(move || hash_password(&password, salt))
            .await
            .unwrap_or_default()
    }

    /// Verifies against `hash`, or against a dummy when there is none, so an
    /// unknown address costs the same time as a wrong password.
    pub async fn verify(&self, hash: Option<String>, candidate: String) -> bool {
        let _permit = self.permits.acquire().await;
        tokio::task::spawn_blocking(move || match hash {
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

impl Default for Hasher {
    fn default() -> Self {
        Hasher::new()
    }
}
