//! The callback routes, mounted at every `redirect_path`: the authorization response (a GET
//! with a query, a POST from `form_post` or from the relay page), completed by the client
//! layer, judged by the session policy, and the outcome applied to the cookies.

use rocket::data::{Data, ToByteUnit};
use rocket::http::uri::Origin;
use rocket::http::{ContentType, CookieJar};
use rocket::{get, post, routes, Route, State};

use crate::client::callback::Arrival;
use crate::client::login::Returning;
use crate::error::AuthError;
use crate::protocol::callback::CallbackParams;
use crate::session::model::UserSession;
use crate::session::policy::{after_login, LoginOutcome, SessionRules};
use crate::util::clock::unix_now;
use crate::util::params::MAX_PARAMS_LEN;
use crate::util::url::safe_return_path;
use crate::web::login_hook::LoginEvent;
use crate::web::logout::end_locally;
use crate::web::logout_hook::LogoutChannel;
use crate::web::relay::relay_page;
use crate::web::response::AuthResponse;
use crate::web::runtime::OidcRuntime;

/// The callback routes, mounted at `redirect_path`.
pub(crate) fn callback_routes() -> Vec<Route> {
    routes![callback_get, callback_post]
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
        let (html, csp) = relay_page(&action);
        return AuthResponse::Relay(html, csp);
    }
    let arrival = Arrival {
        path: route.uri.base(),
        via_post: false,
    };
    respond(complete(runtime, jar, query, arrival).await)
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
    let body = match body.open((MAX_PARAMS_LEN + 1).bytes()).into_string().await {
        Ok(body) if body.is_complete() => body.into_inner(),
        _ => {
            return AuthResponse::Error(AuthError::InvalidCallback(
                "the body is too large or unreadable".into(),
            ))
        }
    };
    let arrival = Arrival {
        path: route.uri.base(),
        via_post: true,
    };
    respond(complete(runtime, jar, &body, arrival).await)
}

fn respond(result: Result<String, AuthError>) -> AuthResponse {
    match result {
        Ok(location) => AuthResponse::Redirect(location),
        Err(error) => AuthResponse::Error(error),
    }
}

/// Completes the login this browser started: the pending login is taken (a state is used
/// once), the client layer completes it, the session policy decides, and the outcome is
/// applied. Returns where the browser goes next.
async fn complete(
    runtime: &OidcRuntime,
    jar: &CookieJar<'_>,
    input: &str,
    arrival: Arrival<'_>,
) -> Result<String, AuthError> {
    let params = CallbackParams::parse(input)?;
    // A JARM response's state is inside it: read (unverified) only to find the pending login,
    // whose provider's keys then verify the whole response.
    // Only for a browser with a JARM login under way (in an authenticated cookie), and only
    // with those logins' providers' settings: a flood of encrypted responses costs no key
    // operation without one.
    let no_pending = AuthError::InvalidState("no login is pending for this state");
    let state = match (&params.response, &params.state) {
        (Some(response), _) => {
            let providers = runtime.cookies.pending_jarm_providers(jar);
            if providers.is_empty() {
                return Err(AuthError::InvalidCallback(
                    "a JARM `response`, which no login under way in this browser asked for".into(),
                ));
            }
            runtime.rp.jarm_state(response, &providers).await?
        }
        (None, Some(state)) => state.secret().to_owned(),
        (None, None) => return Err(AuthError::InvalidState("the response has no state")),
    };
    let pending = runtime
        .cookies
        .take_pending(jar, &state)
        .ok_or(no_pending)?;
    let return_to = safe_return_path(&pending.return_to)
        .unwrap_or("/")
        .to_owned();
    let silent = pending.silent_sub.is_some();
    let provider = pending.provider.clone();
    let result = runtime
        .rp
        .finish_login(&runtime.records, pending, params, arrival)
        .await;
    let previous = runtime.sessions.read(jar, unix_now()).await.ok().flatten();
    let previous_ended = match &previous {
        Some(previous) => runtime.records.is_ended(previous).await?,
        None => false,
    };
    let config = &runtime.rp.config;
    let rules = SessionRules::of(config, config.providers.get(&provider));
    let previous = previous.as_deref().map(|p| (p, previous_ended));
    match after_login(result, silent, previous, &rules) {
        LoginOutcome::Store(session) => {
            if let Some(hook) = &runtime.on_login {
                let event = LoginEvent {
                    session: session.clone(),
                    silent,
                };
                if let Err(reason) = hook(event).await {
                    // No session: not this one, and not one the browser had (recorded as
                    // ended, so that a copy of its cookie is none either).
                    end_locally(runtime, jar, LogoutChannel::Local).await?;
                    return Err(AuthError::LoginRefused(reason));
                }
            }
            store_new_session(runtime, jar, &session).await?;
            log::info!(
                "OpenID Connect: login via `{}` completed",
                session.provider()
            );
            Ok(format!("{}{return_to}", runtime.rp.base_path))
        }
        LoginOutcome::SilentFailed { error, login } => {
            log::info!("OpenID Connect: silent re-authentication failed: {error}");
            runtime.sessions.remove(jar).await?;
            if !login {
                return Err(error);
            }
            let start = runtime
                .rp
                .start_login(&provider, &return_to, Returning::Unknown, &[])
                .await?;
            runtime.cookies.add_pending(jar, &start.pending);
            Ok(start.authorization_url)
        }
        LoginOutcome::Failed(error) => Err(error),
    }
}

/// A fresh session on every login: everything of the previous one is replaced, a logout still
/// waiting for the provider is forgotten, and the provider's session id is remembered (a
/// front-channel logout is taken only for those).
async fn store_new_session(
    runtime: &OidcRuntime,
    jar: &CookieJar<'_>,
    session: &UserSession,
) -> Result<(), AuthError> {
    runtime.sessions.remove(jar).await?;
    runtime.cookies.remove_pending_logout(jar);
    if !runtime.sessions.write(jar, session, true).await? {
        runtime.sessions.remove(jar).await?;
        return Err(AuthError::SessionTooLarge);
    }
    if let Some(sid) = session.provider_sid() {
        let client = (session.issuer(), session.client_id());
        let remembered = runtime
            .records
            .remember_provider_sid(client, sid, session.expires_at());
        if let Err(error) = remembered.await {
            log::warn!("OpenID Connect: the provider session id was not recorded: {error}");
        }
    }
    Ok(())
}
