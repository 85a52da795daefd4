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

type Slot = Arc<tokio::sync::Mutex<Option<(AccessToken, i64)>>>;

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
        let slot = {
            let mut slots = self.app_tokens.0.lock().unwrap_or_else(|e| e.into_inner());
            if slots.len() > 1024 {
                slots.clear();
            }
            slots
                .entry((provider.to_owned(), scope.to_owned()))
                .or_default()
                .clone()
        };
        let mut cached = slot.lock().await;
        if let Some((token, until)) = &*cached {
            if until - RENEW_BEFORE > unix_now() {
                return Ok(token.clone());
            }
        }
        let client = self.provider(provider)?;
        let ready = client.ready(&self.http).await?;
        let mut form = vec![("grant_type", "client_credentials")];
        if !scope.is_empty() {
            form.push(("scope", scope));
        }
        let started = unix_now();
        let tokens = self.token_request(client, &ready, form).await?;
        let token = AccessToken::new(tokens.access_token);
        // A token without a stated lifetime is reused for five minutes.
        let until = started.saturating_add(tokens.expires_in.unwrap_or(300));
        *cached = Some((token.clone(), until));
        Ok(token)
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
