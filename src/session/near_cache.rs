//! A near cache in front of the shared store (`near_cache = true`): what this instance read
//! from Redis (a server-side session, the records of ended sessions) is reused for at most
//! [`MAX_AGE`], so that a busy session is not a Redis round trip per request.
//!
//! The consistency rule: **an instance may act on what it read from Redis up to one second
//! ago.** A logout, back-channel logout or session end made on another instance is therefore
//! seen here within one second (bounded by design: no entry is older); one made on this
//! instance at once (its writes replace its entries). The instances
//! also tell each other which keys they changed (Redis pub/sub): an entry changed elsewhere is
//! dropped as soon as the message arrives, in milliseconds; while that subscription is down
//! (Redis gone, the connection killed) the cache is emptied and not used at all. One-time
//! values are never answered from the cache (`insert_new` always asks Redis: a state or nonce
//! is used once across all instances), nor are sets (a user's session index). Any error from
//! Redis empties the cache.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::StoreError;
use crate::session::store::Store;

/// How long a value read from the shared store is reused.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(1);

/// At most this many keys are cached (a session and its three record keys each: some 25,000
/// busy sessions); the least useful leave first (S3-FIFO, `quick_cache`).
const CAPACITY: usize = 100_000;

/// A value read (or written) and when.
type Entry = (Option<Arc<Vec<u8>>>, Instant);

/// How an instance tells the others that it changed a key (Redis `PUBLISH`).
#[async_trait::async_trait]
pub(crate) trait Announcer: Send + Sync + 'static {
    /// Sends `message` to every instance (itself included).
    async fn announce(&self, message: &str) -> Result<(), StoreError>;
}

/// The shared store, with a near cache of its reads.
pub(crate) struct NearCache {
    inner: Arc<dyn Store>,
    entries: quick_cache::sync::Cache<String, Entry>,
    /// Whether the cache may be used: always without invalidations; with them, only while
    /// they arrive.
    live: AtomicBool,
    announcer: Option<Arc<dyn Announcer>>,
    /// This instance's name in the messages (its own are not acted on).
    instance: String,
}

impl NearCache {
    /// `inner` with a near cache whose entries live one second.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        NearCache {
            inner,
            entries: quick_cache::sync::Cache::new(CAPACITY),
            live: AtomicBool::new(true),
            announcer: None,
            instance: crate::util::random::random_token()[..16].to_owned(),
        }
    }

    /// `inner` with a near cache that also announces its writes through `announcer`; not
    /// used until [`subscribed`](Self::subscribed) says the others' announcements arrive.
    pub fn with_announcer(inner: Arc<dyn Store>, announcer: Arc<dyn Announcer>) -> Self {
        NearCache {
            live: AtomicBool::new(false),
            announcer: Some(announcer),
            ..Self::new(inner)
        }
    }

    /// Whether the announcements of the other instances arrive: the cache is emptied either
    /// way (what was cached while they did not arrive is not trusted), and used only if so.
    pub fn subscribed(&self, up: bool) {
        self.live.store(false, Ordering::SeqCst);
        self.entries.clear();
        self.live.store(up, Ordering::SeqCst);
    }

    /// An announcement: another instance changed a key, which is dropped here.
    pub fn announced(&self, message: &str) {
        if let Some((instance, key)) = message.split_once(' ') {
            if instance != self.instance {
                self.entries.remove(key);
            }
        }
    }

    async fn announce(&self, key: &str) {
        if let Some(announcer) = &self.announcer {
            let message = format!("{} {key}", self.instance);
            if let Err(error) = announcer.announce(&message).await {
                // The others see the change within a second anyway.
                log::debug!("OpenID Connect: a change was not announced: {error}");
            }
        }
    }

    /// The cache forgets everything (after an error of the shared store).
    fn forget_all<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if result.is_err() {
            self.entries.clear();
        }
        result
    }

    fn remember(&self, key: &str, value: Option<Vec<u8>>) {
        self.entries
            .insert(key.to_owned(), (value.map(Arc::new), Instant::now()));
    }
}

#[async_trait::async_trait]
impl Store for NearCache {
    async fn insert_new(
        &self,
        key: &str,
        value: &[u8],
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let inserted = self.forget_all(self.inner.insert_new(key, value, expires_at).await)?;
        self.entries.remove(key);
        if inserted {
            self.announce(key).await;
        }
        Ok(inserted)
    }

    async fn put(&self, key: &str, value: &[u8], expires_at: i64) -> Result<(), StoreError> {
        // Forgotten first: a failed write must not leave the old value trusted here.
        self.entries.remove(key);
        self.forget_all(self.inner.put(key, value, expires_at).await)?;
        self.remember(key, Some(value.to_vec()));
        self.announce(key).await;
        Ok(())
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if !self.live.load(Ordering::SeqCst) {
            return self.forget_all(self.inner.get_many(keys).await);
        }
        let now = Instant::now();
        let mut values: Vec<Option<Option<Vec<u8>>>> = keys
            .iter()
            .map(|key| match self.entries.get(key) {
                Some((value, read)) if now.duration_since(read) < MAX_AGE => {
                    Some(value.map(|v| v.as_ref().clone()))
                }
                _ => None,
            })
            .collect();
        let missing: Vec<String> = keys
            .iter()
            .zip(&values)
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k.clone())
            .collect();
        crate::util::metrics::cache_lookup("near", missing.is_empty());
        if !missing.is_empty() {
            let read = Instant::now();
            let fetched = self.forget_all(self.inner.get_many(&missing).await)?;
            let mut fetched = fetched.into_iter();
            // (Kept only if the announcements still arrive: a read racing with their loss
            // is not cached.)
            let live = self.live.load(Ordering::SeqCst);
            for (key, slot) in keys.iter().zip(values.iter_mut()) {
                if slot.is_none() {
                    let value = fetched.next().flatten();
                    if live {
                        self.entries
                            .insert(key.clone(), (value.clone().map(Arc::new), read));
                    }
                    *slot = Some(value);
                }
            }
        }
        Ok(values.into_iter().map(Option::flatten).collect())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.entries.remove(key);
        self.forget_all(self.inner.delete(key).await)?;
        self.remember(key, None);
        self.announce(key).await;
        Ok(())
    }

    async fn add_member(&self, set: &str, member: &str, expires_at: i64) -> Result<(), StoreError> {
        self.forget_all(self.inner.add_member(set, member, expires_at).await)
    }

    async fn members(&self, set: &str) -> Result<Vec<String>, StoreError> {
        self.forget_all(self.inner.members(set).await)
    }

    async fn remove_member(&self, set: &str, member: &str) -> Result<(), StoreError> {
        self.forget_all(self.inner.remove_member(set, member).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::store::MemoryStore;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// A store that counts reads and can fail.
    #[derive(Default)]
    struct Counting {
        inner: MemoryStore,
        reads: AtomicUsize,
        down: AtomicBool,
    }

    impl Counting {
        fn check(&self) -> Result<(), StoreError> {
            if self.down.load(Ordering::SeqCst) {
                Err(StoreError::Unavailable("down".into()))
            } else {
                Ok(())
            }
        }
    }

    #[async_trait::async_trait]
    impl Store for Counting {
        async fn insert_new(&self, k: &str, v: &[u8], e: i64) -> Result<bool, StoreError> {
            self.check()?;
            self.inner.insert_new(k, v, e).await
        }
        async fn put(&self, k: &str, v: &[u8], e: i64) -> Result<(), StoreError> {
            self.check()?;
            self.inner.put(k, v, e).await
        }
        async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
            self.check()?;
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.get_many(keys).await
        }
        async fn delete(&self, k: &str) -> Result<(), StoreError> {
            self.check()?;
            self.inner.delete(k).await
        }
        async fn add_member(&self, s: &str, m: &str, e: i64) -> Result<(), StoreError> {
            self.inner.add_member(s, m, e).await
        }
        async fn members(&self, s: &str) -> Result<Vec<String>, StoreError> {
            self.inner.members(s).await
        }
        async fn remove_member(&self, s: &str, m: &str) -> Result<(), StoreError> {
            self.inner.remove_member(s, m).await
        }
    }

    #[tokio::test]
    async fn reads_are_reused_for_a_second_writes_replace_them_errors_empty_the_cache() {
        let shared = Arc::new(Counting::default());
        let near = NearCache::new(shared.clone());
        let far = 4_000_000_000;
        let keys = vec!["a".to_owned(), "b".to_owned()];
        near.put("a", b"1", far).await.unwrap();
        let first = near.get_many(&keys).await.unwrap();
        assert_eq!(first, vec![Some(b"1".to_vec()), None]);
        assert_eq!(
            shared.reads.load(Ordering::SeqCst),
            1,
            "only the unknown key was read"
        );
        assert_eq!(near.get_many(&keys).await.unwrap(), first);
        assert_eq!(
            shared.reads.load(Ordering::SeqCst),
            1,
            "both from the near cache"
        );
        // Another instance writes `b`: seen here once the entry is older than a second.
        shared.inner.put("b", b"2", far).await.unwrap();
        tokio::time::sleep(MAX_AGE + Duration::from_millis(50)).await;
        assert_eq!(near.get_many(&keys).await.unwrap()[1], Some(b"2".to_vec()));
        // This instance's own delete is seen at once.
        near.delete("a").await.unwrap();
        assert_eq!(near.get_many(&keys).await.unwrap()[0], None);
        // One-time values always ask the shared store.
        assert!(near.insert_new("once", b"", far).await.unwrap());
        assert!(!near.insert_new("once", b"", far).await.unwrap());
        // An error empties the cache: nothing cached is trusted after it.
        shared.down.store(true, Ordering::SeqCst);
        assert!(near.put("c", b"3", far).await.is_err());
        assert!(
            near.get_many(&keys).await.is_err(),
            "b was cached, but is not trusted"
        );
    }

    /// An announcer that records what it was told.
    #[derive(Default)]
    struct Recorder(std::sync::Mutex<Vec<String>>);

    #[async_trait::async_trait]
    impl Announcer for Recorder {
        async fn announce(&self, message: &str) -> Result<(), StoreError> {
            self.0.lock().unwrap().push(message.to_owned());
            Ok(())
        }
    }

    #[tokio::test]
    async fn changes_are_announced_and_the_cache_is_used_only_while_announcements_arrive() {
        let shared = Arc::new(Counting::default());
        let recorder = Arc::new(Recorder::default());
        let near = NearCache::with_announcer(shared.clone(), recorder.clone());
        let far = 4_000_000_000;
        let keys = vec!["a".to_owned()];
        near.put("a", b"1", far).await.unwrap();
        // Not subscribed yet: every read goes to the shared store.
        near.get_many(&keys).await.unwrap();
        near.get_many(&keys).await.unwrap();
        assert_eq!(shared.reads.load(Ordering::SeqCst), 2);
        near.subscribed(true);
        near.get_many(&keys).await.unwrap();
        near.get_many(&keys).await.unwrap();
        assert_eq!(
            shared.reads.load(Ordering::SeqCst),
            3,
            "cached once subscribed"
        );
        // Our own announcement is not acted on; another instance's drops the entry at once.
        let own = recorder.0.lock().unwrap()[0].clone();
        assert!(own.ends_with(" a"), "{own}");
        near.announced(&own);
        near.get_many(&keys).await.unwrap();
        assert_eq!(shared.reads.load(Ordering::SeqCst), 3);
        shared.inner.put("a", b"2", far).await.unwrap();
        near.announced("another-instance a");
        assert_eq!(near.get_many(&keys).await.unwrap()[0], Some(b"2".to_vec()));
        // The subscription lost: emptied and not used.
        near.subscribed(false);
        near.get_many(&keys).await.unwrap();
        near.get_many(&keys).await.unwrap();
        assert_eq!(shared.reads.load(Ordering::SeqCst), 6);
    }
}
