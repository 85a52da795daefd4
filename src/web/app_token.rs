//! The [`ClientCredentialsGrant`] guard: the application's own tokens, for its handlers.

use std::marker::PhantomData;
use std::sync::Arc;

use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};

use crate::client::app_token::{AppToken, AppTokens};
use crate::error::AuthError;
use crate::protocol::grant::ClientCredentialsRequest;
use crate::web::provider::{DefaultProvider, Provider};
use crate::web::runtime::OidcRuntime;

/// Gets tokens for the application itself (client credentials grant) from provider `P`, to
/// call other APIs as the application (Flask-pyoidc's `client_credentials_grant`). Tokens are
/// cached per scope until 30 s before they expire; concurrent requests make one call. With the
/// provider's `dpop` on, the grant is made with a proof of a DPoP key of the application's
/// (one per provider, for the life of the process) and the token comes back bound to it:
/// [`AppToken::authorize`] then sends it with a proof (under `profile = "fapi2"` a token the
/// provider did not bind is an error).
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
///     // ... call the reports API with `token.authorize(http.get(url), None)?`, or with
///     // `token.token_type()` and `token.secret()` ...
///     Ok("done".into())
/// }
/// ```
pub struct ClientCredentialsGrant<P: Provider = DefaultProvider> {
    tokens: Arc<AppTokens>,
    _provider: PhantomData<fn() -> P>,
}

impl<P: Provider> ClientCredentialsGrant<P> {
    /// A token with `scope` (space-separated; empty for the provider's default).
    pub async fn token(&self, scope: &str) -> Result<AppToken, AuthError> {
        let request = ClientCredentialsRequest::new().scope(scope);
        self.tokens.token(P::NAME, &request).await
    }

    /// A token as `request` asks: scopes, an `audience`, resource indicators (RFC 8707),
    /// other parameters. Cached per provider and request (scopes and resources as sets) like
    /// [`token`](Self::token); a request the provider could not be sent (a relative resource,
    /// a reserved parameter) is [`AuthError::InvalidTokenRequest`].
    ///
    /// # Example
    ///
    /// ```
    /// use rocket::get;
    /// use rocket_openidconnect::{AuthError, ClientCredentialsGrant, ClientCredentialsRequest};
    ///
    /// #[get("/sync")]
    /// async fn sync(grant: ClientCredentialsGrant) -> Result<String, AuthError> {
    ///     let request = ClientCredentialsRequest::new()
    ///         .scope("inventory:read")
    ///         .resource("https://inventory.example.com");
    ///     let token = grant.token_for(&request).await?;
    ///     Ok(format!("{} bytes of token", token.secret().len()))
    /// }
    /// ```
    pub async fn token_for(
        &self,
        request: &ClientCredentialsRequest,
    ) -> Result<AppToken, AuthError> {
        self.tokens.token(P::NAME, request).await
    }
}

#[rocket::async_trait]
impl<'r, P: Provider> FromRequest<'r> for ClientCredentialsGrant<P> {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        match OidcRuntime::of(req) {
            Some(runtime) => Outcome::Success(ClientCredentialsGrant {
                tokens: runtime.app_tokens.clone(),
                _provider: PhantomData,
            }),
            None => Outcome::Error((Status::InternalServerError, ())),
        }
    }
}

impl<P: Provider> rocket::Sentinel for ClientCredentialsGrant<P> {
    fn abort(rocket: &rocket::Rocket<rocket::Ignite>) -> bool {
        crate::web::runtime::launch_check(rocket, "ClientCredentialsGrant", Some(P::NAME))
    }
}
