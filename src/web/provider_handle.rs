//! [`ProviderHandle`]: a configured provider, for the application's own calls to it
//! (Flask-pyoidc's `auth.clients`).

use std::marker::PhantomData;
use std::sync::Arc;

use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Ignite, Rocket, Sentinel};

use crate::client::handle::authenticated_post;
use crate::client::RelyingParty;
use crate::error::ProviderError;
use crate::protocol::metadata::ProviderMetadata;
use crate::web::provider::{DefaultProvider, Provider};
use crate::web::runtime::{launch_check, OidcRuntime};

/// Provider `P` as the application configured it, to call what the crate does not wrap: its
/// resolved metadata (discovered if need be), client-authenticated form POSTs to its
/// endpoints (with the configured `token_endpoint_auth_method`: a secret, a JWT assertion or
/// the client certificate), and its HTTP client (its TLS roots, client certificate, proxy and
/// timeouts) for anything else. No second HTTP client, no copied credentials; the
/// credentials go only to the provider's own origins.
///
/// For calls that carry a user's token (DPoP-bound or not), use the client with
/// [`UserSession::authorize`](crate::UserSession::authorize).
///
/// # Example
///
/// ```
/// use rocket::get;
/// use rocket_openidconnect::{AuthError, ProviderHandle};
///
/// /// Starts a device authorization (RFC 8628), which the crate does not wrap.
/// #[get("/device")]
/// async fn device(provider: ProviderHandle) -> Result<String, AuthError> {
///     let base = provider.metadata().await?.issuer;
///     let url = format!("{base}/device/auth");
///     let answer = provider.post_form(&url, &[("scope", "openid")]).await?;
///     Ok(format!("HTTP {}", answer.status))
/// }
/// ```
pub struct ProviderHandle<P: Provider = DefaultProvider> {
    rp: Arc<RelyingParty>,
    _provider: PhantomData<fn() -> P>,
}

/// A provider's answer to [`ProviderHandle::post_form`], read in full (at most 256 KiB).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProviderResponse {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

impl ProviderResponse {
    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

impl<P: Provider> ProviderHandle<P> {
    fn client(&self) -> Result<&crate::client::provider::ProviderClient, ProviderError> {
        self.rp
            .providers
            .get(P::NAME)
            .ok_or(ProviderError::MissingEndpoint("configuration"))
    }

    /// The provider's name in the configuration.
    pub fn name(&self) -> &'static str {
        P::NAME
    }

    /// The provider's metadata (discovered, or static), discovering it if it was not yet.
    pub async fn metadata(&self) -> Result<ProviderMetadata, ProviderError> {
        Ok(self.client()?.ready().await?.metadata.clone())
    }

    /// The client id the application has at this provider (configured, or registered).
    pub async fn client_id(&self) -> Result<String, ProviderError> {
        Ok(self.client()?.ready().await?.credentials.client_id.clone())
    }

    /// POSTs `form` to `url`, authenticated as the client with its configured method.
    /// `url` must be at the provider (the origin of its issuer or of one of its endpoints):
    /// anything else is [`ProviderError::ForeignEndpoint`], and nothing is sent. An
    /// unreachable provider or a TLS failure is an error; any HTTP status is an answer.
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<ProviderResponse, ProviderError> {
        let response = authenticated_post(self.client()?, url, form).await?;
        Ok(ProviderResponse {
            status: response.status,
            content_type: response.content_type,
            body: response.body,
        })
    }

    /// The provider's HTTP client: its TLS roots and client certificate, proxy and timeouts,
    /// no redirects followed. Cheap to clone.
    pub fn http_client(&self) -> Result<reqwest::Client, ProviderError> {
        Ok(self.client()?.http.reqwest().clone())
    }
}

#[rocket::async_trait]
impl<'r, P: Provider> FromRequest<'r> for ProviderHandle<P> {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        match OidcRuntime::of(req) {
            Some(runtime) => Outcome::Success(ProviderHandle {
                rp: runtime.rp.clone(),
                _provider: PhantomData,
            }),
            None => Outcome::Error((Status::InternalServerError, ())),
        }
    }
}

impl<P: Provider> Sentinel for ProviderHandle<P> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        launch_check(rocket, "ProviderHandle", Some(P::NAME))
    }
}
