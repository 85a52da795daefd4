//! The application's own tokens (OAuth 2.0 client credentials grant), to call other APIs as the
//! application: cached until shortly before they expire, one request per provider and scope at
//! a time.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use openidconnect::AccessToken;
use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};

use crate::error::AuthError;
use crate::fairing::OidcRuntime;
use crate::flow::{unix_now, RelyingParty};
use crate::guard::{DefaultProvider, Provider};

/// A cached token is renewed this many seconds before it expires.
const RENEW_BEFORE: i64 = 30;

/// The cached token (or a recent failure) and until when it is good (Unix time).
type Slot = Arc<tokio::sync::Mutex<Option<(Result<AccessToken, AuthError>, i64)>>>;

/// A failed grant is reported to callers for this many seconds without a new request.
const FAILED_FOR: i64 = 5;

/// Cached client-credentials tokens by provider and scope.
#[derive(Default)]
pub(crate) struct AppTokens(Mutex<HashMap<(String, String), Slot>>);

impl RelyingParty {
    /// A token for the application itself with `scope`, from the cache while it is valid for
    /// more than 30 s. Concurrent callers wait for one request.
    pub(crate) async fn client_credentials_token(
        &self,
        provider: &str,
        scope: &str,
    ) -> Result<AccessToken, AuthError> {
        // "b a", "a  b" and "a b" are one scope set.
        let mut scopes: Vec<&str> = scope.split_whitespace().collect();
        scopes.sort_unstable();
        scopes.dedup();
        let scope = scopes.join(" ");
        let slot = {
            let mut slots = self.app_tokens.0.lock().unwrap_or_else(|e| e.into_inner());
            if slots.len() > 1024 {
                slots.clear();
            }
            slots
                .entry((provider.to_owned(), scope.clone()))
                .or_default()
                .clone()
        };
        let mut cached = slot.lock().await;
        if let Some((result, until)) = &*cached {
            if *until > unix_now() {
                return result.clone();
            }
        }
        let result = self.request_app_token(provider, &scope).await;
        let now = unix_now();
        *cached = Some(match result {
            Ok((token, until)) => {
                // Renewed 30 s before it expires (or at half its life, if that is shorter).
                let margin = RENEW_BEFORE.min(until.saturating_sub(now) / 2);
                (Ok(token), until.saturating_sub(margin))
            }
            Err(error) => (Err(error), now.saturating_add(FAILED_FOR)),
        });
        cached
            .as_ref()
            .map(|(result, _)| result.clone())
            .unwrap_or(Err(AuthError::LoginRequired))
    }

    async fn request_app_token(
        &self,
        provider: &str,
        scope: &str,
    ) -> Result<(AccessToken, i64), AuthError> {
        let client = self.provider(provider)?;
        let ready = client.ready(&self.http).await?;
        let mut form = vec![("grant_type", "client_credentials")];
        if !scope.is_empty() {
            form.push(("scope", scope));
        }
        let started = unix_now();
        let tokens = self.token_request(client, &ready, form).await?;
        // A token without a stated lifetime is reused for five minutes.
        let until = started.saturating_add(tokens.expires_in.unwrap_or(300));
        Ok((AccessToken::new(tokens.access_token), until))
    }
}

/// Gets tokens for the application itself (client credentials grant) from provider `P`, to
/// call other APIs as the application (Flask-pyoidc's `client_credentials_grant`). Tokens are
/// cached per scope until 30 s before they expire; concurrent requests make one call.
///
/// # Example
///
/// ```
/// use rocket::get;
/// use rocket_openidconnect::{AuthError, ClientCredentialsGrant};
///
/// #[get("/report")]
/// async fn report(grant: ClientCredentialsGrant) -> Result<String, AuthError> {
///     let token = grant.token("reports:read").await?;
///     // ... call the reports API with `token.secret()` ...
///     Ok("done".into())
/// }
/// ```
pub struct ClientCredentialsGrant<P: Provider = DefaultProvider> {
    rp: Arc<RelyingParty>,
    _provider: PhantomData<fn() -> P>,
}

impl<P: Provider> ClientCredentialsGrant<P> {
    /// A token with `scope` (space-separated; empty for the provider's default).
    pub async fn token(&self, scope: &str) -> Result<AccessToken, AuthError> {
        self.rp.client_credentials_token(P::NAME, scope).await
    }
}

#[rocket::async_trait]
impl<'r, P: Provider> FromRequest<'r> for ClientCredentialsGrant<P> {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        match req.rocket().state::<OidcRuntime>() {
            Some(runtime) => Outcome::Success(ClientCredentialsGrant {
                rp: runtime.rp.clone(),
                _provider: PhantomData,
            }),
            None => Outcome::Error((Status::InternalServerError, ())),
        }
    }
}
