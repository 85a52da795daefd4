//! The provider's signing keys: fetched with the metadata, cached for at most an hour, and
//! refetched when a token names a key we do not have or does not verify (key rotation), at most
//! once per interval. The same document's encryption keys (what request objects are encrypted
//! to) are kept beside them.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::CoreJsonWebKeySet;

use crate::client::http::{invalid, HttpClient};
use crate::error::{ProviderError, TokenError};
use crate::protocol::jwk::{encryption_keys, signing_keys};

const ENDPOINT: &str = "key set endpoint (jwks_uri)";

/// Keys older than this are refetched before use (a withdrawn key stops being trusted); if the
/// refetch fails, the old keys keep working until the next attempt.
const MAX_AGE: Duration = Duration::from_secs(3600);

/// The cached key set of one provider.
pub(crate) struct KeyStore {
    /// The provider's name, for log lines.
    provider: String,
    jwks_uri: String,
    /// The keys and when they were (last tried to be) fetched.
    keys: RwLock<(Arc<CoreJsonWebKeySet>, Instant)>,
    /// The provider's keys for encryption (`use: enc`), from the last fetch that succeeded.
    encryption: RwLock<Arc<Vec<serde_json::Value>>>,
    /// When the last refetch for an unknown key happened; the lock also makes concurrent
    /// refetches wait for one fetch instead of each sending their own.
    last_refetch: tokio::sync::Mutex<Option<Instant>>,
    refetch_interval: Duration,
}

impl KeyStore {
    /// Fetches the key set for the first time.
    pub async fn fetch_new(
        http: &HttpClient,
        provider: &str,
        jwks_uri: &str,
        refetch_interval: Duration,
    ) -> Result<Self, ProviderError> {
        let (keys, encryption) = fetch(http, provider, jwks_uri).await?;
        Ok(KeyStore {
            provider: provider.to_owned(),
            jwks_uri: jwks_uri.to_owned(),
            keys: RwLock::new((Arc::new(keys), Instant::now())),
            encryption: RwLock::new(Arc::new(encryption)),
            last_refetch: tokio::sync::Mutex::new(None),
            refetch_interval,
        })
    }

    fn read(&self) -> (Arc<CoreJsonWebKeySet>, Instant) {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn store(&self, keys: Arc<CoreJsonWebKeySet>, at: Instant) {
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = (keys, at);
    }

    fn store_encryption(&self, keys: Vec<serde_json::Value>) {
        *self.encryption.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
    }

    /// The provider's keys for encryption, as of the last fetch (refreshed with the signing
    /// keys).
    pub fn encryption_keys(&self) -> Arc<Vec<serde_json::Value>> {
        self.encryption
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The keys, refetched first if they are older than an hour.
    pub async fn current(&self, http: &HttpClient) -> Arc<CoreJsonWebKeySet> {
        let (keys, fetched_at) = self.read();
        if fetched_at.elapsed() < MAX_AGE {
            return keys;
        }
        let _lock = self.last_refetch.lock().await;
        let (keys, fetched_at) = self.read();
        if fetched_at.elapsed() < MAX_AGE {
            return keys;
        }
        match fetch(http, &self.provider, &self.jwks_uri).await {
            Ok((fresh, encryption)) => {
                self.store_encryption(encryption);
                let fresh = Arc::new(fresh);
                self.store(fresh.clone(), Instant::now());
                fresh
            }
            Err(error) => {
                log::warn!(
                    "OpenID Connect: keeping the cached key set of provider `{}`: {error}",
                    self.provider
                );
                // Try again after one refetch interval, not on every request.
                let retry_at = Instant::now()
                    .checked_sub(MAX_AGE.saturating_sub(self.refetch_interval))
                    .unwrap_or_else(Instant::now);
                self.store(keys.clone(), retry_at);
                keys
            }
        }
    }

    /// Called when a token names a key that `seen` does not have, or does not verify with it.
    /// Returns a newer key set: one that another task fetched meanwhile, or one fetched now if
    /// the last refetch is older than the interval. `Ok(None)` means "no newer keys; reject".
    pub async fn refetch(
        &self,
        http: &HttpClient,
        seen: &Arc<CoreJsonWebKeySet>,
    ) -> Result<Option<Arc<CoreJsonWebKeySet>>, ProviderError> {
        let mut last = self.last_refetch.lock().await;
        let (current, _) = self.read();
        if !Arc::ptr_eq(&current, seen) {
            return Ok(Some(current));
        }
        if last.is_some_and(|at| at.elapsed() < self.refetch_interval) {
            return Ok(None);
        }
        *last = Some(Instant::now());
        let (fresh, encryption) = fetch(http, &self.provider, &self.jwks_uri).await?;
        self.store_encryption(encryption);
        let fresh = Arc::new(fresh);
        self.store(fresh.clone(), Instant::now());
        log::info!(
            "OpenID Connect: refetched the key set of provider `{}`",
            self.provider
        );
        Ok(Some(fresh))
    }
}

impl KeyStore {
    /// Runs `check` (a signature check) with the current keys; if it fails for want of a key
    /// (an unknown `kid`, or a signature that does not verify: the provider may have rotated
    /// its keys), once more with a newer key set, if [`refetch`](Self::refetch) gives one. The
    /// outer error is a failed fetch.
    pub async fn check_with<T>(
        &self,
        http: &HttpClient,
        check: impl Fn(&CoreJsonWebKeySet) -> Result<T, TokenError>,
    ) -> Result<Result<T, TokenError>, ProviderError> {
        let keys = self.current(http).await;
        let first = check(&keys);
        if !matches!(
            first,
            Err(TokenError::UnknownKey(_) | TokenError::Signature)
        ) {
            return Ok(first);
        }
        Ok(match self.refetch(http, &keys).await? {
            Some(fresh) => check(&fresh),
            None => first,
        })
    }
}

/// Fetches the key set and keeps the keys that may verify signatures (each refused key is
/// named in one log line, with the reason), and those a client may encrypt to.
async fn fetch(
    http: &HttpClient,
    provider: &str,
    jwks_uri: &str,
) -> Result<(CoreJsonWebKeySet, Vec<serde_json::Value>), ProviderError> {
    let response = http.send(ENDPOINT, http.get(jwks_uri)).await?;
    if response.status != 200 {
        return Err(ProviderError::Status {
            endpoint: ENDPOINT,
            status: response.status,
        });
    }
    let object = response.json_object(ENDPOINT)?;
    let set = signing_keys(&object).map_err(|why| invalid(ENDPOINT, why))?;
    for refused in &set.refused {
        // A key for encryption is no mistake of the provider's (request objects are
        // encrypted to it): only a debug line.
        let level = if refused.reason == "it is marked for encryption" {
            log::Level::Debug
        } else {
            log::Level::Warn
        };
        log::log!(
            level,
            "OpenID Connect: key `{}` of provider `{provider}` is refused: {}",
            refused.kid,
            refused.reason
        );
    }
    Ok((set.keys, encryption_keys(&object)))
}
