//! One configured provider: its metadata (discovery or static), signing keys and client
//! credentials, discovered lazily, shared by every request, and retried after a failure.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::client::discovery::discover;
use crate::client::dpop::DpopNonces;
use crate::client::http::HttpClient;
use crate::client::keys::KeyStore;
use crate::client::registration::{self, ClientCredentials, ClientUris};
use crate::config::ProviderConfig;
use crate::error::ProviderError;
use crate::protocol::issuer::IssuerRule;
use crate::protocol::metadata::ProviderMetadata;
use crate::protocol::rp_keys::RpKeys;
use crate::session::seal::SessionCipher;
use crate::util::metrics::OpenCount;

/// How long a failed discovery is remembered before a request tries again.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// A provider that has been discovered: its metadata and keys.
pub(crate) struct ReadyProvider {
    pub metadata: ProviderMetadata,
    pub keys: Arc<KeyStore>,
    pub credentials: ClientCredentials,
}

/// One configured provider and its discovery state.
pub(crate) struct ProviderClient {
    pub name: String,
    pub config: ProviderConfig,
    pub uris: ClientUris,
    /// The provider's HTTP client (its TLS settings and proxy).
    pub http: HttpClient,
    /// A registered client the provider refused: not to be reused from the store (another
    /// instance may have stored a newer one meanwhile, which is).
    refused_client: Mutex<Option<String>>,
    ready: RwLock<Option<Arc<ReadyProvider>>>,
    last_failure: Mutex<Option<(Instant, ProviderError)>>,
    /// Held while a discovery runs, so concurrent requests share one.
    discovering: tokio::sync::Mutex<()>,
    /// Whether the last background refresh of the metadata failed (logged once).
    refresh_failing: AtomicBool,
    /// The logins started within the login timeout and not finished (for the metrics).
    pub pending: OpenCount,
    /// The relying party's own keys (client assertions).
    pub keys: Arc<RpKeys>,
    /// The provider's DPoP nonces (RFC 9449 8), by server.
    pub dpop_nonces: DpopNonces,
    /// Seals the registration access token in the registration store (none without a
    /// secret key: the registration is then not managed).
    store_cipher: Option<Arc<SessionCipher>>,
}

impl ProviderClient {
    /// The HTTP client and the DPoP nonces, for a request with a proof.
    pub fn dpop(&self) -> (&HttpClient, &DpopNonces) {
        (&self.http, &self.dpop_nonces)
    }

    pub fn new(
        name: String,
        config: ProviderConfig,
        uris: ClientUris,
        http: HttpClient,
        keys: Arc<RpKeys>,
        login_timeout: u64,
    ) -> Self {
        ProviderClient {
            keys,
            dpop_nonces: DpopNonces::default(),
            pending: OpenCount::new(login_timeout),
            name,
            config,
            uris,
            http,
            refused_client: Mutex::new(None),
            ready: RwLock::new(None),
            last_failure: Mutex::new(None),
            discovering: tokio::sync::Mutex::new(()),
            refresh_failing: AtomicBool::new(false),
            store_cipher: None,
        }
    }

    /// The same client with `cipher` for its registration store.
    pub fn with_store_cipher(mut self, cipher: Option<Arc<SessionCipher>>) -> Self {
        self.store_cipher = cipher;
        self
    }

    /// The discovered provider, without any network call, if discovery already succeeded.
    pub fn ready_now(&self) -> Option<Arc<ReadyProvider>> {
        self.ready.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn recent_failure(&self) -> Option<(Instant, ProviderError)> {
        self.last_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The discovered provider, discovering it first if needed. A failure is remembered for a
    /// short while, and while a retry runs other requests fail fast with the last failure, so
    /// an outage neither turns every request into a provider call nor makes requests queue.
    pub async fn ready(&self) -> Result<Arc<ReadyProvider>, ProviderError> {
        if let Some(ready) = self.ready_now() {
            return Ok(ready);
        }
        let remembered = self.recent_failure();
        if let Some((at, error)) = &remembered {
            if at.elapsed() < RETRY_AFTER {
                return Err(error.clone());
            }
        }
        let _discovering = match (self.discovering.try_lock(), remembered) {
            (Ok(guard), _) => guard,
            (Err(_), Some((_, error))) => return Err(error),
            (Err(_), None) => self.discovering.lock().await,
        };
        if let Some(ready) = self.ready_now() {
            return Ok(ready);
        }
        if let Some((at, error)) = self.recent_failure() {
            if at.elapsed() < RETRY_AFTER {
                return Err(error);
            }
        }
        let result = self.discover().await;
        let mut last_failure = self.last_failure.lock().unwrap_or_else(|e| e.into_inner());
        match result {
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

    /// The discovery document, checked.
    async fn read_metadata(&self) -> Result<ProviderMetadata, ProviderError> {
        let issuer = self.config.issuer();
        let multi_tenant = self.config.is_multi_tenant();
        discover(&self.http, issuer, self.config.http_allowed(), multi_tenant).await
    }

    async fn fetch_keys(&self, jwks_uri: &str) -> Result<Arc<KeyStore>, ProviderError> {
        let interval = Duration::from_secs(self.config.jwks_refetch_interval);
        Ok(Arc::new(
            KeyStore::fetch_new(&self.http, &self.name, jwks_uri, interval).await?,
        ))
    }

    async fn discover(&self) -> Result<ReadyProvider, ProviderError> {
        let http = &self.http;
        let metadata = match &self.config.metadata {
            Some(static_metadata) => static_metadata.clone(),
            None => self.read_metadata().await?,
        };
        let keys = self.fetch_keys(&metadata.jwks_uri).await?;
        let refused = self
            .refused_client
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let credentials = registration::credentials(
            http,
            &self.config,
            &metadata,
            &self.uris,
            refused.as_deref(),
            self.store_cipher.as_deref(),
        )
        .await?;
        Ok(ReadyProvider {
            metadata,
            keys,
            credentials,
        })
    }

    /// Re-reads the discovery document (the fairing does, every `metadata_refresh_interval`
    /// seconds): a changed endpoint or `jwks_uri` takes effect at once (a new `jwks_uri`'s keys
    /// are fetched first); a failure keeps the metadata in use and is logged once, until a
    /// refresh succeeds again. Nothing to do for static metadata, or before the first
    /// discovery (which the next request makes).
    pub async fn refresh_metadata(&self) {
        let Some(current) = self.ready_now().filter(|_| self.config.metadata.is_none()) else {
            return;
        };
        let fresh = async {
            let metadata = self.read_metadata().await?;
            if metadata == current.metadata {
                return Ok(None);
            }
            let keys = if metadata.jwks_uri == current.metadata.jwks_uri {
                current.keys.clone()
            } else {
                self.fetch_keys(&metadata.jwks_uri).await?
            };
            Ok::<_, ProviderError>(Some(ReadyProvider {
                metadata,
                keys,
                credentials: current.credentials.clone(),
            }))
        };
        match fresh.await {
            Ok(fresh) => {
                if self.refresh_failing.swap(false, Ordering::Relaxed) {
                    log::info!(
                        "OpenID provider `{}`: its metadata refresh works again",
                        self.name
                    );
                }
                if let Some(fresh) = fresh {
                    *self.ready.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(fresh));
                    log::info!(
                        "OpenID provider `{}`: its metadata changed; in use now",
                        self.name
                    );
                }
            }
            Err(error) => {
                if !self.refresh_failing.swap(true, Ordering::Relaxed) {
                    log::warn!(
                        "OpenID provider `{}`: the metadata refresh failed, the metadata in use \
                         stays: {error}",
                        self.name
                    );
                }
            }
        }
    }

    /// The provider refused our dynamically registered client: forget it, so that the next
    /// login registers a new one (and does not reuse the stored one).
    pub fn forget_registration(&self, client_id: &str) {
        *self
            .refused_client
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(client_id.to_owned());
        *self.ready.write().unwrap_or_else(|e| e.into_inner()) = None;
        log::warn!(
            "OpenID provider `{}` refused the registered client; it will register again",
            self.name
        );
    }

    /// The rule a token's `iss` follows: the discovered issuer, or for a multi-tenant
    /// provider its template with the token's `tid`.
    pub fn issuer_rule<'a>(&'a self, ready: &'a ReadyProvider) -> IssuerRule<'a> {
        match &self.config.allowed_tenants {
            Some(allowed) => IssuerRule::Tenant {
                template: &ready.metadata.issuer,
                allowed,
            },
            None => IssuerRule::Exact(&ready.metadata.issuer),
        }
    }

    /// Whether a session made for `client_id` belongs to this provider's client, without any
    /// network call: the configured client, or the registered one once known (a registered
    /// client not known yet is not checked).
    pub fn accepts_client_id(&self, client_id: &str) -> bool {
        match &self.config.client_id {
            Some(configured) => configured == client_id,
            None => self
                .ready_now()
                .is_none_or(|ready| ready.credentials.client_id == client_id),
        }
    }
}
