//! Logout at the edge: the fairing's logout route and the [`OidcLogout`] guard for the
//! application's own logout routes. "Decide, then apply": [`run_logout`] decides and changes
//! nothing, [`apply`] writes the cookies, [`respond`] answers.

use rocket::http::{CookieJar, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{get, post, routes, Ignite, Rocket, Route, Sentinel, State};

use crate::client::logout::{LogoutOutcome, LogoutStep};
use crate::error::{AuthError, StoreError};
use crate::protocol::callback::LogoutParams;
use crate::session::records::EndedBy;
use crate::util::clock::unix_now;
use crate::util::metrics;
use crate::web::logout_hook::{notify, LogoutChannel, SessionEnded};
use crate::web::response::AuthResponse;
use crate::web::runtime::launch_check;
use crate::web::runtime::OidcRuntime;
use crate::web::verdict::{PendingVerdict, Verdict};

/// Decides what a logout request at `route_path` does. Changes nothing: see [`apply`].
pub(crate) async fn run_logout(
    runtime: &OidcRuntime,
    req: &Request<'_>,
    route_path: &str,
) -> LogoutOutcome {
    let jar = req.cookies();
    let session = match runtime.sessions.read(jar, unix_now()).await {
        Ok(session) => session,
        // Without the store the logout cannot be complete: say so, change nothing.
        Err(error) => return LogoutOutcome::Failed(error.into()),
    };
    // Another site (or a sibling subdomain) may link here, but not log the user out without
    // asking: before anything else, whatever the parameters.
    let foreign = matches!(
        req.headers().get_one("Sec-Fetch-Site"),
        Some("cross-site" | "same-site")
    );
    if session.is_some() && foreign {
        return LogoutOutcome::Confirm;
    }
    let query = req.uri().query().map(|q| q.as_str()).unwrap_or_default();
    let params = match LogoutParams::parse(query) {
        Ok(params) => params,
        Err(error) => return LogoutOutcome::Failed(error),
    };
    // The provider sending the browser back: the state must be the pending logout's. A state
    // never skips logging out a session that is still there.
    if let Some(state) = params.state.as_deref() {
        let pending = runtime.cookies.read_pending_logout(jar);
        if session.is_none() {
            return match runtime.rp.finish_logout(pending, state) {
                Ok(()) => LogoutOutcome::Done,
                Err(error) => LogoutOutcome::Failed(error),
            };
        }
    }
    let Some(session) = session else {
        return LogoutOutcome::Done;
    };
    if let Some(requested) = params.post_logout_redirect_uri.as_deref() {
        let configured = runtime
            .rp
            .provider(session.provider())
            .map(|client| runtime.rp.post_logout_redirect_uri(client, route_path));
        if configured.ok().as_deref() != Some(requested) {
            return LogoutOutcome::Failed(AuthError::InvalidCallback(
                "this post_logout_redirect_uri is not configured".into(),
            ));
        }
    }
    match runtime.rp.start_logout(&session, route_path).await {
        LogoutStep::Done => LogoutOutcome::Done,
        LogoutStep::Redirect { url, pending } => LogoutOutcome::Redirect { url, pending },
    }
}

/// Applies the cookie side of `outcome`: a logout removes every cookie of the library (a
/// redirect to the provider remembers its state); a confirmation changes nothing; a refused
/// request only forgets a pending logout: a logout is complete (local, revocation, provider)
/// or does not happen.
///
/// Returns the store's error if the logout could not be recorded or the stored session not
/// removed (the cookies are gone anyway): the caller shows it instead of "logged out".
pub(crate) async fn apply(
    runtime: &OidcRuntime,
    jar: &CookieJar<'_>,
    outcome: &LogoutOutcome,
) -> Option<AuthError> {
    let mut failure = None;
    match outcome {
        LogoutOutcome::Confirm => {}
        LogoutOutcome::Failed(_) => runtime.cookies.remove_pending_logout(jar),
        LogoutOutcome::Done | LogoutOutcome::Redirect { .. } => {
            if let Err(error) = end_locally(runtime, jar, LogoutChannel::RpInitiated).await {
                failure = Some(error.into());
            }
            match outcome {
                LogoutOutcome::Redirect { pending, .. } => {
                    runtime.cookies.set_pending_logout(jar, pending)
                }
                _ => runtime.cookies.remove_pending_logout(jar),
            }
        }
    }
    failure
}

/// Ends the request's session here, without the provider: recorded as ended (so a copy of the
/// cookie, or a response still in flight that sets it again, is no session any more), removed
/// from the store and the cookies, pending logins forgotten. `Ok(true)` if there was a
/// session. The cookies go even when the store fails (the error is returned after).
pub(crate) async fn end_locally(
    runtime: &OidcRuntime,
    jar: &CookieJar<'_>,
    channel: LogoutChannel,
) -> Result<bool, StoreError> {
    let now = unix_now();
    let mut failure = None;
    let session = runtime.sessions.read(jar, now).await.ok().flatten();
    if let Some(session) = &session {
        let records = &runtime.records;
        let (sid, until) = (session.sid(), session.expires_at());
        let client = (session.issuer(), session.client_id());
        if let Err(error) = records.end(client, EndedBy::Session, sid, now, until).await {
            log::warn!("OpenID Connect: the end of a session could not be recorded: {error}");
            failure = Some(error);
        }
        metrics::logout(session.provider(), channel.as_str());
        let ended = SessionEnded {
            provider: session.provider().to_owned(),
            channel,
            subject: Some(session.claims().subject().to_owned()),
            provider_sid: session.provider_sid().map(str::to_owned),
        };
        notify(&runtime.on_logout, ended);
    }
    if let Err(error) = runtime.sessions.remove(jar).await {
        log::warn!("OpenID Connect: the session could not be removed from the store: {error}");
        failure = Some(error);
    }
    runtime.cookies.remove_all_pending(jar);
    match failure {
        Some(error) => Err(error),
        None => Ok(session.is_some()),
    }
}

/// The response to `outcome` at a logout route.
pub(crate) fn respond(runtime: &OidcRuntime, outcome: LogoutOutcome) -> AuthResponse {
    let base = &runtime.rp.base_path;
    match outcome {
        LogoutOutcome::Done => match &runtime.rp.config.post_logout_path {
            Some(path) => AuthResponse::Redirect(format!("{base}{path}")),
            None => AuthResponse::Page(
                Status::Ok,
                format!(
                    "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Logged out</title>\
                     </head><body><h1>You are logged out</h1><p><a href=\"{}/\">Home</a></p>\
                     </body></html>",
                    html_escape::encode_double_quoted_attribute(base)
                ),
            ),
        },
        LogoutOutcome::Confirm => AuthResponse::Page(
            Status::Ok,
            format!(
                "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Log out?</title></head>\
                 <body><h1>Log out?</h1><form method=\"post\" action=\"{}{}\">\
                 <button type=\"submit\">Log out</button></form></body></html>",
                html_escape::encode_double_quoted_attribute(base),
                // The fairing's route, which accepts POST (an application's own logout route
                // may be GET only).
                html_escape::encode_double_quoted_attribute(&runtime.rp.config.logout_path)
            ),
        ),
        LogoutOutcome::Redirect { url, .. } => AuthResponse::Redirect(url),
        LogoutOutcome::Failed(error) => AuthResponse::Error(error),
    }
}

/// The fairing's logout routes, mounted at `logout_path`.
pub(crate) fn logout_routes() -> Vec<Route> {
    routes![logout_get, logout_post]
}

/// The outcome of a request to the fairing's logout route.
struct LogoutRequest(LogoutOutcome);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for LogoutRequest {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        match OidcRuntime::of(req) {
            Some(runtime) => {
                let path = runtime.rp.config.logout_path.clone();
                Outcome::Success(LogoutRequest(run_logout(runtime, req, &path).await))
            }
            None => Outcome::Error((Status::InternalServerError, ())),
        }
    }
}

async fn logout(
    request: LogoutRequest,
    jar: &CookieJar<'_>,
    runtime: &OidcRuntime,
) -> AuthResponse {
    match apply(runtime, jar, &request.0).await {
        Some(error) => AuthResponse::Error(error),
        None => respond(runtime, request.0),
    }
}

#[get("/")]
async fn logout_get(
    request: LogoutRequest,
    jar: &CookieJar<'_>,
    runtime: &State<OidcRuntime>,
) -> AuthResponse {
    logout(request, jar, runtime).await
}

#[post("/")]
async fn logout_post(
    request: LogoutRequest,
    jar: &CookieJar<'_>,
    runtime: &State<OidcRuntime>,
) -> AuthResponse {
    logout(request, jar, runtime).await
}

/// A guard for the application's own logout routes (there may be several). It removes the
/// session and every cookie of this crate; if the provider has an `end_session_endpoint`, the
/// browser is first sent there (with `id_token_hint`, `client_id`, the route itself as
/// `post_logout_redirect_uri` unless the provider's configuration names one, and a fresh
/// `state`), and the handler runs when the provider sends it back with that state. A wrong
/// state is shown by the error view. Without an `end_session_endpoint` the handler runs at once.
///
/// # Example
///
/// ```
/// use rocket::get;
/// use rocket_openidconnect::OidcLogout;
///
/// #[get("/goodbye")]
/// fn goodbye(_logout: OidcLogout) -> &'static str {
///     "You are logged out. Goodbye!"
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct OidcLogout;

#[rocket::async_trait]
impl<'r> FromRequest<'r> for OidcLogout {
    type Error = AuthError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, AuthError> {
        let Some(runtime) = OidcRuntime::of(req) else {
            return Outcome::Error((Status::InternalServerError, AuthError::LoginRequired));
        };
        let route_path = req.uri().path().to_string();
        match run_logout(runtime, req, &route_path).await {
            LogoutOutcome::Done => {
                match apply(runtime, req.cookies(), &LogoutOutcome::Done).await {
                    None => Outcome::Success(OidcLogout),
                    Some(error) => {
                        PendingVerdict::set(req, Verdict::Failed(error.clone()));
                        Outcome::Error((Status::Unauthorized, error))
                    }
                }
            }
            other => {
                PendingVerdict::set(req, Verdict::Logout(other));
                // An error, not a forward: no other route (a FileServer, say) may take over.
                Outcome::Error((Status::Unauthorized, AuthError::LoginRequired))
            }
        }
    }
}

impl Sentinel for OidcLogout {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        launch_check(rocket, "OidcLogout", None)
    }
}
