//! The application's own tokens (OAuth 2.0 client credentials grant), to call other APIs as the
//! application: cached until shortly before they expire, one request per provider and scope at
//! a time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use openidconnect::AccessToken;

use crate::client::token::token_request;
use crate::client::RelyingParty;
use crate::error::AuthError;
use crate::protocol::grant::ClientCredentialsRequest;
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

/// The application's tokens by provider and what they were asked for.
pub(crate) struct AppTokens {
    rp: Arc<RelyingParty>,
    cache: SingleFlight<(String, ClientCredentialsRequest), Result<AccessToken, AuthError>>,
}

impl AppTokens {
    /// The tokens of `rp`'s client at its providers.
    pub fn new(rp: Arc<RelyingParty>) -> Self {
        AppTokens {
            rp,
            cache: SingleFlight::new(CAPACITY),
        }
    }

    /// A token for the application itself as `request` asks, from the cache while it is
    /// valid for more than 30 s. Concurrent callers wait for one request.
    pub async fn token(
        &self,
        provider: &str,
        request: &ClientCredentialsRequest,
    ) -> Result<AccessToken, AuthError> {
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
    ) -> Result<(AccessToken, i64), AuthError> {
        let client = self.rp.provider(provider)?;
        let ready = client.ready().await?;
        let params = request.form();
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend(params.iter().map(|(k, v)| (*k, v.as_str())));
        let started = unix_now();
        let tokens = token_request(client, &ready, form, None).await?;
        let until = started.saturating_add(tokens.expires_in.unwrap_or(UNSTATED_LIFETIME));
        Ok((tokens.access_token, until))
    }
}
