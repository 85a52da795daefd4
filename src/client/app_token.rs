//! The application's own tokens (OAuth 2.0 client credentials grant), to call other APIs as the
//! application: cached until shortly before they expire, one request per provider and scope at
//! a time; bound to a DPoP key of the application's (one per provider, for the life of the
//! process) when the provider's `dpop` is on.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use openidconnect::AccessToken;

use crate::client::token::token_request;
use crate::client::RelyingParty;
use crate::error::{AuthError, ProviderError};
use crate::protocol::dpop::DpopKey;
use crate::protocol::grant::ClientCredentialsRequest;
use crate::protocol::token_response::bound_to_proof;
use crate::session::model::{authorize_request, proof_of};
use crate::util::clock::unix_now;
use crate::util::metrics;
use crate::util::single_flight::SingleFlight;

/// A cached token is renewed this many seconds before it expires.
const RENEW_BEFORE: i64 = 30;
/// A failed grant is reported to callers for this many seconds without a new request.
const FAILED_FOR: i64 = 5;
/// A token without a stated lifetime is reused for this many seconds.
const UNSTATED_LIFETIME: i64 = 300;
/// At most this many (provider, request) tokens are kept: an application asks for a handful of
/// scopes and resources; the bound only matters if they come from requests.
const CAPACITY: usize = 1_024;

/// A token of the application itself (client credentials grant): the access token, and the
/// DPoP key it is bound to when the provider bound it (RFC 9449). Dereferences to the
/// [`AccessToken`]; [`authorize`](Self::authorize) puts it on a request for an API, with a
/// proof when it is bound. `Debug` shows neither the token nor the key's private part.
///
/// # Example
///
/// ```no_run
/// use rocket_openidconnect::{AppToken, ProviderError};
///
/// async fn call(token: &AppToken, http: &reqwest::Client) -> Result<u16, ProviderError> {
///     let request = token.authorize(http.get("https://api.example.com/items"), None)?;
///     Ok(request.send().await.map(|r| r.status().as_u16()).unwrap_or(502))
/// }
/// ```
#[derive(Clone, Debug)]
pub struct AppToken {
    access_token: AccessToken,
    dpop_key: Option<Arc<DpopKey>>,
}

impl AppToken {
    /// The token's scheme in an `Authorization` header: `DPoP` when it is bound to the
    /// application's DPoP key, else `Bearer`.
    ///
    /// # Example
    ///
    /// ```
    /// fn header(token: &rocket_openidconnect::AppToken) -> String {
    ///     format!("{} {}", token.token_type(), token.secret())
    /// }
    /// ```
    pub fn token_type(&self) -> &'static str {
        if self.dpop_key.is_some() {
            "DPoP"
        } else {
            "Bearer"
        }
    }

    /// A DPoP proof (RFC 9449) for a request with `method` to `url` that carries this token,
    /// with the API's `nonce` if it asked for one; `None` for a Bearer token.
    ///
    /// # Example
    ///
    /// ```
    /// fn proof(token: &rocket_openidconnect::AppToken) -> Option<String> {
    ///     token.dpop_proof("GET", "https://api.example.com/items", None).ok().flatten()
    /// }
    /// ```
    pub fn dpop_proof(
        &self,
        method: &str,
        url: &str,
        nonce: Option<&str>,
    ) -> Result<Option<String>, ProviderError> {
        let token = Some(self.access_token.secret().as_str());
        proof_of(self.dpop_key.as_deref(), method, url, token, nonce)
    }

    /// Adds this token to a request for an API: `Authorization: DPoP` with a proof for the
    /// request's method and URL when the token is bound, else `Authorization: Bearer`.
    /// `nonce` is the API's `DPoP-Nonce`, if it asked for one (it answers 401 with
    /// `WWW-Authenticate: DPoP error="use_dpop_nonce"`: send the request again with it).
    /// See the type's example.
    pub fn authorize(
        &self,
        request: reqwest::RequestBuilder,
        nonce: Option<&str>,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        let key = self.dpop_key.as_deref();
        authorize_request(request, self.token_type(), &self.access_token, key, nonce)
    }
}

impl Deref for AppToken {
    type Target = AccessToken;

    fn deref(&self) -> &AccessToken {
        &self.access_token
    }
}

/// The application's tokens by provider and what they were asked for.
pub(crate) struct AppTokens {
    rp: Arc<RelyingParty>,
    cache: SingleFlight<(String, ClientCredentialsRequest), Result<AppToken, AuthError>>,
    /// The application's DPoP key per provider (made at its first grant with `dpop` on).
    dpop_keys: Mutex<HashMap<String, Arc<DpopKey>>>,
}

impl AppTokens {
    /// The tokens of `rp`'s client at its providers.
    pub fn new(rp: Arc<RelyingParty>) -> Self {
        AppTokens {
            rp,
            cache: SingleFlight::new(CAPACITY),
            dpop_keys: Mutex::new(HashMap::new()),
        }
    }

    /// A token for the application itself as `request` asks, from the cache while it is
    /// valid for more than 30 s. Concurrent callers wait for one request.
    pub async fn token(
        &self,
        provider: &str,
        request: &ClientCredentialsRequest,
    ) -> Result<AppToken, AuthError> {
        request.check().map_err(AuthError::InvalidTokenRequest)?;
        let key = (provider.to_owned(), request.clone());
        let computed = AtomicBool::new(false);
        let token = self
            .cache
            .get_or_compute(
                key,
                unix_now(),
                |_| true,
                || async {
                    computed.store(true, Ordering::Relaxed);
                    let result = self.request(provider, request).await;
                    let now = unix_now();
                    match result {
                        Ok((token, until)) => {
                            // Renewed 30 s before it expires (or at half its life, if shorter).
                            let margin = RENEW_BEFORE.min(until.saturating_sub(now) / 2);
                            (Ok(token), Some(until.saturating_sub(margin)))
                        }
                        Err(error) => (Err(error), Some(now.saturating_add(FAILED_FOR))),
                    }
                },
            )
            .await;
        metrics::cache_lookup("client_credentials", !computed.load(Ordering::Relaxed));
        token
    }

    async fn request(
        &self,
        provider: &str,
        request: &ClientCredentialsRequest,
    ) -> Result<(AppToken, i64), AuthError> {
        let client = self.rp.provider(provider)?;
        let ready = client.ready().await?;
        let params = request.form();
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend(params.iter().map(|(k, v)| (*k, v.as_str())));
        let key = client.config.dpop.then(|| {
            let mut keys = self.dpop_keys.lock().unwrap_or_else(|e| e.into_inner());
            let alg = client.config.dpop_signing_alg;
            keys.entry(provider.to_owned())
                .or_insert_with(|| Arc::new(DpopKey::generate(alg)))
                .clone()
        });
        let started = unix_now();
        let tokens = token_request(client, &ready, form, key.as_deref()).await?;
        let bound = bound_to_proof(tokens.token_type, key.is_some(), client.config.is_fapi2())?;
        if key.is_some() && !bound {
            log::warn!(
                "provider `{}` answered a DPoP client credentials grant with a Bearer token: \
                 the application's token is not sender-constrained",
                client.name
            );
        }
        let until = started.saturating_add(tokens.expires_in.unwrap_or(UNSTATED_LIFETIME));
        let token = AppToken {
            access_token: tokens.access_token,
            dpop_key: key.filter(|_| bound),
        };
        Ok((token, until))
    }
}
