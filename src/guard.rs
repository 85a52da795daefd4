//! Request guards: [`OidcUser<P>`] and the [`Provider`] type keys.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Mutex;

use rocket::http::{Method, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Ignite, Rocket, Sentinel};

use crate::error::AuthError;
use crate::fairing::OidcRuntime;
use crate::flow::unix_now;
use crate::logout_routes::LogoutOutcome;
use crate::session::UserSession;

/// A type that names a configured provider: `OidcUser<P>` uses `[oidc.providers.<P::NAME>]`.
///
/// Declare one with the [`provider!`](crate::provider!) macro.
///
/// # Example
///
/// ```
/// use rocket_openidconnect::{provider, Provider};
///
/// provider!(pub Corporate = "corporate");
/// assert_eq!(Corporate::NAME, "corporate");
/// ```
pub trait Provider: Send + Sync + 'static {
    /// The provider's name in the configuration.
    const NAME: &'static str;
}

/// The provider named `default`, used by a plain `OidcUser`.
///
/// # Example
///
/// ```
/// use rocket_openidconnect::{DefaultProvider, Provider};
///
/// assert_eq!(DefaultProvider::NAME, "default");
/// ```
#[derive(Debug)]
pub struct DefaultProvider;

impl Provider for DefaultProvider {
    const NAME: &'static str = "default";
}

/// Declares a [`Provider`] type key.
///
/// # Example
///
/// ```
/// use rocket::get;
/// use rocket_openidconnect::{provider, OidcUser};
///
/// provider!(Google = "google");
///
/// #[get("/google")]
/// fn google(user: OidcUser<Google>) -> String {
///     user.claims().subject().to_owned()
/// }
/// ```
#[macro_export]
macro_rules! provider {
    ($vis:vis $name:ident = $config_name:literal) => {
        #[doc = concat!("The `", $config_name, "` OpenID provider.")]
        #[derive(Debug)]
        $vis struct $name;
        impl $crate::Provider for $name {
            const NAME: &'static str = $config_name;
        }
    };
}

/// A logged-in user of provider `P` (`default` when omitted).
///
/// Without a session, a browser navigation is redirected (303) to the provider to log in and
/// comes back to the same URL; any other request (`fetch`, an API client) gets 401. Use
/// `Option<OidcUser>` for pages that work with and without a login. Dereferences to
/// [`UserSession`].
///
/// # Example
///
/// ```
/// use rocket::get;
/// use rocket::serde::json::{Json, Value, json};
/// use rocket_openidconnect::OidcUser;
///
/// #[get("/profile")]
/// fn profile(user: OidcUser) -> Json<Value> {
///     Json(json!({ "sub": user.claims().subject(), "userinfo": user.userinfo() }))
/// }
///
/// #[get("/maybe")]
/// fn maybe(user: Option<OidcUser>) -> &'static str {
///     if user.is_some() { "hello again" } else { "hello, stranger" }
/// }
/// ```
pub struct OidcUser<P: Provider = DefaultProvider> {
    session: UserSession,
    _provider: PhantomData<fn() -> P>,
}

impl<P: Provider> OidcUser<P> {
    /// The session.
    pub fn session(&self) -> &UserSession {
        &self.session
    }

    /// Takes the session out.
    pub fn into_session(self) -> UserSession {
        self.session
    }
}

impl<P: Provider> Deref for OidcUser<P> {
    type Target = UserSession;
    fn deref(&self) -> &UserSession {
        &self.session
    }
}

impl<P: Provider> std::fmt::Debug for OidcUser<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("OidcUser").field(&self.session).finish()
    }
}

/// The session found in this request's cookies, decrypted once per request.
struct CachedSession(Option<UserSession>);

/// What a guard of this crate left for the 401 catcher to do: a guard cannot respond itself,
/// and cookies it sets are dropped when Rocket turns to a catcher, so the catcher does it.
pub(crate) enum Verdict {
    /// No session: log in with this provider.
    Login(&'static str),
    /// A logout that needs a redirect, a confirmation or an error page.
    Logout(LogoutOutcome),
}

/// The verdict of this request, if any (the first guard's wins).
#[derive(Default)]
pub(crate) struct PendingVerdict(Mutex<Option<Verdict>>);

impl PendingVerdict {
    pub fn set(req: &Request<'_>, verdict: Verdict) {
        let slot = req.local_cache(PendingVerdict::default);
        let mut slot = slot.0.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(verdict);
        }
    }

    pub fn take(req: &Request<'_>) -> Option<Verdict> {
        req.local_cache(PendingVerdict::default)
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

#[rocket::async_trait]
impl<'r, P: Provider> FromRequest<'r> for OidcUser<P> {
    type Error = AuthError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, AuthError> {
        let Some(runtime) = req.rocket().state::<OidcRuntime>() else {
            return Outcome::Error((Status::InternalServerError, AuthError::LoginRequired));
        };
        let cached = req
            .local_cache(|| CachedSession(runtime.cookies.read_session(req.cookies(), unix_now())));
        // The session must be of this provider, as configured now (same issuer and client).
        let configured = runtime.rp.providers.get(P::NAME).map(|p| &p.config);
        let matches = |session: &UserSession| {
            configured.is_some_and(|c| {
                session.provider() == P::NAME
                    && session.issuer() == c.issuer()
                    && session.client_id() == c.client_id
            })
        };
        match &cached.0 {
            Some(session) if matches(session) => Outcome::Success(OidcUser {
                session: session.clone(),
                _provider: PhantomData,
            }),
            _ => {
                PendingVerdict::set(req, Verdict::Login(P::NAME));
                Outcome::Forward(Status::Unauthorized)
            }
        }
    }
}

impl<P: Provider> Sentinel for OidcUser<P> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        match rocket.state::<OidcRuntime>() {
            None => {
                log::error!(
                    "`OidcUser` is used in a route, but the OpenID Connect fairing is not \
                     attached: add `.attach(OpenIdConnect::fairing())`"
                );
                true
            }
            Some(runtime) if !runtime.rp.providers.contains_key(P::NAME) => {
                log::error!(
                    "`OidcUser` is used with the provider `{0}`, which is not configured: add an \
                     `[default.oidc.providers.{0}]` table",
                    P::NAME
                );
                true
            }
            Some(_) => false,
        }
    }
}

/// Whether a request without a session should be sent to the provider (a browser navigation)
/// rather than answered 401 (`fetch`, XHR, API clients): redirecting those would only pile up
/// pending-login cookies.
pub(crate) fn is_navigation(req: &Request<'_>) -> bool {
    let headers = req.headers();
    wants_login_redirect(
        req.method(),
        headers.get_one("Sec-Fetch-Mode"),
        headers.get_one("X-Requested-With"),
        headers.get_one("Accept"),
    )
}

fn wants_login_redirect(
    method: Method,
    sec_fetch_mode: Option<&str>,
    x_requested_with: Option<&str>,
    accept: Option<&str>,
) -> bool {
    if !matches!(method, Method::Get | Method::Head) || x_requested_with.is_some() {
        return false;
    }
    if let Some(mode) = sec_fetch_mode {
        return mode.eq_ignore_ascii_case("navigate");
    }
    match accept {
        None => true,
        Some(accept) => {
            let accept = accept.to_ascii_lowercase();
            accept.contains("text/html") || accept.trim() == "*/*"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_navigations_are_redirected() {
        let chrome = "text/html,application/xhtml+xml,*/*;q=0.8";
        assert!(wants_login_redirect(
            Method::Get,
            Some("navigate"),
            None,
            Some(chrome)
        ));
        assert!(wants_login_redirect(Method::Get, None, None, Some(chrome)));
        assert!(wants_login_redirect(Method::Get, None, None, None));
        assert!(wants_login_redirect(Method::Get, None, None, Some("*/*")));
        assert!(!wants_login_redirect(
            Method::Get,
            Some("cors"),
            None,
            Some("*/*")
        ));
        assert!(!wants_login_redirect(
            Method::Get,
            Some("no-cors"),
            None,
            Some(chrome)
        ));
        assert!(!wants_login_redirect(
            Method::Get,
            None,
            Some("XMLHttpRequest"),
            Some(chrome)
        ));
        assert!(!wants_login_redirect(
            Method::Get,
            None,
            None,
            Some("application/json")
        ));
        assert!(!wants_login_redirect(
            Method::Post,
            Some("navigate"),
            None,
            Some(chrome)
        ));
    }
}
