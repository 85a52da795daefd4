//! Request guards: [`OidcUser<P>`] and the [`Provider`] type keys.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use rocket::http::{Method, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Ignite, Rocket, Sentinel};

use crate::error::AuthError;
use crate::error::StoreError;
use crate::fairing::OidcRuntime;
use crate::flow::{unix_now, RelyingParty};
use crate::logout_routes::LogoutOutcome;
use crate::session::UserSession;
use crate::sessions::Sessions;
use openidconnect::AccessToken;
use rocket::http::CookieJar;

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
    session: Arc<UserSession>,
    rp: Arc<RelyingParty>,
    sessions: Arc<Sessions>,
    _provider: PhantomData<fn() -> P>,
}

impl<P: Provider> OidcUser<P> {
    /// The session.
    pub fn session(&self) -> &UserSession {
        &self.session
    }

    /// An access token valid for at least `access_token_leeway` more seconds (default 30),
    /// refreshed first with the refresh token when needed or when `force_refresh` is set
    /// (Flask-pyoidc's `valid_access_token`). The refreshed tokens are written back to the
    /// session cookie of this response through `jar`. Concurrent requests of one user make a
    /// single refresh. A token whose expiry the provider did not state counts as valid.
    ///
    /// If the provider refuses the refresh token, the session ends (its cookies are removed)
    /// and the error is [`AuthError::SessionEnded`]; a refresh that returns another user gives
    /// [`AuthError::SubjectChanged`]. Both, like every [`AuthError`], are responders.
    ///
    /// # Example
    ///
    /// ```
    /// use rocket::get;
    /// use rocket::http::CookieJar;
    /// use rocket_openidconnect::{AuthError, OidcUser};
    ///
    /// #[get("/api-call")]
    /// async fn api_call(mut user: OidcUser, jar: &CookieJar<'_>) -> Result<String, AuthError> {
    ///     let token = user.valid_access_token(jar, false).await?;
    ///     // ... call an API with `token.secret()` ...
    ///     Ok(format!("token valid until {:?}", user.access_token_expires_at()))
    /// }
    /// ```
    pub async fn valid_access_token(
        &mut self,
        jar: &CookieJar<'_>,
        force_refresh: bool,
    ) -> Result<AccessToken, AuthError> {
        let leeway = self
            .rp
            .providers
            .get(P::NAME)
            .map_or(30, |p| p.config.access_token_leeway as i64);
        if !force_refresh {
            let expires = self.session.access_token_expires_at();
            if let Some(token) = self.session.access_token() {
                if expires.is_none_or(|at| at.saturating_sub(unix_now()) > leeway) {
                    return Ok(token.clone());
                }
            }
        }
        match self.rp.refresh_session(&self.session).await {
            Ok(next) => {
                if !self.sessions.write(jar, &next, false).await? {
                    return Err(AuthError::SessionTooLarge);
                }
                self.session = Arc::new(next);
                self.session
                    .access_token()
                    .cloned()
                    .ok_or_else(|| AuthError::SessionEnded("no access token".into()))
            }
            Err(error @ (AuthError::SessionEnded(_) | AuthError::SubjectChanged)) => {
                self.sessions.remove(jar).await?;
                Err(error)
            }
            Err(error) => Err(error),
        }
    }

    /// Takes the session out.
    pub fn into_session(self) -> UserSession {
        Arc::unwrap_or_clone(self.session)
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

/// The session of this request, read once per request.
struct CachedSession(Result<Option<Arc<UserSession>>, StoreError>);

/// Silent re-authentications are at least this many seconds apart.
const MIN_SILENT_GAP: i64 = 3;

/// A silent re-authentication due in this request: the fairing's response hook replaces the
/// (successful) response with a redirect to the URL, if the pending-login cookie (named here)
/// is in it.
#[derive(Default)]
pub(crate) struct SilentRefresh(Mutex<Option<(String, String)>>);

impl SilentRefresh {
    fn set(req: &Request<'_>, url: String, cookie: String) {
        let slot = req.local_cache(SilentRefresh::default);
        slot.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert((url, cookie));
    }

    pub fn take(req: &Request<'_>) -> Option<(String, String)> {
        req.local_cache(SilentRefresh::default)
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

/// What a guard of this crate left for the 401 catcher to do: a guard cannot respond itself,
/// and cookies it sets are dropped when Rocket turns to a catcher, so the catcher does it.
pub(crate) enum Verdict {
    /// No session: log in with this provider.
    Login(&'static str),
    /// A logout that needs a redirect, a confirmation or an error page.
    Logout(LogoutOutcome),
    /// A refused bearer token (an RFC 6750 response).
    Bearer(crate::bearer::BearerError),
    /// The session could not be checked (the store is down): the error view, with the
    /// error's status (503).
    Failed(AuthError),
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

    /// Sets `verdict` even if another guard set one (a refused bearer token outranks a
    /// login another guard would start).
    pub fn replace(req: &Request<'_>, verdict: Verdict) {
        let slot = req.local_cache(PendingVerdict::default);
        *slot.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(verdict);
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
            .local_cache_async(async {
                CachedSession(runtime.sessions.read(req.cookies(), unix_now()).await)
            })
            .await;
        let cached = match &cached.0 {
            Ok(cached) => cached,
            Err(error) => return unavailable(req, error.clone()),
        };
        // The session must be of this provider, as configured now (same issuer and client).
        let provider = runtime.rp.providers.get(P::NAME);
        let configured = provider.map(|p| &p.config);
        let matches = |session: &UserSession| {
            provider.is_some_and(|p| {
                // A registered client not known yet (its provider not reached since the start)
                // is checked by issuer only.
                let client_ok = p.accepts_client_id(session.client_id());
                session.provider() == P::NAME && session.issuer() == p.config.issuer() && client_ok
            })
        };
        let now = unix_now();
        let idle_timeout = runtime.rp.config.session_inactivity_timeout;
        let ended = match cached {
            Some(session) => match runtime.rp.records.is_ended(session).await {
                Ok(ended) => ended,
                Err(error) => return unavailable(req, error),
            },
            None => false,
        };
        let mut session = match cached {
            Some(session)
                if matches(session)
                    && !idle_timeout.is_some_and(|t| session.is_idle(now, t as i64))
                    && !ended =>
            {
                Arc::clone(session)
            }
            _ => {
                PendingVerdict::set(req, Verdict::Login(P::NAME));
                // An error, not a forward: a lower-ranked route (a FileServer at `/`, say)
                // must not answer instead of the login. `Option<OidcUser>` still gets `None`.
                return Outcome::Error((Status::Unauthorized, AuthError::LoginRequired));
            }
        };
        // The inactivity timeout rolls: record the use (about once a minute).
        if let Some(timeout) = idle_timeout.map(|t| t as i64) {
            if session.touch_due(now, timeout) {
                Arc::make_mut(&mut session).touch(now, timeout);
                if let Err(error) = runtime.sessions.write(req.cookies(), &session, false).await {
                    log::warn!("OpenID Connect: the session's last use was not recorded: {error}");
                }
            }
        }
        // A silent re-authentication when due: only for browser navigations, which can follow
        // the redirect; the fairing turns this response into it (see `SilentRefresh`).
        // (At least MIN_SILENT_GAP seconds apart, so that a slow round trip cannot loop.)
        let interval = configured
            .and_then(|c| c.session_refresh_interval)
            .map(|i| (i as i64).max(MIN_SILENT_GAP));
        let since = now.saturating_sub(session.last_session_refresh());
        if interval.is_some_and(|i| since >= i) && is_document_navigation(req) {
            let return_to = req.uri().to_string();
            let subject = Some(session.claims().subject());
            if let Ok(start) = runtime
                .rp
                .start_login(P::NAME, &return_to, subject, &[])
                .await
            {
                runtime.cookies.add_pending(req.cookies(), &start.pending);
                let cookie = runtime.cookies.pending_name(&start.pending.state);
                SilentRefresh::set(req, start.authorization_url, cookie);
            }
        }
        Outcome::Success(OidcUser {
            session,
            rp: runtime.rp.clone(),
            sessions: runtime.sessions.clone(),
            _provider: PhantomData,
        })
    }
}

/// The guard's answer when the session store is down: the error view with 503 (through the
/// catcher, which answers with the error's status), never a login or an anonymous request.
fn unavailable<T>(req: &Request<'_>, error: StoreError) -> Outcome<T, AuthError> {
    log::warn!("OpenID Connect: {error}");
    PendingVerdict::set(req, Verdict::Failed(error.clone().into()));
    Outcome::Error((Status::Unauthorized, error.into()))
}

impl<P: Provider> Sentinel for OidcUser<P> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        launch_check(rocket, "OidcUser", Some(P::NAME))
    }
}

/// The launch check of every guard of this crate (a `Sentinel`): the fairing must be attached
/// and, for a provider's guard, the provider configured. Logs why it aborts.
pub(crate) fn launch_check(rocket: &Rocket<Ignite>, guard: &str, provider: Option<&str>) -> bool {
    match (rocket.state::<OidcRuntime>(), provider) {
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

/// A stricter test for silent re-authentication, which must never hit `fetch`/XHR or API
/// clients: `Sec-Fetch-Mode: navigate` with `Sec-Fetch-Dest: document` when the browser sends
/// Fetch Metadata, else a GET that accepts `text/html` explicitly.
fn is_document_navigation(req: &Request<'_>) -> bool {
    let headers = req.headers();
    if req.method() != Method::Get || headers.get_one("X-Requested-With").is_some() {
        return false;
    }
    match headers.get_one("Sec-Fetch-Mode") {
        Some(mode) => {
            mode == "navigate"
                && headers
                    .get_one("Sec-Fetch-Dest")
                    .is_none_or(|dest| dest == "document")
        }
        None => headers
            .get_one("Accept")
            .is_some_and(|a| a.to_ascii_lowercase().contains("text/html")),
    }
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
