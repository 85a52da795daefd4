//! The [`Authorized<R, P>`] guard: a logged-in user of provider `P` who meets the requirement
//! `R`, checked before the handler runs.

use std::marker::PhantomData;
use std::ops::Deref;

use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Ignite, Rocket, Sentinel};

use crate::error::AuthError;
use crate::session::requirement::{Decision, Principal, Requirement};
use crate::util::clock::unix_now;
use crate::web::navigation::is_navigation;
use crate::web::provider::{DefaultProvider, Provider};
use crate::web::runtime::{launch_check, OidcRuntime};
use crate::web::user::OidcUser;
use crate::web::verdict::{PendingVerdict, Verdict};

/// A logged-in user of provider `P` (`default` when omitted) who meets the requirement `R`.
///
/// Without a session, the usual login (303 for a navigation, 401 otherwise). A user whom `R`
/// denies gets 403 with the error view. A user `R` asks to authenticate more strongly (an
/// [`Acr`](crate::Acr), a [`MaxAge`](crate::MaxAge)) is sent to the provider again with
/// `acr_values` / `max_age` (a browser navigation), and comes back to the same URL; a provider
/// that answers with less gives 403, never another redirect. A request that is not a
/// navigation gets 401 with an RFC 9470 `WWW-Authenticate: Bearer
/// error="insufficient_user_authentication"` challenge. Dereferences to [`OidcUser`].
///
/// # Example
///
/// ```
/// use rocket::get;
/// use rocket_openidconnect::{literal, Acr, Authorized, ClaimContains};
///
/// literal!(Groups = "groups");
/// literal!(Admins = "admins");
/// literal!(Mfa = "urn:example:acr:mfa");
///
/// #[get("/admin")]
/// fn admin(user: Authorized<ClaimContains<Groups, Admins>>) -> String {
///     format!("Hello, administrator {}", user.claims().subject())
/// }
///
/// #[get("/transfer")]
/// fn transfer(user: Authorized<Acr<Mfa>>) -> &'static str {
///     "authenticated with a second factor"
/// }
/// ```
pub struct Authorized<R: Requirement, P: Provider = DefaultProvider> {
    user: OidcUser<P>,
    _requirement: PhantomData<fn() -> R>,
}

impl<R: Requirement, P: Provider> Authorized<R, P> {
    /// Takes the user out.
    pub fn into_user(self) -> OidcUser<P> {
        self.user
    }
}

impl<R: Requirement, P: Provider> Deref for Authorized<R, P> {
    type Target = OidcUser<P>;
    fn deref(&self) -> &OidcUser<P> {
        &self.user
    }
}

impl<R: Requirement, P: Provider> std::fmt::Debug for Authorized<R, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Authorized").field(&self.user).finish()
    }
}

#[rocket::async_trait]
impl<'r, R: Requirement, P: Provider> FromRequest<'r> for Authorized<R, P> {
    type Error = AuthError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, AuthError> {
        let user = match OidcUser::<P>::from_request(req).await {
            Outcome::Success(user) => user,
            Outcome::Error(error) => return Outcome::Error(error),
            Outcome::Forward(status) => return Outcome::Forward(status),
        };
        let Some(runtime) = OidcRuntime::of(req) else {
            return Outcome::Error((Status::InternalServerError, AuthError::LoginRequired));
        };
        let roles_claim = runtime
            .rp
            .providers
            .get(P::NAME)
            .and_then(|p| p.config.roles_claim.as_deref());
        let principal = Principal::new(user.session(), roles_claim, unix_now());
        let error = match R::check(&principal) {
            Decision::Allow => {
                return Outcome::Success(Authorized {
                    user,
                    _requirement: PhantomData,
                })
            }
            Decision::Deny => {
                PendingVerdict::set(req, Verdict::Failed(AuthError::Forbidden));
                AuthError::Forbidden
            }
            Decision::StepUp(ask) if is_navigation(req) => {
                let session = user.shared_session();
                PendingVerdict::set(req, Verdict::StepUp(P::NAME, session, ask));
                AuthError::LoginRequired
            }
            Decision::StepUp(ask) => {
                let error = AuthError::InsufficientUserAuthentication {
                    acr_values: ask.acr_values,
                    max_age: ask.max_age,
                };
                PendingVerdict::set(req, Verdict::Failed(error.clone()));
                error
            }
        };
        // Through the 401 catcher, which answers with the verdict (and the error's status).
        Outcome::Error((Status::Unauthorized, error))
    }
}

impl<R: Requirement, P: Provider> Sentinel for Authorized<R, P> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        launch_check(rocket, "Authorized", Some(P::NAME))
    }
}
