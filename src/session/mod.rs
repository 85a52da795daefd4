//! Sessions: the model ([`UserSession`](model::UserSession)), its encodings (cookie chunks, and
//! sealed entries on the server), the stores (in memory, Redis), the one-time and
//! ended-session records, logins and logouts under way, and the policy that decides whether a
//! session is still good. No HTTP and no web framework here.

pub(crate) mod chunks;
pub(crate) mod model;
#[cfg(feature = "redis")]
pub(crate) mod near_cache;
pub(crate) mod pending;
pub(crate) mod policy;
pub(crate) mod records;
#[cfg(feature = "redis")]
pub(crate) mod redis;
pub(crate) mod requirement;
pub(crate) mod seal;
pub(crate) mod server;
pub(crate) mod store;

use std::sync::Arc;

use crate::config::{OidcConfig, SessionStoreKind};
use records::Records;
use server::ServerSessions;
use store::{MemoryStore, Store};

/// The stores of an application, chosen by its configuration at ignite: the records (used
/// one-time values, ended sessions), and the store shared by every instance (Redis), if any.
pub(crate) struct Stores {
    pub records: Arc<Records>,
    pub shared: Option<Arc<dyn Store>>,
}

/// The near cache in front of `redis`: with announcements of changes between the instances
/// when they can be followed (inside a Tokio runtime), else with its one-second bound alone.
#[cfg(feature = "redis")]
fn near_cache_of(redis: &Arc<redis::RedisStore>) -> Arc<dyn Store> {
    use near_cache::NearCache;
    if tokio::runtime::Handle::try_current().is_err() {
        return Arc::new(NearCache::new(redis.clone()));
    }
    let near = Arc::new(NearCache::with_announcer(redis.clone(), redis.clone()));
    redis.follow(Arc::downgrade(&near));
    near
}

impl Stores {
    /// Redis when `redis_url` (or `redis_cluster_nodes`) is configured (connected at first
    /// use), else this process.
    pub fn from_config(config: &OidcConfig) -> Result<Self, String> {
        let cluster = &config.redis_cluster_nodes;
        match (&config.redis_url, cluster.is_empty()) {
            #[cfg(feature = "redis")]
            (Some(_), _) | (None, false) => {
                let timeout = std::time::Duration::from_secs(config.http_timeout.min(5));
                let redis = Arc::new(match &config.redis_url {
                    Some(url) => redis::RedisStore::new(url, timeout)
                        .map_err(|e| format!("oidc.redis_url: {e}"))?,
                    None => redis::RedisStore::cluster(cluster, timeout)
                        .map_err(|e| format!("oidc.redis_cluster_nodes: {e}"))?,
                });
                let mut store: Arc<dyn Store> = redis.clone();
                if config.near_cache {
                    store = near_cache_of(&redis);
                }
                Ok(Stores {
                    records: Arc::new(Records::new(store.clone(), store.clone(), false)),
                    shared: Some(store),
                })
            }
            #[cfg(not(feature = "redis"))]
            (Some(_), _) | (None, false) => Err("oidc.redis_url: needs the `redis` feature".into()),
            (None, true) => Ok(Stores {
                records: Arc::new(Records::new(
                    Arc::new(MemoryStore::default()),
                    Arc::new(MemoryStore::keeping_all()),
                    true,
                )),
                shared: None,
            }),
        }
    }

    /// Where sessions are kept on the server (`session_store`), sealed under a key derived from
    /// `secret_key` (the application's; every instance sharing a store must derive the same
    /// key); `None` when sessions are kept in cookies.
    pub fn server_sessions(
        &self,
        config: &OidcConfig,
        secret_key: Option<&[u8]>,
    ) -> Result<Option<ServerSessions>, String> {
        let store: Arc<dyn Store> =
            match (config.session_store, &self.shared) {
                (SessionStoreKind::Cookie, _) => return Ok(None),
                (SessionStoreKind::Redis, Some(shared)) => shared.clone(),
                (SessionStoreKind::Redis, None) => return Err(
                    "oidc.session_store: `redis` needs oidc.redis_url or oidc.redis_cluster_nodes"
                        .into(),
                ),
                _ => Arc::new(MemoryStore::default()),
            };
        let secret = match secret_key {
            Some(secret) => secret.to_vec(),
            // Sessions in this process die with it: a key of this process is enough.
            None if config.session_store == SessionStoreKind::Memory => {
                crate::util::random::random_token().into_bytes()
            }
            None => {
                return Err(
                    "oidc.session_store = \"redis\" needs Rocket's `secret_key`, the same on \
                     every instance (the sessions are encrypted with a key derived from it)"
                        .into(),
                )
            }
        };
        let previous: Vec<&[u8]> = match secret_key {
            Some(_) => config
                .previous_secret_keys
                .iter()
                .map(|k| k.secret().as_bytes())
                .collect(),
            None => Vec::new(),
        };
        Ok(Some(ServerSessions::new(
            store,
            &secret,
            &previous,
            config.session_inactivity_timeout,
        )))
    }
}
