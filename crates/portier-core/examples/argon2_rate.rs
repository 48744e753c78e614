//! Raw Argon2id verifications per second with Portier's parameters, on every
//! core: the physical limit of password sign-in on this machine
//! (docs/RULES.md#password-hashing).
//! `cargo run --release -p portier-core --example argon2_rate [seconds]`

use std::time::{Duration, Instant};

use portier_core::passwords::{
    Argon2Memory, Password, PasswordPolicy, hash_password, verify_password_with,
};

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let password = Password::new("Kw8!vLp2#rTq".into(), &PasswordPolicy::default(), &[])
        .expect("a good password");
    let hash = hash_password(&password, [9; 16]);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let until = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let counts: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    // Each thread keeps its working memory, as the server's
                    // hashing threads do under load.
                    let mut memory = Argon2Memory::default();
                    let mut n = 0u64;
                    while Instant::now() < until {
                        assert!(verify_password_with(&hash, "Kw8!vLp2#rTq", &mut memory));
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    });
    let total: u64 = counts.iter().sum();
    let rate = total as f64 / start.elapsed().as_secs_f64();
    println!(
        "argon2id m=19456 t=2 p=1: {rate:.1} verifications/s on {threads} threads ({total} in {seconds} s)"
    );
}
