//! One-time records kept in memory: `state` and `nonce` values already used (a replayed
//! callback never creates a second session, even if the provider accepts a code twice), and
//! sessions ended by a logout (a copy of their cookie, or a response still in flight that sets
//! it again, is not accepted by this process any more).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// At most this many values are remembered; beyond it the ones closest to expiry go.
const CAPACITY: usize = 100_000;

/// Values (hashed) until their expiry (Unix time). `recorded` lets the (frequent) lookup in an
/// empty record skip the hash and the lock.
#[derive(Default)]
pub(crate) struct OnceRecord(Mutex<HashMap<[u8; 32], i64>>, AtomicBool);

impl OnceRecord {
    fn key(kind: &str, value: &str) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(kind.as_bytes());
        hasher.update([0]);
        hasher.update(value.as_bytes());
        hasher.finalize().into()
    }

    /// Records `value` until `until`; `false` if it was recorded already (a replay).
    pub fn first_use(&self, kind: &str, value: &str, now: i64, until: i64) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let key = Self::key(kind, value);
        if map.get(&key).is_some_and(|expiry| *expiry > now) {
            return false;
        }
        if map.len() >= CAPACITY {
            map.retain(|_, expiry| *expiry > now);
            if map.len() >= CAPACITY {
                // Keep the longer-lived half.
                let mut expiries: Vec<i64> = map.values().copied().collect();
                expiries.sort_unstable();
                let cut = expiries[expiries.len() / 2];
                map.retain(|_, expiry| *expiry > cut);
            }
        }
        map.insert(key, until);
        self.1.store(true, Ordering::Release);
        true
    }

    /// Whether `value` is recorded and not expired.
    pub fn contains(&self, kind: &str, value: &str, now: i64) -> bool {
        if !self.1.load(Ordering::Acquire) {
            return false;
        }
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&Self::key(kind, value))
            .is_some_and(|expiry| *expiry > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_used_once_until_it_expires() {
        let record = OnceRecord::default();
        assert!(record.first_use("state", "a", 100, 200));
        assert!(!record.first_use("state", "a", 150, 200));
        assert!(
            record.first_use("nonce", "a", 150, 200),
            "kinds are separate"
        );
        assert!(record.contains("state", "a", 199));
        assert!(!record.contains("state", "a", 200));
        assert!(
            record.first_use("state", "a", 201, 300),
            "expired: usable again"
        );
    }
}
