//! The routes the fairing mounts (callback, logout), the 401 catcher that starts logins, and
//! the error view.

use std::io::Cursor;

use rocket::catcher::{self, Catcher};
use rocket::data::{Data, ToByteUnit};
use rocket::http::uri::Origin;
use rocket::http::{ContentType, CookieJar, Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use rocket::{get, post, routes, Route, State};

use crate::config::SilentRefreshFailure;
use crate::error::AuthError;
use crate::fairing::OidcRuntime;
use crate::flow::{unix_now, CallbackParams, MAX_CALLBACK_LEN};

use crate::guard::{is_navigation, PendingVerdict, Verdict};
use crate::logout_routes;
use crate::return_to::safe_return_path;

/// The callback routes, mounted at `redirect_path`.
pub(crate) fn callback_routes() -> Vec<Route> {
    routes![callback_get, callback_post]
}

/// The login route, mounted at `login_path` when configured.
pub(crate) fn login_routes() -> Vec<Route> {
    routes![login_get]
}

/// Starts a login with per-request parameters:
/// `GET {login_path}?provider=NAME&return_to=/path&login_hint=...`. `provider` defaults to
/// `default`, `return_to` to `/`; any other parameter must be in the provider's `login_params`
/// allow-list, and is added to (or replaces a configured) authorization request parameter.
#[get("/")]
async fn login_get(
    uri: &Origin<'_>,
    jar: &CookieJar<'_>,
    runtime: &State<OidcRuntime>,
) -> AuthResponse {
    let query = uri.query().map(|q| q.as_str()).unwrap_or_default();
    match start_login_with(runtime, query).await {
        Ok(start) => {
            runtime.cookies.add_pending(jar, &start.pending);
            AuthResponse::Redirect(start.authorization_url)
        }
        Err(error) => AuthResponse::Error(error),
    }
}

async fn start_login_with(
    runtime: &OidcRuntime,
    query: &str,
) -> Result<crate::flow::LoginStart, AuthError> {
    if query.len() > MAX_CALLBACK_LEN {
        return Err(AuthError::InvalidCallback(
            "the request is too large".into(),
        ));
    }
    let mut provider = None;
    let mut return_to = None;
    let mut extra: Vec<(String, String)> = Vec::new();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let seen = match key.as_ref() {
            "provider" => provider.replace(value.into_owned()).is_some(),
            "return_to" => return_to.replace(value.into_owned()).is_some(),
            name => {
                let seen = extra.iter().any(|(k, _)| k == name);
                extra.push((name.to_owned(), value.into_owned()));
                seen
            }
        };
        if seen {
            return Err(AuthError::InvalidCallback(format!(
                "the parameter `{key}` appears more than once"
            )));
        }
    }
    let provider = provider.unwrap_or_else(|| "default".into());
    let client = runtime.rp.provider(&provider)?;
    if let Some((name, _)) = extra
        .iter()
        .find(|(name, _)| !client.config.login_params.contains(name))
    {
        return Err(AuthError::InvalidCallback(format!(
            "the parameter `{name}` is not in login_params"
        )));
    }
    let return_to = return_to.unwrap_or_else(|| "/".into());
    runtime
        .rp
        .start_login(&provider, &return_to, None, &extra)
        .await
}

/// The catchers the fairing registers.
pub(crate) fn catchers() -> Vec<Catcher> {
    vec![Catcher::new(401, login_catcher)]
}

/// What an authentication response is: a redirect or an error shown by the error view. Never
/// cached, never leaks a Referer.
pub(crate) enum AuthResponse {
    Redirect(String),
    Error(AuthError),
    Page(Status, String),
    /// The fragment relay page, with its own `Content-Security-Policy`.
    Relay(String, &'static str),
}

impl<'r> Responder<'r, 'static> for AuthResponse {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let mut csp = "frame-ancestors 'none'";
        let mut response = match self {
            AuthResponse::Redirect(location) => Response::build()
                .status(Status::SeeOther)
                .header(Header::new("Location", location))
                .finalize(),
            AuthResponse::Error(error) => {
                match error {
                    // Routine: an API request without a session.
                    AuthError::LoginRequired => log::debug!("OpenID Connect: {error}"),
                    _ => log::warn!("OpenID Connect: {error}"),
                }
                let runtime = req.rocket().state::<OidcRuntime>();
                let base_path = runtime.map_or("", |r| r.rp.base_path.as_str());
                // A failing application view falls back to ours: an error here would send the
                // request to a catcher, which drops the cookie changes (the used state).
                runtime
                    .and_then(|r| r.error_view.as_ref())
                    .and_then(|view| view(&error, req).ok())
                    .unwrap_or_else(|| default_error_page(&error, base_path))
            }
            AuthResponse::Page(status, html) => Response::build()
                .status(status)
                .header(ContentType::HTML)
                .sized_body(html.len(), Cursor::new(html))
                .finalize(),
            AuthResponse::Relay(html, policy) => {
                csp = policy;
                Response::build()
                    .header(ContentType::HTML)
                    .sized_body(html.len(), Cursor::new(html))
                    .finalize()
            }
        };
        response.set_raw_header("Cache-Control", "no-store");
        response.set_raw_header("Pragma", "no-cache");
        response.set_raw_header("Referrer-Policy", "no-referrer");
        response.set_raw_header("X-Frame-Options", "DENY");
        response.set_raw_header("Content-Security-Policy", csp);
        Ok(response)
    }
}

/// An [`AuthError`] is a responder: the error view with the error's status. Handlers can
/// return `Result<_, AuthError>` and use `?` on the library's calls.
impl<'r> Responder<'r, 'static> for AuthError {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        AuthResponse::Error(self).respond_to(req)
    }
}

/// The built-in error page: escaped text, the error's status, no details that could leak.
fn default_error_page(error: &AuthError, base_path: &str) -> Response<'static> {
    let status = Status::from_code(error.status_code()).unwrap_or(Status::BadRequest);
    let html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Login failed</title></head>\
         <body><h1>Login failed</h1><p><code>{}</code></p><p>{}</p>\
         <p><a href=\"{}/\">Start again</a></p></body></html>",
        html_escape::encode_text(error.error_code()),
        html_escape::encode_text(&error.description()),
        html_escape::encode_double_quoted_attribute(base_path),
    );
    Response::build()
        .status(status)
        .header(ContentType::HTML)
        .sized_body(html.len(), Cursor::new(html))
        .finalize()
}

#[get("/")]
async fn callback_get(
    uri: &Origin<'_>,
    route: &Route,
    jar: &CookieJar<'_>,
    runtime: &State<OidcRuntime>,
) -> AuthResponse {
    let query = uri.query().map(|q| q.as_str()).unwrap_or_default();
    // A response in the fragment reaches us as a GET without parameters: the relay page reads
    // the fragment in the browser and POSTs it here. Served for every GET without parameters
    // (also when no fragment login is pending any more, e.g. it took too long), so that tokens
    // in a fragment are always taken out of the address bar and the history.
    if query.is_empty() {
        let action = format!("{}{}", runtime.rp.base_path, route.uri.base());
        let (html, csp) = crate::front_channel::relay_page(&action);
        return AuthResponse::Relay(html, csp);
    }
    handle_callback(runtime, jar, query, route.uri.base(), false).await
}

#[post("/", data = "<body>")]
async fn callback_post(
    route: &Route,
    content_type: Option<&ContentType>,
    body: Data<'_>,
    jar: &CookieJar<'_>,
    runtime: &State<OidcRuntime>,
) -> AuthResponse {
    if content_type != Some(&ContentType::Form) {
        return AuthResponse::Error(AuthError::InvalidCallback(
            "the body is not application/x-www-form-urlencoded".into(),
        ));
    }
    let body = match body
        .open((MAX_CALLBACK_LEN + 1).bytes())
        .into_string()
        .await
    {
        Ok(body) if body.is_complete() => body.into_inner(),
        _ => {
            return AuthResponse::Error(AuthError::InvalidCallback(
                "the body is too large or unreadable".into(),
            ))
        }
    };
    handle_callback(runtime, jar, &body, route.uri.base(), true).await
}

async fn handle_callback(
    runtime: &OidcRuntime,
    jar: &CookieJar<'_>,
    input: &str,
    callback_path: &str,
    via_post: bool,
) -> AuthResponse {
    match complete(runtime, jar, input, callback_path, via_post).await {
        Ok(location) => AuthResponse::Redirect(location),
        Err(error) => AuthResponse::Error(error),
    }
}

async fn complete(
    runtime: &OidcRuntime,
    jar: &CookieJar<'_>,
    input: &str,
    callback_path: &str,
    via_post: bool,
) -> Result<String, AuthError> {
    let params = CallbackParams::parse(input)?;
    let state = params
        .state
        .as_deref()
        .ok_or(AuthError::InvalidState("the response has no state"))?;
    let pending = runtime
        .cookies
        .take_pending(jar, state)
        .ok_or(AuthError::InvalidState(
            "no login is pending for this state",
        ))?;
    let return_to = safe_return_path(&pending.return_to)
        .unwrap_or("/")
        .to_owned();
    let silent = pending.silent_sub.is_some();
    let provider = pending.provider.clone();
    let result = runtime
        .rp
        .finish_login(pending, params, callback_path, via_post)
        .await;
    let now = unix_now();
    let previous = runtime.sessions.read(jar, now).await.ok().flatten();
    // A session ended meanwhile (a logout everywhere, by the provider) is not continued by a
    // silent re-authentication that was already under way.
    let previous_ended = match &previous {
        Some(previous) => runtime.rp.records.is_ended(previous).await?,
        None => false,
    };
    let mut session = match (result, silent) {
        (Ok(session), false) => session,
        // A silent re-authentication continues the session it was started for, or fails.
        (Ok(session), true) => match previous {
            Some(previous)
                if !previous_ended
                    && previous.provider() == session.provider()
                    && previous.issuer() == session.issuer()
                    && previous.claims().subject() == session.claims().subject() =>
            {
                session.continues(&previous)
            }
            _ => {
                return silent_failure(
                    runtime,
                    jar,
                    &provider,
                    &return_to,
                    AuthError::InvalidState("the session to refresh has ended"),
                )
                .await
            }
        },
        // A failed silent re-authentication (login_required, a provider error, an invalid ID
        // token...) ends the session and, by default, starts an interactive login: never an
        // error page on every navigation.
        (Err(error), true) => {
            return silent_failure(runtime, jar, &provider, &return_to, error).await;
        }
        (Err(error), false) => return Err(error),
    };
    if runtime.rp.config.session_expires_with_id_token {
        if let Some(exp) = session.claims().get("exp").and_then(|e| e.as_i64()) {
            session.end_by(exp);
        }
    }
    // A fresh session on every login: everything of the previous one is replaced, and a
    // logout still waiting for the provider is forgotten.
    runtime.sessions.remove(jar).await?;
    runtime.cookies.remove_pending_logout(jar);
    if !runtime.sessions.write(jar, &session, true).await? {
        runtime.sessions.remove(jar).await?;
        return Err(AuthError::SessionTooLarge);
    }
    if let Some(sid) = session.provider_sid() {
        let client = (session.issuer(), session.client_id());
        let records = &runtime.rp.records;
        let remembered = records.remember_provider_sid(client, sid, session.expires_at());
        if let Err(error) = remembered.await {
            log::warn!("OpenID Connect: the provider session id was not recorded: {error}");
        }
    }
    log::info!(
        "OpenID Connect: login via `{}` completed",
        session.provider()
    );
    Ok(format!("{}{return_to}", runtime.rp.base_path))
}

/// Ends the session after a failed silent re-authentication; then an interactive login
/// (`silent_refresh_failure = "login"`, the default) or the error view.
async fn silent_failure(
    runtime: &OidcRuntime,
    jar: &CookieJar<'_>,
    provider: &str,
    return_to: &str,
    error: AuthError,
) -> Result<String, AuthError> {
    log::info!("OpenID Connect: silent re-authentication failed: {error}");
    runtime.sessions.remove(jar).await?;
    let failure = runtime.rp.provider(provider)?.config.silent_refresh_failure;
    if failure == SilentRefreshFailure::Error || matches!(error, AuthError::SubjectChanged) {
        return Err(error);
    }
    let start = runtime
        .rp
        .start_login(provider, return_to, None, &[])
        .await?;
    runtime.cookies.add_pending(jar, &start.pending);
    Ok(start.authorization_url)
}

/// The 401 catcher that starts logins: when an [`OidcUser`](crate::OidcUser) guard found no
/// session, a browser navigation is redirected to the guard's provider; any other request gets
/// 401 (through the error view) without a pending-login cookie. A 401 that no guard of this
/// crate caused gets a plain 401 page.
///
/// The fairing registers it at `/`. An application with its own 401 catcher at `/` (which
/// would collide) uses [`OpenIdConnect::without_catcher`](crate::OpenIdConnect::without_catcher)
/// and calls this function from its catcher, or registers it at another base.
///
/// # Example
///
/// ```
/// use rocket::catcher::{BoxFuture, Catcher};
/// use rocket::http::Status;
/// use rocket::Request;
/// use rocket_openidconnect::{login_catcher, OpenIdConnect};
///
/// fn my_401<'r>(status: Status, req: &'r Request<'_>) -> BoxFuture<'r> {
///     // ... the application's own logic, then:
///     login_catcher(status, req)
/// }
///
/// let rocket = rocket::build()
///     .attach(OpenIdConnect::fairing().without_catcher())
///     .register("/", vec![Catcher::new(401, my_401)]);
/// ```
pub fn login_catcher<'r>(status: Status, req: &'r Request<'_>) -> catcher::BoxFuture<'r> {
    Box::pin(async move {
        let runtime = req.rocket().state::<OidcRuntime>();
        let response = match (runtime, PendingVerdict::take(req)) {
            (Some(runtime), Some(Verdict::Login(provider))) if is_navigation(req) => {
                let return_to = req.uri().to_string();
                match runtime
                    .rp
                    .start_login(provider, &return_to, None, &[])
                    .await
                {
                    Ok(start) => {
                        runtime.cookies.add_pending(req.cookies(), &start.pending);
                        AuthResponse::Redirect(start.authorization_url)
                    }
                    Err(error) => AuthResponse::Error(error),
                }
            }
            (Some(_), Some(Verdict::Login(_))) => AuthResponse::Error(AuthError::LoginRequired),
            (_, Some(Verdict::Failed(error))) => AuthResponse::Error(error),
            (_, Some(Verdict::Bearer(error))) => {
                return Ok(crate::bearer_guard::bearer_response(&error));
            }
            (Some(runtime), Some(Verdict::Logout(outcome))) => {
                match logout_routes::apply(runtime, req.cookies(), &outcome).await {
                    Some(error) => AuthResponse::Error(error),
                    None => logout_routes::respond(runtime, outcome),
                }
            }
            _ => AuthResponse::Page(
                status,
                "<!DOCTYPE html><html><body><h1>401 Unauthorized</h1></body></html>".into(),
            ),
        };
        response.respond_to(req)
    })
}
