//! The [`OidcUser<P>`] guard: the request's session, judged by the session policy, and the
//! outcome applied (a login, a recorded use, a silent re-authentication).

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use openidconnect::AccessToken;
use rocket::http::{CookieJar, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Ignite, Rocket, Sentinel};

use crate::client::downstream::DownstreamTokens;
use crate::client::login::Returning;
use crate::client::refresh::Refresher;
use crate::client::RelyingParty;
use crate::error::{AuthError, StoreError};
use crate::session::model::UserSession;
use crate::session::policy::{judge, Owner, SessionDecision, SessionRules};
use crate::session::requirement::Principal;
use crate::util::clock::unix_now;
use crate::web::navigation::is_document_navigation;
use crate::web::provider::{DefaultProvider, Provider};
use crate::web::runtime::{launch_check, OidcRuntime};
use crate::web::session_jar::SessionJar;
use crate::web::verdict::{PendingVerdict, SilentRefresh, Verdict};

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
    pub(crate) session: Arc<UserSession>,
    leeway: i64,
    /// The relying party (for the provider's settings).
    rp: Arc<RelyingParty>,
    refresher: Arc<Refresher>,
    pub(crate) sessions: Arc<SessionJar>,
    /// Tokens for downstream APIs (`valid_access_token_for`, `exchange_token`).
    pub(crate) downstream: Arc<DownstreamTokens>,
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
        let leeway = self.leeway;
        if !force_refresh {
            let expires = self.session.access_token_expires_at();
            if let Some(token) = self.session.access_token() {
                if expires.is_none_or(|at| at.saturating_sub(unix_now()) > leeway) {
                    return Ok(token.clone());
                }
            }
        }
        match self.refresher.refresh(&self.session).await {
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

    /// The session, shared.
    pub(crate) fn shared_session(&self) -> Arc<UserSession> {
        self.session.clone()
    }

    /// The user's roles: the values of the provider's `roles_claim` (a list, or a
    /// space-separated string; none when it is not configured).
    ///
    /// # Example
    ///
    /// ```
    /// use rocket::get;
    /// use rocket_openidconnect::OidcUser;
    ///
    /// // With `roles_claim = "realm_access.roles"` (Keycloak).
    /// #[get("/roles")]
    /// fn roles(user: OidcUser) -> String {
    ///     user.roles().join(", ")
    /// }
    /// ```
    pub fn roles(&self) -> Vec<&str> {
        let roles_claim = self
            .rp
            .providers
            .get(P::NAME)
            .and_then(|p| p.config.roles_claim.as_deref());
        Principal::new(&self.session, roles_claim, unix_now()).roles()
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

#[rocket::async_trait]
impl<'r, P: Provider> FromRequest<'r> for OidcUser<P> {
    type Error = AuthError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, AuthError> {
        let Some(runtime) = OidcRuntime::of(req) else {
            return Outcome::Error((Status::InternalServerError, AuthError::LoginRequired));
        };
        let valid = match valid_session(req, runtime, P::NAME).await {
            Ok(valid) => valid,
            Err(error) => return unavailable(req, error),
        };
        let Some(ValidSession {
            mut session,
            record_use,
            silent_refresh_due,
        }) = valid
        else {
            PendingVerdict::set(req, Verdict::Login(P::NAME));
            // An error, not a forward: a lower-ranked route (a FileServer at `/`, say) must
            // not answer instead of the login. `Option<OidcUser>` gets `None`.
            return Outcome::Error((Status::Unauthorized, AuthError::LoginRequired));
        };
        let provider = runtime.rp.providers.get(P::NAME);
        let rules = SessionRules::of(&runtime.rp.config, provider.map(|p| &p.config));
        let now = unix_now();
        if let (true, Some(timeout)) = (record_use, rules.inactivity_timeout) {
            Arc::make_mut(&mut session).touch(now, timeout);
            if let Err(error) = runtime.sessions.write(req.cookies(), &session, false).await {
                log::warn!("OpenID Connect: the session's last use was not recorded: {error}");
            }
        }
        if silent_refresh_due && is_document_navigation(req) {
            prepare_silent_refresh(req, runtime, P::NAME, &session).await;
        }
        Outcome::Success(OidcUser {
            session,
            leeway: provider.map_or(30, |p| p.config.access_token_leeway as i64),
            rp: runtime.rp.clone(),
            refresher: runtime.refresher.clone(),
            sessions: runtime.sessions.clone(),
            downstream: runtime.downstream.clone(),
            _provider: PhantomData,
        })
    }
}

/// The session of this request, read once per request (whichever guards ask).
/// A session that is valid for a provider here and now, and what its use asks for.
pub(crate) struct ValidSession {
    pub session: Arc<UserSession>,
    /// The use is worth recording (inactivity timeout).
    pub record_use: bool,
    /// A silent re-authentication is due.
    pub silent_refresh_due: bool,
}

/// The request's session if it is valid for `provider` here and now (intact, of this
/// provider's client, not expired, idle or ended), judged by the session policy; `None`
/// otherwise. Nothing is written.
pub(crate) async fn valid_session(
    req: &Request<'_>,
    runtime: &OidcRuntime,
    provider_name: &str,
) -> Result<Option<ValidSession>, StoreError> {
    let session = request_session(req, runtime).await?.as_ref();
    judge_session(runtime, session, provider_name).await
}

/// [`valid_session`] for a session already read.
pub(crate) async fn judge_session(
    runtime: &OidcRuntime,
    session: Option<&Arc<UserSession>>,
    provider_name: &str,
) -> Result<Option<ValidSession>, StoreError> {
    let ended = match session {
        Some(session) => runtime.records.is_ended(session).await?,
        None => false,
    };
    let provider = runtime.rp.providers.get(provider_name);
    let owner = Owner {
        provider: provider_name,
        issuer: provider.map_or("", |p| p.config.issuer()),
        client_accepted: provider
            .zip(session)
            .is_some_and(|(p, s)| p.accepts_client_id(s.client_id())),
    };
    let rules = SessionRules::of(&runtime.rp.config, provider.map(|p| &p.config));
    let decision = judge(session.map(|s| &**s), &owner, ended, &rules, unix_now());
    Ok(match (session, decision) {
        (
            Some(session),
            SessionDecision::Valid {
                record_use,
                silent_refresh_due,
            },
        ) => Some(ValidSession {
            session: Arc::clone(session),
            record_use,
            silent_refresh_due,
        }),
        _ => None,
    })
}

async fn request_session<'r>(
    req: &'r Request<'_>,
    runtime: &OidcRuntime,
) -> Result<&'r Option<Arc<UserSession>>, StoreError> {
    struct CachedSession(Result<Option<Arc<UserSession>>, StoreError>);
    let cached = req
        .local_cache_async(async {
            CachedSession(runtime.sessions.read(req.cookies(), unix_now()).await)
        })
        .await;
    cached.0.as_ref().map_err(Clone::clone)
}

/// A silent re-authentication: the pending login goes into this response's cookies and the
/// fairing turns the (successful) response into the redirect (see [`SilentRefresh`]).
async fn prepare_silent_refresh(
    req: &Request<'_>,
    runtime: &OidcRuntime,
    provider: &str,
    session: &UserSession,
) {
    let return_to = req.uri().to_string();
    let returning = Returning::Silently(session);
    if let Ok(start) = runtime
        .rp
        .start_login(provider, &return_to, returning, &[])
        .await
    {
        runtime.cookies.add_pending(req.cookies(), &start.pending);
        let cookie = runtime.cookies.pending_name(start.pending.state.secret());
        SilentRefresh::set(req, start.authorization_url, cookie);
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
