//! The routes a provider calls to end sessions: back-channel logout (a POSTed logout token,
//! server to server) and front-channel logout (a page the provider loads in a hidden frame).

use std::io::Cursor;

use rocket::data::{Data, ToByteUnit};
use rocket::http::uri::Origin;
use rocket::http::{ContentType, CookieJar, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use rocket::serde::json::json;
use rocket::{get, post, routes, Route, State};

use crate::client::backchannel::LogoutEvent;
use crate::error::AuthError;
use crate::util::clock::unix_now;
use crate::util::metrics;
use crate::util::params::{parse_params, MAX_PARAMS_LEN};
use crate::web::logout_hook::{notify, LogoutChannel, SessionEnded};
use crate::web::runtime::OidcRuntime;

/// The routes mounted at `backchannel_logout_path`.
pub(crate) fn backchannel_routes() -> Vec<Route> {
    routes![backchannel_post, backchannel_get]
}

/// The routes mounted at `frontchannel_logout_path`.
pub(crate) fn frontchannel_routes() -> Vec<Route> {
    routes![frontchannel_get]
}

/// The answer to a back-channel logout: 200 (empty), or 400 with a JSON error (503 when the
/// store is unavailable, so that the provider may try again); never cached.
enum BackchannelResponse {
    Done,
    Refused(AuthError),
}

impl<'r> Responder<'r, 'static> for BackchannelResponse {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let mut response = match self {
            BackchannelResponse::Done => Response::build().status(Status::Ok).finalize(),
            BackchannelResponse::Refused(error) => {
                log::warn!("OpenID Connect: back-channel logout refused: {error}");
                let status = match error {
                    AuthError::Store(_) | AuthError::Overloaded => Status::ServiceUnavailable,
                    AuthError::Provider(ref e) if e.is_unreachable() => Status::ServiceUnavailable,
                    _ => Status::BadRequest,
                };
                let body = json!({
                    "error": "invalid_request",
                    "error_description": error.description(),
                })
                .to_string();
                Response::build()
                    .status(status)
                    .header(ContentType::JSON)
                    .sized_body(body.len(), Cursor::new(body))
                    .finalize()
            }
        };
        response.set_raw_header("Cache-Control", "no-store");
        Ok(response)
    }
}

#[post("/", data = "<body>")]
async fn backchannel_post(
    content_type: Option<&ContentType>,
    body: Data<'_>,
    runtime: &State<OidcRuntime>,
) -> BackchannelResponse {
    let refuse = |why: &str| BackchannelResponse::Refused(AuthError::InvalidCallback(why.into()));
    if content_type != Some(&ContentType::Form) {
        return refuse("the body is not application/x-www-form-urlencoded");
    }
    let body = match body.open((MAX_PARAMS_LEN + 1).bytes()).into_string().await {
        Ok(body) if body.is_complete() => body.into_inner(),
        _ => return refuse("the body is too large or unreadable"),
    };
    let token = match parse_params(&body, ["logout_token"]) {
        Ok([Some(token)]) => token,
        Ok(_) => return refuse("no logout_token"),
        Err(error) => return BackchannelResponse::Refused(error.into()),
    };
    let records = &runtime.records;
    let result: Result<LogoutEvent, AuthError> =
        runtime.rp.validate_logout_token(records, &token).await;
    match result {
        Ok(event) => match runtime.rp.end_sessions(records, &event).await {
            Ok(()) => {
                remove_stored_sessions(runtime, &event).await;
                metrics::logout(&event.provider, "backchannel");
                let ended = SessionEnded {
                    provider: event.provider.clone(),
                    channel: LogoutChannel::Backchannel,
                    subject: event.sub.clone(),
                    provider_sid: event.sid.clone(),
                };
                notify(&runtime.on_logout, ended);
                BackchannelResponse::Done
            }
            Err(error) => {
                // Not done: the provider may send the same token again.
                let _ = records.forget_use("jti", &event.jti_record).await;
                BackchannelResponse::Refused(error)
            }
        },
        Err(error) => BackchannelResponse::Refused(error),
    }
}

#[get("/")]
fn backchannel_get() -> BackchannelResponse {
    BackchannelResponse::Refused(AuthError::InvalidCallback(
        "a logout token is POSTed".into(),
    ))
}

/// The front-channel logout page: empty, never cached, and frameable only by the provider(s).
struct FrontchannelResponse(Status, String);

impl<'r> Responder<'r, 'static> for FrontchannelResponse {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let html =
            "<!DOCTYPE html><html><head><title>Logged out</title></head><body></body></html>";
        let mut response = Response::build()
            .status(self.0)
            .header(ContentType::HTML)
            .sized_body(html.len(), Cursor::new(html))
            .finalize();
        response.set_raw_header("Cache-Control", "no-store");
        response.set_raw_header(
            "Content-Security-Policy",
            format!("default-src 'none'; frame-ancestors {}", self.1),
        );
        Ok(response)
    }
}

/// `GET {frontchannel_logout_path}?iss=...&sid=...`: ends the sessions of that provider
/// session. Without both parameters nothing can be matched (and the browser's cookies are not
/// sent to a third-party frame anyway): a request with only one of them is refused, one with
/// neither, or for another issuer, is ignored.
#[get("/")]
async fn frontchannel_get(
    uri: &Origin<'_>,
    jar: &CookieJar<'_>,
    runtime: &State<OidcRuntime>,
) -> FrontchannelResponse {
    let rp = &runtime.rp;
    // Only the providers' origins may frame this page.
    let mut origins: Vec<String> = rp
        .providers
        .values()
        .filter_map(|p| url::Url::parse(p.config.issuer()).ok())
        .map(|u| u.origin().ascii_serialization())
        .collect();
    origins.sort();
    origins.dedup();
    let ancestors = if origins.is_empty() {
        "'none'".to_owned()
    } else {
        origins.join(" ")
    };
    let query = uri.query().map(|q| q.as_str()).unwrap_or_default();
    let (iss, sid) = match parse_params(query, ["iss", "sid"]) {
        Ok([Some(iss), Some(sid)]) if !sid.is_empty() => (iss, sid),
        Ok([None, None]) => return FrontchannelResponse(Status::Ok, ancestors),
        _ => return FrontchannelResponse(Status::BadRequest, ancestors),
    };
    match rp.end_provider_session(&runtime.records, &iss, &sid).await {
        Ok(providers) => {
            for provider in providers {
                let ended = SessionEnded {
                    provider,
                    channel: LogoutChannel::Frontchannel,
                    subject: None,
                    provider_sid: Some(sid.clone()),
                };
                notify(&runtime.on_logout, ended);
            }
        }
        Err(error) => {
            log::warn!("OpenID Connect: front-channel logout failed: {error}");
            return FrontchannelResponse(Status::ServiceUnavailable, ancestors);
        }
    }
    // Where the browser does send the cookies (a provider on the same site), clear them.
    let now = unix_now();
    if let Ok(Some(session)) = runtime.sessions.read(jar, now).await {
        if session.issuer() == iss && session.provider_sid() == Some(&sid) {
            let _ = runtime.sessions.remove(jar).await;
        }
    }
    FrontchannelResponse(Status::Ok, ancestors)
}

/// With sessions kept on the server, the entries of the sessions a logout token ended (found
/// through the user's index: the token's `sub`, and its `sid` when it has one) are deleted,
/// and with `revoke_tokens_on_logout` their tokens revoked, in the background so that the
/// provider gets its answer at once. The sessions are already ended by their records: a
/// failure here is logged, and the entries leave at their expiry.
async fn remove_stored_sessions(runtime: &OidcRuntime, event: &LogoutEvent) {
    let Some(sub) = &event.sub else { return };
    let found = runtime
        .sessions
        .of_user(&event.issuer, &event.client_id, sub, unix_now())
        .await;
    let sessions = match found {
        Ok(Some(sessions)) => sessions,
        Ok(None) => return,
        Err(error) => {
            log::warn!("OpenID Connect: the sessions a back-channel logout ended stay stored until they expire: {error}");
            return;
        }
    };
    for (info, session) in sessions {
        let same_sid = event.sid.is_none() || session.provider_sid() == event.sid.as_deref();
        if session.provider() != event.provider || !same_sid {
            continue;
        }
        if let Err(error) = runtime.sessions.delete(&info.id).await {
            log::warn!("OpenID Connect: a session a back-channel logout ended stays stored until it expires: {error}");
        }
        let rp = runtime.rp.clone();
        rocket::tokio::spawn(async move { rp.revoke_on_provider_logout(&session).await });
    }
}
