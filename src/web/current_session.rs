//! The request's session outside the guards (Flask-pyoidc's `UserSession(flask.session)` and
//! its `clear()`): read it without starting a login, end it here without a provider round trip.

use std::sync::Arc;

use rocket::http::{CookieJar, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Ignite, Rocket, Sentinel};

use crate::error::StoreError;
use crate::session::model::UserSession;
use crate::util::clock::unix_now;
use crate::web::logout::end_locally;
use crate::web::logout_hook::LogoutChannel;
use crate::web::provider::{DefaultProvider, Provider};
use crate::web::runtime::{launch_check, OidcRuntime};
use crate::web::user::judge_session;

/// The request's session, for code that must not start a login: a handler that shows a page
/// either way, a fairing, an account deletion that ends the session. A guard that never
/// fails (with the fairing attached); for fairings, [`CurrentSession::of`].
///
/// Which to use: [`OidcUser`](crate::OidcUser) for a route that needs a user (it starts the
/// login, refreshes, re-authenticates silently); `Option<OidcUser>` for a route that works
/// either way and may write the session back; `CurrentSession` to look without touching
/// anything, or to end the session locally. [`OidcLogout`](crate::OidcLogout) or the logout
/// route end it at the provider too.
///
/// # Example
///
/// ```
/// use rocket::post;
/// use rocket_openidconnect::{AuthError, CurrentSession};
///
/// #[post("/account/delete")]
/// async fn delete_account(current: CurrentSession<'_>) -> Result<&'static str, AuthError> {
///     if let Some(user) = current.get().await? {
///         // ... delete the account of `user.claims().subject()` ...
///         current.end().await?; // the session ends here and now, on every store
///     }
///     Ok("deleted")
/// }
/// ```
pub struct CurrentSession<'r> {
    runtime: &'r OidcRuntime,
    jar: &'r CookieJar<'r>,
}

impl<'r> CurrentSession<'r> {
    /// The handle of `req`'s session, if the fairing is attached (for fairings and other code
    /// that has the request).
    pub fn of(req: &'r Request<'_>) -> Option<Self> {
        let jar = req.cookies();
        OidcRuntime::of(req).map(|runtime| CurrentSession { runtime, jar })
    }

    /// The request's session with the `default` provider, if it is valid: what
    /// `OidcUser` would get, but nothing is started (no login, refresh or re-authentication)
    /// and nothing is written. An error only when the session store cannot be reached.
    pub async fn get(&self) -> Result<Option<UserSession>, StoreError> {
        self.get_for::<DefaultProvider>().await
    }

    /// [`get`](Self::get) for provider `P`.
    pub async fn get_for<P: Provider>(&self) -> Result<Option<UserSession>, StoreError> {
        let session = self.runtime.sessions.read(self.jar, unix_now()).await?;
        let valid = judge_session(self.runtime, session.as_ref(), P::NAME).await?;
        Ok(valid.map(|v| Arc::unwrap_or_clone(v.session)))
    }

    /// Ends the request's session here and now, without the provider (its session there goes
    /// on): recorded as ended (a copy of the cookie is refused from now on, on every instance
    /// sharing the store), removed from the server-side store and from the response's
    /// cookies. `Ok(true)` if there was a session. The cookies go even when the store fails.
    pub async fn end(&self) -> Result<bool, StoreError> {
        end_locally(self.runtime, self.jar, LogoutChannel::Local).await
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for CurrentSession<'r> {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        match CurrentSession::of(req) {
            Some(current) => Outcome::Success(current),
            None => Outcome::Error((Status::InternalServerError, ())),
        }
    }
}

impl Sentinel for CurrentSession<'_> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        launch_check(rocket, "CurrentSession", None)
    }
}
