//! The provider's signing keys: fetched with the metadata, cached, and refetched when a token
//! names a key we do not have (key rotation), at most once per interval.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::CoreJsonWebKeySet;

use crate::error::ProviderError;
use crate::http::{invalid, HttpClient};

const ENDPOINT: &str = "key set endpoint (jwks_uri)";

/// The cached key set of one provider.
pub(crate) struct KeyStore {
    jwks_uri: String,
    keys: RwLock<Arc<CoreJsonWebKeySet>>,
    /// When the last refetch for an unknown key happened; the lock also makes concurrent
    /// refetches wait for one fetch instead of each sending their own.
    last_refetch: tokio::sync::Mutex<Option<Instant>>,
    refetch_interval: Duration,
}

impl KeyStore {
    /// Fetches the key set for the first time.
    pub async fn fetch_new(
        http: &HttpClient,
        jwks_uri: &str,
        refetch_interval: Duration,
    ) -> Result<Self, ProviderError> {
        let keys = fetch(http, jwks_uri).await?;
        Ok(KeyStore {
            jwks_uri: jwks_uri.to_owned(),
            keys: RwLock::new(Arc::new(keys)),
            last_refetch: tokio::sync::Mutex::new(None),
            refetch_interval,
        })
    }

    /// The keys as they are now.
    pub fn current(&self) -> Arc<CoreJsonWebKeySet> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Called when a token names a key that `seen` does not have. Returns a newer key set: one
    /// that another task fetched meanwhile, or one fetched now if the last refetch is older than
    /// the interval. `Ok(None)` means "no newer keys; reject the token".
    pub async fn refetch(
        &self,
        http: &HttpClient,
        seen: &Arc<CoreJsonWebKeySet>,
    ) -> Result<Option<Arc<CoreJsonWebKeySet>>, ProviderError> {
        let mut last = self.last_refetch.lock().await;
        let current = self.current();
        if !Arc::ptr_eq(&current, seen) {
            return Ok(Some(current));
        }
        if last.is_some_and(|at| at.elapsed() < self.refetch_interval) {
            return Ok(None);
        }
        *last = Some(Instant::now());
        let fresh = Arc::new(fetch(http, &self.jwks_uri).await?);
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = fresh.clone();
        log::info!("refetched the key set from {}", self.jwks_uri);
        Ok(Some(fresh))
    }
}

async fn fetch(http: &HttpClient, jwks_uri: &str) -> Result<CoreJsonWebKeySet, ProviderError> {
    let response = http.send(ENDPOINT, http.get(jwks_uri)).await?;
    if response.status != 200 {
        return Err(ProviderError::Status {
            endpoint: ENDPOINT,
            status: response.status,
        });
    }
    let object = response.json_object(ENDPOINT)?;
    if !object.get("keys").is_some_and(|k| k.is_array()) {
        return Err(invalid(ENDPOINT, "`keys` is not an array"));
    }
    // Keys of unknown types are skipped by the parser; what remains is usable.
    serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| invalid(ENDPOINT, e.to_string()))
}
