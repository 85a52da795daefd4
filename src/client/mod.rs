//! Everything that talks to a provider, over the one shared HTTP client: discovery, keys and
//! registration ([`provider`]), client authentication, the login (start and callback), the
//! token endpoint, userinfo, refresh, logout and revocation, back-channel logout tokens,
//! bearer-token validation and the application's own tokens. No web framework here: the edge
//! hands in what it read from the request and applies what comes back.
//!
//! [`RelyingParty`] holds only the configuration and the providers (each with its HTTP
//! client: trusted roots, client certificate, proxy); the state
//! of a feature (refreshes under way, cached introspections and tokens) belongs to the
//! feature's own type.

pub(crate) mod app_token;
pub(crate) mod auth;
pub(crate) mod backchannel;
pub(crate) mod bearer;
pub(crate) mod callback;
pub(crate) mod discovery;
pub(crate) mod downstream;
pub(crate) mod dpop;
pub(crate) mod handle;
pub(crate) mod http;
pub(crate) mod id_token;
pub(crate) mod jarm;
pub(crate) mod keys;
pub(crate) mod login;
pub(crate) mod logout;
pub(crate) mod own_keys;
pub(crate) mod par;
pub(crate) mod provider;
pub(crate) mod refresh;
pub(crate) mod registration;
pub(crate) mod signed_answer;
pub(crate) mod token;
pub(crate) mod userinfo;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::OidcConfig;
use crate::error::AuthError;
use crate::protocol::rp_keys::RpKeys;
use crate::session::seal::SessionCipher;
use crate::util::url::is_loopback;
use http::{Connection, HttpClient};
use provider::ProviderClient;
use registration::ClientUris;

/// The relying party: its configuration, the shared HTTP client and the providers.
pub(crate) struct RelyingParty {
    pub config: OidcConfig,
    /// The providers, each with its own HTTP client (its TLS settings and proxy).
    pub providers: HashMap<String, ProviderClient>,
    /// The path prefix of `base_url` (`""` at the root), prepended to local redirects.
    pub base_path: String,
    /// Whether `base_url` is https.
    pub secure: bool,
    /// Whether browsers accept `Secure` cookies from `base_url`: https, or a loopback host
    /// (a secure context even over plain http).
    pub secure_context: bool,
    /// The origin of `base_url` (`https://host:port`).
    pub origin: String,
    /// The relying party's own signing keys (`signing_keys`), shared with every provider.
    pub keys: Arc<RpKeys>,
}

impl RelyingParty {
    /// The relying party of `config`, served at `base_url`; `secret` (the application's
    /// secret key) seals what the registration store keeps of a registration's management.
    pub fn new(config: OidcConfig, base_url: &str, secret: Option<&[u8]>) -> Result<Self, String> {
        let timeout = Duration::from_secs(config.http_timeout);
        let store_cipher = secret.map(|s| {
            Arc::new(SessionCipher::for_purpose(
                s,
                b"rocket_openidconnect registration store v1",
            ))
        });
        let keys = own_keys::load(&config)?;
        let base = url::Url::parse(base_url).map_err(|e| format!("oidc.base_url: {e}"))?;
        let base_path = base.path().trim_end_matches('/').to_owned();
        let origin = base.origin().ascii_serialization();
        let absolute = |path: &str| format!("{origin}{base_path}{path}");
        let paths: Vec<&str> = config
            .providers
            .values()
            .map(|p| config.redirect_path_of(p))
            .collect();
        let providers = config
            .providers
            .iter()
            .map(|(name, p)| -> Result<(String, ProviderClient), String> {
                let path = config.redirect_path_of(p);
                let uris = ClientUris {
                    redirect_path: path.to_owned(),
                    redirect_uri: absolute(path),
                    shares_redirect_path: paths.iter().filter(|other| **other == path).count() > 1,
                    post_logout_redirect_uri: p
                        .post_logout_redirect_uri
                        .clone()
                        .unwrap_or_else(|| absolute(&config.logout_path)),
                    backchannel_logout_uri: absolute(&config.backchannel_logout_path),
                    frontchannel_logout_uri: absolute(&config.frontchannel_logout_path),
                    initiate_login_uri: config
                        .login_path
                        .as_deref()
                        .filter(|_| base_url.starts_with("https://"))
                        .map(absolute),
                    jwks_uri: config.jwks_path.as_deref().map(absolute),
                    jwks: (!keys.is_empty()).then(|| keys.public_set()),
                };
                let http = HttpClient::new(name, timeout, Connection::of(&config, name, p)?)?;
                let client = ProviderClient::new(
                    name.clone(),
                    p.clone(),
                    uris,
                    http,
                    keys.clone(),
                    config.login_timeout,
                );
                let client = client.with_store_cipher(store_cipher.clone());
                Ok((name.clone(), client))
            })
            .collect::<Result<_, _>>()?;
        Ok(RelyingParty {
            secure: base.scheme() == "https",
            secure_context: base.scheme() == "https" || is_loopback(&base),
            origin,
            keys,
            config,
            providers,
            base_path,
        })
    }

    /// The absolute URL of a path of this application.
    pub fn absolute_url(&self, path: &str) -> String {
        format!("{}{}{path}", self.origin, self.base_path)
    }

    /// Every callback path: the global one and the providers' own.
    pub fn redirect_paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self
            .providers
            .values()
            .map(|p| p.uris.redirect_path.clone())
            .collect();
        paths.push(self.config.redirect_path.clone());
        paths.sort();
        paths.dedup();
        paths
    }

    /// The provider named `name`.
    pub fn provider(&self, name: &str) -> Result<&ProviderClient, AuthError> {
        self.providers
            .get(name)
            .ok_or_else(|| AuthError::UnknownProvider(name.to_owned()))
    }
}
