//! The responses of the edge: redirects, pages and errors (through the application's error
//! view or a built-in page), never cached and never leaking a Referer; and the RFC 6750
//! responses of refused bearer tokens.

use std::io::Cursor;

use rocket::http::{ContentType, Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};

use crate::error::{AuthError, BearerError};
use crate::web::runtime::OidcRuntime;

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
                    // Routine: an API request without a session, a user a route refuses.
                    AuthError::LoginRequired
                    | AuthError::Forbidden
                    | AuthError::InsufficientUserAuthentication { .. } => {
                        log::debug!("OpenID Connect: {error}")
                    }
                    _ => log::warn!("OpenID Connect: {error}"),
                }
                let runtime = OidcRuntime::of(req);
                let base_path = runtime.map_or("", |r| r.rp.base_path.as_str());
                // A failing application view falls back to ours: an error here would send the
                // request to a catcher, which drops the cookie changes (the used state).
                let mut response = runtime
                    .and_then(|r| r.error_view.as_ref())
                    .and_then(|view| view(&error, req).ok())
                    .unwrap_or_else(|| default_error_page(&error, base_path));
                // RFC 9470: what a stronger authentication must bring.
                if let Some(challenge) = error.www_authenticate() {
                    response.set_raw_header("WWW-Authenticate", challenge);
                }
                response
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

/// The realm of `WWW-Authenticate` challenges.
const REALM: &str = "api";

/// The RFC 6750 response: status, `WWW-Authenticate`, a small JSON body, never cached.
pub(crate) fn bearer_response(error: &BearerError) -> Response<'static> {
    let status = Status::from_code(error.status_code()).unwrap_or(Status::Unauthorized);
    // Fixed texts only: nothing of the request (an attacker's `alg`, say) is echoed.
    let (code, description) = match error {
        BearerError::Missing => ("unauthorized", "a bearer token is required"),
        BearerError::Malformed => ("invalid_request", "the Authorization header is malformed"),
        BearerError::Invalid(_) => ("invalid_token", "the access token is invalid or expired"),
        BearerError::InsufficientScope(_) => ("insufficient_scope", "the token lacks a scope"),
        BearerError::Unavailable(_) => ("temporarily_unavailable", "the provider is unavailable"),
        BearerError::InsufficientUserAuthentication { .. } => (
            "insufficient_user_authentication",
            "a stronger authentication is required",
        ),
        BearerError::InvalidDpopProof(_) => ("invalid_dpop_proof", "the DPoP proof is invalid"),
        BearerError::InvalidDpopToken(_) => {
            ("invalid_token", "the access token is invalid or expired")
        }
        BearerError::Store(_) => ("temporarily_unavailable", "the store is unavailable"),
        BearerError::UseDpopNonce { .. } => ("use_dpop_nonce", "the DPoP proof needs a nonce"),
    };
    let body = serde_json::json!({ "error": code, "error_description": description }).to_string();
    let mut response = Response::build();
    response
        .status(status)
        .header(ContentType::JSON)
        .raw_header("WWW-Authenticate", error.www_authenticate(REALM))
        .raw_header("Cache-Control", "no-store");
    if let BearerError::UseDpopNonce { nonce } = error {
        response.raw_header("DPoP-Nonce", nonce.clone());
    }
    response
        .sized_body(body.len(), Cursor::new(body))
        .finalize()
}

impl<'r> Responder<'r, 'static> for BearerError {
    fn respond_to(self, _req: &'r Request<'_>) -> response::Result<'static> {
        Ok(bearer_response(&self))
    }
}
