//! The 401 catcher: where the guards' verdicts (a login, a logout, a refused bearer token, a
//! store that is down) become responses.

use rocket::catcher::{self, Catcher};
use rocket::http::Status;
use rocket::request::Request;
use rocket::response::Responder;

use crate::client::login::Returning;
use crate::error::AuthError;
use crate::web::logout;
use crate::web::navigation::is_navigation;
use crate::web::response::{bearer_response, AuthResponse};
use crate::web::runtime::OidcRuntime;
use crate::web::verdict::{PendingVerdict, Verdict};

/// The catchers the fairing registers.
pub(crate) fn catchers() -> Vec<Catcher> {
    vec![Catcher::new(401, login_catcher)]
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
        let runtime = OidcRuntime::of(req);
        let response = match (runtime, PendingVerdict::take(req)) {
            (Some(runtime), Some(Verdict::Login(provider))) if is_navigation(req) => {
                login(req, runtime, provider, Returning::Unknown).await
            }
            (Some(runtime), Some(Verdict::StepUp(provider, session, ask))) => {
                login(
                    req,
                    runtime,
                    provider,
                    Returning::SteppingUp(&session, &ask),
                )
                .await
            }
            (Some(_), Some(Verdict::Login(_))) => AuthResponse::Error(AuthError::LoginRequired),
            (_, Some(Verdict::Failed(error))) => AuthResponse::Error(error),
            (_, Some(Verdict::Bearer(error))) => {
                return Ok(bearer_response(&error));
            }
            (Some(runtime), Some(Verdict::Logout(outcome))) => {
                match logout::apply(runtime, req.cookies(), &outcome).await {
                    Some(error) => AuthResponse::Error(error),
                    None => logout::respond(runtime, outcome),
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

/// A login (or step-up) for this request's browser, back to the same URL.
async fn login(
    req: &Request<'_>,
    runtime: &OidcRuntime,
    provider: &str,
    returning: Returning<'_>,
) -> AuthResponse {
    let return_to = req.uri().to_string();
    match runtime
        .rp
        .start_login(provider, &return_to, returning, &[])
        .await
    {
        Ok(start) => {
            runtime.cookies.add_pending(req.cookies(), &start.pending);
            AuthResponse::Redirect(start.authorization_url)
        }
        Err(error) => AuthResponse::Error(error),
    }
}
