//! The application's say in a login ([`OpenIdConnect::on_login`](crate::OpenIdConnect::on_login)):
//! called with the new session once the provider's answer has passed every check and before
//! the session is stored, so that an application can keep an audit trail, provision the user,
//! or refuse them.

use std::future::Future;
use std::pin::Pin;

use crate::session::model::UserSession;

/// A login that passed every check and is about to become the browser's session, as the
/// application's login hook sees it.
///
/// # Example
///
/// ```
/// use rocket_openidconnect::LoginEvent;
///
/// fn audit(event: &LoginEvent) -> String {
///     let kind = if event.is_silent() { "renewal" } else { "login" };
///     let session = event.session();
///     format!("{kind} of {} via {}", session.claims().subject(), session.provider())
/// }
/// ```
#[derive(Clone)]
pub struct LoginEvent {
    pub(crate) session: UserSession,
    pub(crate) silent: bool,
}

impl LoginEvent {
    /// The new session: the ID token's claims, userinfo, tokens, the provider's name.
    pub fn session(&self) -> &UserSession {
        &self.session
    }

    /// Whether this is a silent re-authentication of an existing session (`prompt=none`,
    /// `session_refresh_interval`) rather than a login the user went through.
    pub fn is_silent(&self) -> bool {
        self.silent
    }
}

impl std::fmt::Debug for LoginEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginEvent")
            .field("provider", &self.session.provider())
            .field("silent", &self.silent)
            .finish_non_exhaustive()
    }
}

/// What a login hook returns: `Ok(())` lets the login through; `Err(reason)` refuses it.
pub(crate) type LoginVerdict = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// The application's login hook.
pub(crate) type LoginHookFn = dyn Fn(LoginEvent) -> LoginVerdict + Send + Sync;
