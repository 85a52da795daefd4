//! Where the state that several requests (and, with a shared store, several instances) must
//! agree on lives: one-time values (`state`, `nonce`, logout-token `jti`) and the record of
//! ended sessions. Keys are hashes of the values, never the values themselves.
//!
//! [`MemoryStore`] is the default: one process. A shared store (Redis) implements the same
//! trait.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::error::StoreError;
use crate::util::clock::unix_now;
use crate::util::digest::parts_sha256;

/// A key-value store with expiry (Unix time, seconds).
#[async_trait::async_trait]
pub(crate) trait Store: Send + Sync + 'static {
    /// Stores `value` under `key` until `expires_at`, unless the key is there already (not
    /// expired): then `false` and nothing changes.
    async fn insert_new(
        &self,
        key: &str,
        value: &[u8],
        expires_at: i64,
    ) -> Result<bool, StoreError>;

    /// Stores `value` under `key` until `expires_at`, replacing any value.
    async fn put(&self, key: &str, value: &[u8], expires_at: i64) -> Result<(), StoreError>;

    /// The values of `keys` (in order), where present and not expired.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError>;

    /// Removes `key`.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// Adds `member` to the set `set` until `expires_at` (a member leaves at its own expiry,
    /// the set with its last member: a set holds only what is still alive, plus what
    /// [`remove_member`](Self::remove_member) was not yet told about).
    async fn add_member(&self, set: &str, member: &str, expires_at: i64) -> Result<(), StoreError>;

    /// The members of `set` not yet expired (their entries may still be gone: the caller
    /// checks them).
    async fn members(&self, set: &str) -> Result<Vec<String>, StoreError>;

    /// Removes `member` from `set`.
    async fn remove_member(&self, set: &str, member: &str) -> Result<(), StoreError>;
}

/// The store key of a value of some kind: `kind:` and the SHA-256 of the parts (so that no
/// token or identifier is stored in the clear, and parts cannot run into each other).
pub(crate) fn key(kind: &str, parts: &[&str]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut key = String::with_capacity(kind.len() + 65);
    key.push_str(kind);
    key.push(':');
    for byte in parts_sha256(parts) {
        key.push(HEX[usize::from(byte >> 4)] as char);
        key.push(HEX[usize::from(byte & 15)] as char);
    }
    key
}

/// The members of a set, with their expiry.
type Members = HashMap<String, i64>;

/// At most this many entries are kept in memory; beyond it the ones closest to expiry go.
const CAPACITY: usize = 100_000;

/// The in-process store: values, and sets (members with their expiry). When full,
/// it drops what has expired, then either the shorter-lived half (one-time values, sessions:
/// losing one fails safe) or nothing, refusing new values instead (`keep_all`: the records of
/// ended sessions, which must never be pushed out by a flood of new ones).
pub(crate) struct MemoryStore {
    values: Mutex<HashMap<String, (Vec<u8>, i64)>>,
    sets: Mutex<HashMap<String, Members>>,
    keep_all: bool,
    /// The clock (Unix seconds) that decides what has expired.
    clock: fn() -> i64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            values: Mutex::default(),
            sets: Mutex::default(),
            keep_all: false,
            clock: unix_now,
        }
    }
}

impl MemoryStore {
    /// A store that never drops a value before it expires (it refuses new ones when full).
    pub fn keeping_all() -> Self {
        MemoryStore {
            keep_all: true,
            ..MemoryStore::default()
        }
    }

    /// A store that reads the time from `clock` (for tests).
    #[cfg(test)]
    pub fn with_clock(clock: fn() -> i64) -> Self {
        MemoryStore {
            clock,
            ..MemoryStore::default()
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Vec<u8>, i64)>> {
        self.values.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sets(&self) -> std::sync::MutexGuard<'_, HashMap<String, Members>> {
        self.sets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes room for one more entry: drops the expired ones, then the shorter-lived half,
    /// or (`keep_all`) refuses.
    fn make_room(
        &self,
        map: &mut HashMap<String, (Vec<u8>, i64)>,
        now: i64,
    ) -> Result<(), StoreError> {
        if map.len() < CAPACITY {
            return Ok(());
        }
        map.retain(|_, (_, expiry)| *expiry > now);
        if map.len() < CAPACITY {
            return Ok(());
        }
        if self.keep_all {
            return Err(StoreError::Unavailable(
                "the in-memory store is full".into(),
            ));
        }
        let mut expiries: Vec<i64> = map.values().map(|(_, e)| *e).collect();
        expiries.sort_unstable();
        let cut = expiries[expiries.len() / 2];
        map.retain(|_, (_, expiry)| *expiry > cut);
        Ok(())
    }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    async fn insert_new(
        &self,
        key: &str,
        value: &[u8],
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let now = (self.clock)();
        let mut map = self.entries();
        if map.get(key).is_some_and(|(_, expiry)| *expiry > now) {
            return Ok(false);
        }
        self.make_room(&mut map, now)?;
        map.insert(key.to_owned(), (value.to_vec(), expires_at));
        Ok(true)
    }

    async fn put(&self, key: &str, value: &[u8], expires_at: i64) -> Result<(), StoreError> {
        let now = (self.clock)();
        let mut map = self.entries();
        if !map.contains_key(key) {
            self.make_room(&mut map, now)?;
        }
        map.insert(key.to_owned(), (value.to_vec(), expires_at));
        Ok(())
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let now = (self.clock)();
        let map = self.entries();
        Ok(keys
            .iter()
            .map(|k| {
                map.get(k)
                    .filter(|(_, expiry)| *expiry > now)
                    .map(|(v, _)| v.clone())
            })
            .collect())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.entries().remove(key);
        Ok(())
    }

    async fn add_member(&self, set: &str, member: &str, expires_at: i64) -> Result<(), StoreError> {
        let now = (self.clock)();
        let mut sets = self.sets();
        if sets.len() >= CAPACITY {
            sets.retain(|_, members| members.values().any(|expiry| *expiry > now));
        }
        let members = sets.entry(set.to_owned()).or_default();
        members.retain(|_, expiry| *expiry > now);
        members.insert(member.to_owned(), expires_at);
        Ok(())
    }

    async fn members(&self, set: &str) -> Result<Vec<String>, StoreError> {
        let now = (self.clock)();
        Ok(self
            .sets()
            .get(set)
            .map(|members| {
                members
                    .iter()
                    .filter(|(_, expiry)| **expiry > now)
                    .map(|(member, _)| member.clone())
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn remove_member(&self, set: &str, member: &str) -> Result<(), StoreError> {
        let mut sets = self.sets();
        if let Some(members) = sets.get_mut(set) {
            members.remove(member);
            if members.is_empty() {
                sets.remove(set);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn values_are_inserted_once_until_they_expire() {
        let store = MemoryStore::with_clock(|| 1_000);
        let now = 1_000;
        let k = key("state", &["a"]);
        assert!(store.insert_new(&k, b"1", now + 60).await.unwrap());
        assert!(!store.insert_new(&k, b"2", now + 60).await.unwrap());
        assert_eq!(
            store.get_many(std::slice::from_ref(&k)).await.unwrap(),
            [Some(b"1".to_vec())]
        );
        store.put(&k, b"3", now - 1).await.unwrap();
        assert_eq!(
            store.get_many(std::slice::from_ref(&k)).await.unwrap(),
            [None],
            "expired"
        );
        assert!(
            store.insert_new(&k, b"4", now + 60).await.unwrap(),
            "expired: new again"
        );
    }

    #[tokio::test]
    async fn a_full_store_drops_short_lived_values_or_with_keep_all_refuses_new_ones() {
        let now = unix_now();
        for keep_all in [false, true] {
            let store = if keep_all {
                MemoryStore::keeping_all()
            } else {
                MemoryStore::default()
            };
            // A long-lived record, then a flood of values until the store is full.
            store.put("record", b"1", now + 86_400).await.unwrap();
            for i in 0..CAPACITY - 1 {
                store
                    .put(&format!("flood-{i}"), b"", now + 600)
                    .await
                    .unwrap();
            }
            let more = store.put("one-more", b"", now + 600).await;
            assert_eq!(more.is_err(), keep_all, "keep_all = {keep_all}");
            // Either way the long-lived record is still there.
            let found = store.get_many(&["record".to_owned()]).await.unwrap();
            assert_eq!(found, [Some(b"1".to_vec())], "keep_all = {keep_all}");
        }
    }

    #[tokio::test]
    async fn a_set_keeps_only_members_not_yet_expired() {
        let store = MemoryStore::with_clock(|| 1_000);
        store.add_member("s", "old", 999).await.unwrap();
        store.add_member("s", "a", 1_060).await.unwrap();
        store.add_member("s", "a", 1_060).await.unwrap();
        store.add_member("s", "b", 2_000).await.unwrap();
        let mut members = store.members("s").await.unwrap();
        members.sort();
        assert_eq!(members, ["a", "b"]);
        // The expired member left the set when another was added: it does not grow.
        assert_eq!(store.sets()["s"].len(), 2);
        store.remove_member("s", "a").await.unwrap();
        store.remove_member("s", "b").await.unwrap();
        assert!(store.sets().is_empty(), "an empty set leaves");
    }

    #[test]
    fn keys_hash_their_parts_unambiguously() {
        assert_ne!(key("k", &["ab", "c"]), key("k", &["a", "bc"]));
        assert_ne!(key("k", &["a"]), key("j", &["a"]));
        assert!(!key("k", &["secret-token"]).contains("secret"));
    }
}
