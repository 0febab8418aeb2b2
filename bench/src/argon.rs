//! The raw argon2id hash rate, in process, with the server's crate and parameters: the ceiling for
//! password sign-ins (each verifies one hash).

use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, Version};

use crate::server::own_cpu_seconds;

/// The server's parameters (OWASP): m = 19 MiB, t = 2, p = 1.
pub const M_KIB: u32 = 19 * 1024;
pub const T: u32 = 2;
pub const P: u32 = 1;

pub struct HashRate {
    pub threads: usize,
    pub per_second: f64,
    pub per_cpu_second: f64,
}

/// Hashes on `threads` threads for `duration` (a fresh 19 MiB block per hash, as in the server).
pub fn measure(threads: usize, duration: Duration) -> HashRate {
    let cpu0 = own_cpu_seconds();
    let start = Instant::now();
    let end = start + duration;
    let hashes: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                s.spawn(move || {
                    let params = Params::new(M_KIB, T, P, Some(32)).expect("valid argon2 parameters");
                    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
                    let salt = [i as u8; 16];
                    let mut out = [0u8; 32];
                    let mut n = 0u64;
                    while Instant::now() < end {
                        argon
                            .hash_password_into(b"correct horse battery staple", &salt, &mut out)
                            .expect("argon2 hashing works");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = own_cpu_seconds() - cpu0;
    HashRate {
        threads,
        per_second: hashes as f64 / elapsed,
        per_cpu_second: hashes as f64 / cpu,
    }
}
