//! The Redis (or Valkey) [`Store`] (feature `redis`): one-time values and ended sessions
//! shared by every instance of the application, so that a callback may land on any instance
//! and a logout on one ends the session on all.
//!
//! One multiplexed connection per process (redis-rs `ConnectionManager`: reconnects by itself
//! with backoff), opened at first use, so that the application starts while Redis is down.
//! Every call has a timeout; a failure is a [`StoreError`] (503), never a silent success.
//!
//! With a Redis Cluster (`redis_cluster_nodes`), redis-rs's cluster client: it learns the
//! slots, follows `MOVED`/`ASK` redirections and failovers. A read of keys on several slots
//! is one `MGET` per slot, sent at once. The only command of several steps (`add_member`, a
//! Lua script) touches one key, so one slot. A connection that failed is replaced.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use tokio::sync::OnceCell;

use crate::error::StoreError;
use crate::session::near_cache::{Announcer, NearCache};
use crate::session::store::Store;

/// Every key of this crate starts with this.
const PREFIX: &str = "rocket_openidconnect:";

/// The channel on which instances announce the keys they changed (for their near caches).
const CHANNEL: &str = "rocket_openidconnect:changed";

/// A single server, or a cluster.
#[allow(clippy::large_enum_variant)] // one per process: boxing would only add an indirection
enum Server {
    Single {
        client: redis::Client,
        connection: OnceCell<ConnectionManager>,
    },
    Cluster {
        client: ClusterClient,
        /// The connection and when it was made; replaced after an error (see `broken`).
        connection: tokio::sync::Mutex<Option<(ClusterConnection, Instant)>>,
        /// Set by a failed command: the next command makes a new connection (at most one a
        /// second). redis-rs 1.8.1's cluster connection was seen to time out every command
        /// for good after a primary was killed, long after the cluster had promoted its
        /// replica (benches/cluster.sh, about one run in two); a new one, which learns the
        /// slots afresh, works at once.
        broken: AtomicBool,
        /// A client for each configured node, for the subscription to announcements (which a
        /// cluster forwards to every node).
        nodes: Vec<redis::Client>,
    },
}

/// A connection to either (both are cheap handles to one multiplexed connection).
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// A store in Redis.
pub(crate) struct RedisStore {
    server: Server,
    timeout: Duration,
}

impl RedisStore {
    /// A store for `url` (`redis://`, `rediss://` for TLS, `unix://`); no connection yet.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        Ok(RedisStore {
            server: Server::Single {
                client,
                connection: OnceCell::new(),
            },
            timeout,
        })
    }

    /// A store in the Redis Cluster of which `nodes` are some nodes; no connection yet.
    pub fn cluster(nodes: &[String], timeout: Duration) -> Result<Self, String> {
        let client = redis::cluster::ClusterClientBuilder::new(nodes.iter().map(String::as_str))
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(2)
            .build()
            .map_err(|e| format!("{:?}", e.kind()))?;
        let nodes = nodes
            .iter()
            .map(|url| redis::Client::open(url.as_str()).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        Ok(RedisStore {
            server: Server::Cluster {
                client,
                connection: tokio::sync::Mutex::new(None),
                broken: AtomicBool::new(false),
                nodes,
            },
            timeout,
        })
    }

    async fn connection(&self) -> Result<Connection, StoreError> {
        match &self.server {
            Server::Single { client, connection } => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_secs(1));
                let manager = connection
                    .get_or_try_init(|| ConnectionManager::new_with_config(client.clone(), config))
                    .await
                    .map_err(unavailable)?;
                Ok(Connection::Single(manager.clone()))
            }
            Server::Cluster {
                client,
                connection,
                broken,
                ..
            } => {
                let mut current = connection.lock().await;
                if current.as_ref().is_some_and(|(_, made)| {
                    broken.load(Ordering::SeqCst) && made.elapsed() >= REMAKE_AFTER
                }) {
                    *current = None;
                }
                if current.is_none() {
                    let made = tokio::time::timeout(self.timeout, client.get_async_connection())
                        .await
                        .map_err(|_| {
                            StoreError::Unavailable("Redis did not answer in time".into())
                        })?
                        .map_err(unavailable)?;
                    broken.store(false, Ordering::SeqCst);
                    *current = Some((made, Instant::now()));
                }
                let (cluster, _) = current.as_ref().expect("made above");
                Ok(Connection::Cluster(cluster.clone()))
            }
        }
    }

    /// Runs `command`, within the timeout.
    async fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> Result<T, StoreError> {
        let connection = self.connection().await?;
        let answer = async {
            match connection {
                Connection::Single(mut c) => command.query_async(&mut c).await,
                Connection::Cluster(mut c) => command.query_async(&mut c).await,
            }
        };
        let result = match tokio::time::timeout(self.timeout, answer).await {
            Ok(result) => result.map_err(unavailable),
            Err(_) => Err(StoreError::Unavailable(
                "Redis did not answer in time".into(),
            )),
        };
        if let (Err(_), Server::Cluster { broken, .. }) = (&result, &self.server) {
            broken.store(true, Ordering::SeqCst);
        }
        result
    }
}

/// `add_member`: KEYS[1] the set, ARGV: the member's expiry, the member, now, the set's expiry.
const ADD_MEMBER: &str = "redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2]) \
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3]) \
    redis.call('EXPIREAT', KEYS[1], ARGV[4], 'NX') \
    redis.call('EXPIREAT', KEYS[1], ARGV[4], 'GT') \
    return 1";

/// A broken cluster connection is replaced at most this often.
const REMAKE_AFTER: Duration = Duration::from_secs(1);

#[async_trait::async_trait]
impl Announcer for RedisStore {
    async fn announce(&self, message: &str) -> Result<(), StoreError> {
        let mut command = redis::cmd("PUBLISH");
        command.arg(CHANNEL).arg(message);
        let _: i64 = self.query(&command).await?;
        Ok(())
    }
}

impl RedisStore {
    /// Follows the announcements of the other instances for `near`, in a task of the current
    /// Tokio runtime, for as long as `near` lives: subscribed, the cache is used; the
    /// subscription lost, it is emptied and not used until it is back (tried every second; on
    /// a cluster, on the next configured node each time, since a cluster forwards what is
    /// published to every node). `false` if there is no runtime.
    pub fn follow(&self, near: std::sync::Weak<NearCache>) -> bool {
        let clients = match &self.server {
            Server::Single { client, .. } => vec![client.clone()],
            Server::Cluster { nodes, .. } => nodes.clone(),
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        let timeout = self.timeout;
        runtime.spawn(async move {
            use futures_util::StreamExt;
            for client in clients.iter().cycle() {
                let subscription = tokio::time::timeout(timeout, async {
                    let mut pubsub = client.get_async_pubsub().await?;
                    pubsub.subscribe(CHANNEL).await?;
                    Ok::<_, redis::RedisError>(pubsub)
                })
                .await;
                if let Ok(Ok(pubsub)) = subscription {
                    let Some(cache) = near.upgrade() else { return };
                    cache.subscribed(true);
                    drop(cache);
                    let mut messages = pubsub.into_on_message();
                    while let Some(message) = messages.next().await {
                        let Some(cache) = near.upgrade() else { return };
                        if let Ok(text) = message.get_payload::<String>() {
                            cache.announced(&text);
                        }
                    }
                }
                let Some(cache) = near.upgrade() else { return };
                cache.subscribed(false);
                drop(cache);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        true
    }
}

/// The error, without the URL (which may hold a password).
fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("Redis: {:?}", error.kind()))
}

/// `EXAT` must be in the future for the value to be kept at all.
fn expiry(expires_at: i64) -> i64 {
    expires_at.max(crate::util::clock::unix_now() + 1)
}

#[async_trait::async_trait]
impl Store for RedisStore {
    async fn insert_new(
        &self,
        key: &str,
        value: &[u8],
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let mut command = redis::cmd("SET");
        command
            .arg(format!("{PREFIX}{key}"))
            .arg(value)
            .arg("NX")
            .arg("EXAT")
            .arg(expiry(expires_at));
        let set: Option<String> = self.query(&command).await?;
        Ok(set.is_some())
    }

    async fn put(&self, key: &str, value: &[u8], expires_at: i64) -> Result<(), StoreError> {
        let mut command = redis::cmd("SET");
        command
            .arg(format!("{PREFIX}{key}"))
            .arg(value)
            .arg("EXAT")
            .arg(expiry(expires_at));
        let _: Option<String> = self.query(&command).await?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let mut command = redis::cmd("DEL");
        command.arg(format!("{PREFIX}{key}"));
        let _: i64 = self.query(&command).await?;
        Ok(())
    }

    async fn add_member(&self, set: &str, member: &str, expires_at: i64) -> Result<(), StoreError> {
        // A sorted set scored by expiry: the expired members leave at every addition, the set
        // itself at the expiry of its longest-lived member. One script on one key (so one
        // slot): atomic, and, unlike a MULTI/EXEC transaction, redirected by redis-rs's
        // cluster client when its slot has moved (a transaction got `MOVED` after a failover).
        let mut command = redis::cmd("EVAL");
        command
            .arg(ADD_MEMBER)
            .arg(1)
            .arg(format!("{PREFIX}{set}"))
            .arg(expires_at)
            .arg(member)
            .arg(crate::util::clock::unix_now())
            .arg(expiry(expires_at));
        let _: i64 = self.query(&command).await?;
        Ok(())
    }

    async fn members(&self, set: &str) -> Result<Vec<String>, StoreError> {
        let mut command = redis::cmd("ZRANGE");
        command
            .arg(format!("{PREFIX}{set}"))
            .arg(format!("({}", crate::util::clock::unix_now()))
            .arg("+inf")
            .arg("BYSCORE");
        self.query(&command).await
    }

    async fn remove_member(&self, set: &str, member: &str) -> Result<(), StoreError> {
        let mut command = redis::cmd("ZREM");
        command.arg(format!("{PREFIX}{set}")).arg(member);
        let _: i64 = self.query(&command).await?;
        Ok(())
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = keys.iter().map(|k| format!("{PREFIX}{k}")).collect();
        if matches!(self.server, Server::Single { .. }) {
            let mut command = redis::cmd("MGET");
            command.arg(&keys);
            return self.query(&command).await;
        }
        // A cluster: one MGET per slot, all at once. (redis-rs splits a multi-slot MGET by
        // itself, but after a failover that merged two of its groups onto one node, 1.8.1
        // answered every such MGET with a "mismatch in the number of multi-slot results"
        // error and never refreshed its slot map: found by tests/redis_cluster.rs. Commands
        // on one slot follow MOVED redirections like any other.)
        let mut slots: Vec<(redis::cluster_routing::Slot, Vec<usize>)> = Vec::new();
        for (index, key) in keys.iter().enumerate() {
            let slot = redis::cluster_routing::Slot::for_key(key);
            match slots.iter_mut().find(|(s, _)| *s == slot) {
                Some((_, indexes)) => indexes.push(index),
                None => slots.push((slot, vec![index])),
            }
        }
        let answers = futures_util::future::try_join_all(slots.iter().map(|(_, indexes)| {
            let mut command = redis::cmd("MGET");
            for index in indexes {
                command.arg(&keys[*index]);
            }
            async move { self.query::<Vec<Option<Vec<u8>>>>(&command).await }
        }))
        .await?;
        let mut values = vec![None; keys.len()];
        for ((_, indexes), answer) in slots.iter().zip(answers) {
            if answer.len() != indexes.len() {
                return Err(StoreError::Unavailable(
                    "Redis: an MGET answered the wrong number of values".into(),
                ));
            }
            for (index, value) in indexes.iter().zip(answer) {
                values[*index] = value;
            }
        }
        Ok(values)
    }
}
