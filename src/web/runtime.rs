//! What the fairing manages, and the one way the guards, routes and launch checks find it.

use std::sync::Arc;

use rocket::request::Request;
use rocket::response;
use rocket::{Ignite, Phase, Rocket};

use crate::client::app_token::AppTokens;
use crate::client::bearer::AccessTokenValidator;
use crate::client::downstream::DownstreamTokens;
use crate::client::refresh::Refresher;
use crate::client::RelyingParty;
use crate::error::AuthError;
use crate::session::records::Records;
use crate::web::cookies::CookieSettings;
use crate::web::login_hook::LoginHookFn;
use crate::web::logout_hook::LogoutHookFn;
use crate::web::session_jar::SessionJar;

/// The application's error view, if it set one.
pub(crate) type ErrorViewFn =
    dyn for<'r> Fn(&AuthError, &'r Request<'_>) -> response::Result<'static> + Send + Sync;

/// The relying party and the state of its features, built at ignite.
pub(crate) struct OidcRuntime {
    pub rp: Arc<RelyingParty>,
    /// Used one-time values and ended sessions.
    pub records: Arc<Records>,
    /// Refreshes of sessions, one at a time per session.
    pub refresher: Arc<Refresher>,
    /// Bearer tokens of the application's APIs.
    pub access_tokens: Arc<AccessTokenValidator>,
    /// The application's own tokens (client credentials).
    pub app_tokens: Arc<AppTokens>,
    /// The sessions' tokens for downstream APIs (resources, token exchange).
    pub downstream: Arc<DownstreamTokens>,
    pub cookies: Arc<CookieSettings>,
    pub sessions: Arc<SessionJar>,
    pub error_view: Option<Arc<ErrorViewFn>>,
    /// The application's login hook, if it set one.
    pub on_login: Option<Arc<LoginHookFn>>,
    /// The application's logout hook, if it set one.
    pub on_logout: Option<Arc<LogoutHookFn>>,
}

impl OidcRuntime {
    /// The runtime of `rocket`, if the fairing is attached (and ignited).
    pub fn fetch<P: Phase>(rocket: &Rocket<P>) -> Option<&OidcRuntime> {
        rocket.state::<OidcRuntime>()
    }

    /// The runtime of the application serving `req`.
    pub fn of<'r>(req: &'r Request<'_>) -> Option<&'r OidcRuntime> {
        Self::fetch(req.rocket())
    }
}

/// The launch check of every guard of this crate (a `Sentinel`): the fairing must be attached
/// and, for a provider's guard, the provider configured. Logs why it aborts.
pub(crate) fn launch_check(rocket: &Rocket<Ignite>, guard: &str, provider: Option<&str>) -> bool {
    match (OidcRuntime::fetch(rocket), provider) {
        (None, _) => {
            log::error!(
                "`{guard}` is used in a route, but the OpenID Connect fairing is not attached: \
                 add `.attach(OpenIdConnect::fairing())`"
            );
            true
        }
        (Some(runtime), Some(name)) if !runtime.rp.providers.contains_key(name) => {
            log::error!(
                "`{guard}` is used with the provider `{name}`, which is not configured: add an \
                 `[default.oidc.providers.{name}]` table"
            );
            true
        }
        _ => false,
    }
}
