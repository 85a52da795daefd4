//! Providers: metadata (discovery or static), signing keys, and the lazily initialised,
//! retried state of each configured provider.

mod keys;
mod metadata;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

pub(crate) use keys::KeyStore;
pub use metadata::ProviderMetadata;

use crate::config::ProviderConfig;
use crate::error::ProviderError;
use crate::http::HttpClient;

/// How long a failed discovery is remembered before the next request tries again.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// A provider that has been discovered: its metadata and keys.
pub(crate) struct ReadyProvider {
    pub metadata: ProviderMetadata,
    pub keys: KeyStore,
}

/// One configured provider and its discovery state.
pub(crate) struct ProviderClient {
    pub name: String,
    pub config: ProviderConfig,
    ready: RwLock<Option<Arc<ReadyProvider>>>,
    /// The last failure; the lock makes concurrent requests share one discovery.
    last_failure: tokio::sync::Mutex<Option<(Instant, ProviderError)>>,
}

impl ProviderClient {
    pub fn new(name: String, config: ProviderConfig) -> Self {
        ProviderClient {
            name,
            config,
            ready: RwLock::new(None),
            last_failure: tokio::sync::Mutex::new(None),
        }
    }

    /// The discovered provider, without any network call, if discovery already succeeded.
    pub fn ready_now(&self) -> Option<Arc<ReadyProvider>> {
        self.ready.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The discovered provider, discovering it first if needed. A failure is remembered for a
    /// short while so that an outage does not turn every request into a provider call.
    pub async fn ready(&self, http: &HttpClient) -> Result<Arc<ReadyProvider>, ProviderError> {
        if let Some(ready) = self.ready_now() {
            return Ok(ready);
        }
        let mut last_failure = self.last_failure.lock().await;
        if let Some(ready) = self.ready_now() {
            return Ok(ready);
        }
        if let Some((at, error)) = &*last_failure {
            if at.elapsed() < RETRY_AFTER {
                return Err(error.clone());
            }
        }
        match self.discover(http).await {
            Ok(ready) => {
                let ready = Arc::new(ready);
                *self.ready.write().unwrap_or_else(|e| e.into_inner()) = Some(ready.clone());
                *last_failure = None;
                log::info!("OpenID provider `{}` is ready", self.name);
                Ok(ready)
            }
            Err(error) => {
                log::warn!("OpenID provider `{}` is unavailable: {error}", self.name);
                *last_failure = Some((Instant::now(), error.clone()));
                Err(error)
            }
        }
    }

    async fn discover(&self, http: &HttpClient) -> Result<ReadyProvider, ProviderError> {
        let metadata = match &self.config.metadata {
            Some(static_metadata) => static_metadata.clone(),
            None => {
                ProviderMetadata::discover(
                    http,
                    self.config.issuer(),
                    self.config.allow_insecure_http,
                )
                .await?
            }
        };
        let interval = Duration::from_secs(self.config.jwks_refetch_interval);
        let keys = KeyStore::fetch_new(http, &metadata.jwks_uri, interval).await?;
        Ok(ReadyProvider { metadata, keys })
    }
}
