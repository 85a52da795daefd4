//! One cache for work that must not run twice at once: a refresh of one session, the
//! application's token for one scope, the introspection of one bearer token. Callers that ask
//! for a key while its value is being computed wait for that computation and share its result.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// A computed value and until when (Unix time) it may be handed out again.
struct Cached<V> {
    value: V,
    until: i64,
}

type Slot<V> = Arc<tokio::sync::Mutex<Option<Cached<V>>>>;

/// A bounded map from keys to values computed at most once at a time per key.
///
/// At most `capacity` keys are kept. When a new key finds the map full, the keys nobody is
/// computing or waiting for are dropped: first those whose value has expired, then the half
/// that expires soonest. A key in use is never dropped, so the bound can only be exceeded by
/// the number of computations running at once.
pub(crate) struct SingleFlight<K, V> {
    slots: Mutex<HashMap<K, Slot<V>>>,
    capacity: usize,
}

impl<K: Eq + Hash + Clone, V: Clone> SingleFlight<K, V> {
    /// An empty cache of at most `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        SingleFlight {
            slots: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    fn slot(&self, key: K, now: i64) -> Slot<V> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if !slots.contains_key(&key) && slots.len() >= self.capacity {
            evict(&mut slots, now);
        }
        slots.entry(key).or_default().clone()
    }

    /// The value of `key`: the cached one while it is good (its `until` is after `now`) and
    /// `reuse` accepts it, else the result of `compute`, which returns the value and until when
    /// it may be handed out again (`None`: not kept, the next caller computes anew).
    /// Concurrent callers for one key run `compute` once.
    pub async fn get_or_compute<F, Fut>(
        &self,
        key: K,
        now: i64,
        reuse: impl FnOnce(&V) -> bool,
        compute: F,
    ) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = (V, Option<i64>)>,
    {
        let slot = self.slot(key, now);
        let mut cached = slot.lock().await;
        if let Some(entry) = &*cached {
            if entry.until > now && reuse(&entry.value) {
                return entry.value.clone();
            }
        }
        let (value, until) = compute().await;
        *cached = until.map(|until| Cached {
            value: value.clone(),
            until,
        });
        value
    }

    /// How many keys are kept (for tests and bounds).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Makes room in a full map: drops the idle keys whose value expired (or that have none), and
/// if that is not enough, the idle half that expires soonest.
fn evict<K: Eq + Hash, V>(slots: &mut HashMap<K, Slot<V>>, now: i64) {
    // `None` for a key in use (computing, or waited for); else its expiry.
    let idle_until = |slot: &Slot<V>| -> Option<i64> {
        if Arc::strong_count(slot) > 1 {
            return None;
        }
        let cached = slot.try_lock().ok()?;
        Some(cached.as_ref().map_or(i64::MIN, |c| c.until))
    };
    slots.retain(|_, slot| idle_until(slot).is_none_or(|until| until > now));
    let capacity = slots.capacity().max(1);
    if slots.len() * 4 < capacity * 3 {
        return;
    }
    let mut expiries: Vec<i64> = slots.values().filter_map(idle_until).collect();
    if expiries.is_empty() {
        return;
    }
    expiries.sort_unstable();
    let cut = expiries[expiries.len() / 2];
    slots.retain(|_, slot| idle_until(slot).is_none_or(|until| until > cut));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_one_computation() {
        let cache = Arc::new(SingleFlight::<&str, u32>::new(8));
        let runs = Arc::new(AtomicUsize::new(0));
        let (release, wait) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (cache, runs, mut wait) = (cache.clone(), runs.clone(), wait.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_compute(
                        "k",
                        100,
                        |_| true,
                        || async move {
                            runs.fetch_add(1, Ordering::SeqCst);
                            let _ = wait.wait_for(|go| *go).await;
                            (7, Some(200))
                        },
                    )
                    .await
            }));
        }
        // Every task is in (computing or waiting) before the computation may end.
        while Arc::strong_count(&cache.slot("k", 100)) < 12 {
            tokio::task::yield_now().await;
        }
        release.send(true).unwrap();
        for task in tasks {
            assert_eq!(task.await.unwrap(), 7);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn values_are_reused_until_they_expire_and_only_when_accepted() {
        let cache = SingleFlight::<&str, u32>::new(8);
        let get = |now, reuse: bool, value| {
            cache.get_or_compute(
                "k",
                now,
                move |_| reuse,
                move || async move { (value, Some(150)) },
            )
        };
        assert_eq!(get(100, true, 1).await, 1);
        assert_eq!(get(149, true, 2).await, 1, "still good");
        assert_eq!(get(149, false, 3).await, 3, "refused by the caller");
        assert_eq!(get(150, true, 4).await, 4, "expired");
        let not_kept = cache
            .get_or_compute("n", 100, |_| true, || async { (5, None) })
            .await;
        assert_eq!(not_kept, 5);
        let again = cache
            .get_or_compute("n", 100, |_| true, || async { (6, None) })
            .await;
        assert_eq!(again, 6, "a value without `until` is not kept");
    }

    #[tokio::test]
    async fn the_cache_stays_bounded_and_drops_expired_keys_first() {
        let cache = SingleFlight::<u32, u32>::new(100);
        // One long-lived key, then many short-lived ones.
        cache
            .get_or_compute(0, 100, |_| true, || async { (0, Some(10_000)) })
            .await;
        for key in 1..1_000 {
            cache
                .get_or_compute(
                    key,
                    100 + i64::from(key),
                    |_| true,
                    move || async move { (key, Some(101 + i64::from(key))) },
                )
                .await;
            assert!(cache.len() <= 100, "{}", cache.len());
        }
        let kept = cache
            .get_or_compute(0, 1_200, |_| true, || async { (99, Some(10_000)) })
            .await;
        assert_eq!(kept, 0, "the long-lived key survived the flood");
    }
}
