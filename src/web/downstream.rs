//! [`OidcUser`]'s tokens for downstream APIs: another resource's (RFC 8707) and exchanged
//! ones (RFC 8693).

use std::sync::Arc;

use openidconnect::AccessToken;
use rocket::http::CookieJar;

use crate::error::AuthError;
use crate::protocol::grant::TokenExchangeRequest;
use crate::web::provider::Provider;
use crate::web::user::OidcUser;

impl<P: Provider> OidcUser<P> {
    /// An access token of this user for the API `resource` (RFC 8707: an absolute URI), got
    /// with the session's refresh token and cached for this session until 30 s before it
    /// expires; concurrent requests of the session make one call. A refresh token the provider
    /// rotated to is written back to the session through `jar`. The token is bound to the
    /// session's DPoP key when the session's are: send it with
    /// [`UserSession::authorize_with`](crate::UserSession::authorize_with).
    ///
    /// # Example
    ///
    /// ```
    /// use rocket::get;
    /// use rocket::http::CookieJar;
    /// use rocket_openidconnect::{AuthError, OidcUser};
    ///
    /// #[get("/orders")]
    /// async fn orders(mut user: OidcUser, jar: &CookieJar<'_>) -> Result<String, AuthError> {
    ///     let token = user.valid_access_token_for(jar, "https://orders.example.com").await?;
    ///     // ... call the orders API with `token` ...
    ///     Ok(format!("{} bytes", token.secret().len()))
    /// }
    /// ```
    pub async fn valid_access_token_for(
        &mut self,
        jar: &CookieJar<'_>,
        resource: &str,
    ) -> Result<AccessToken, AuthError> {
        let (token, asked) = self
            .downstream
            .for_resource(&self.session, resource)
            .await?;
        if let (true, Some(rotated)) = (asked, token.refresh_token) {
            let next = self.session.with_refresh_token(rotated);
            if !self.sessions.write(jar, &next, false).await? {
                return Err(AuthError::SessionTooLarge);
            }
            self.session = Arc::new(next);
        }
        Ok(token.access_token)
    }

    /// A token exchanged for this user's (RFC 8693) as `request` asks (another `audience`,
    /// resources, scopes), to call a downstream API as the user; cached for this session
    /// and request until 30 s before it expires; concurrent requests make one call. The
    /// provider's refusal or absence is an [`AuthError`] (502, 503) like any other.
    ///
    /// # Example
    ///
    /// ```
    /// use rocket::get;
    /// use rocket_openidconnect::{AuthError, OidcUser, TokenExchangeRequest};
    ///
    /// #[get("/billing")]
    /// async fn billing(user: OidcUser) -> Result<String, AuthError> {
    ///     let request = TokenExchangeRequest::new().audience("billing-api");
    ///     let token = user.exchange_token(&request).await?;
    ///     Ok(format!("{} bytes", token.secret().len()))
    /// }
    /// ```
    pub async fn exchange_token(
        &self,
        request: &TokenExchangeRequest,
    ) -> Result<AccessToken, AuthError> {
        let token = self.downstream.exchange(&self.session, request).await?;
        Ok(token.access_token)
    }
}
