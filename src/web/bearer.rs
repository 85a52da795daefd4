//! The guards of API protection: [`BearerToken`], and [`OidcAccess`] (a session or a bearer
//! token).

use std::marker::PhantomData;
use std::ops::Deref;

use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Ignite, Rocket, Sentinel};

use crate::error::BearerError;
use crate::protocol::access_token::AccessTokenInfo;
use crate::web::provider::{DefaultProvider, Provider};
use crate::web::runtime::launch_check;
use crate::web::runtime::OidcRuntime;
use crate::web::user::OidcUser;
use crate::web::verdict::{PendingVerdict, Verdict};

/// A request authenticated by `Authorization: Bearer <access token>` for provider `P`: the
/// token is validated locally as a JWT or by introspection (`access_token_validation`), with
/// the configured `audiences`. Never redirects: a missing or bad token gets 401 with
/// `WWW-Authenticate: Bearer ...` (RFC 6750), an unreachable provider 503. Check scopes with
/// [`require_scopes`](Self::require_scopes). Dereferences to [`AccessTokenInfo`].
///
/// # Example
///
/// ```
/// use rocket::get;
/// use rocket::serde::json::{json, Json, Value};
/// use rocket_openidconnect::{BearerError, BearerToken};
///
/// #[get("/api")]
/// fn api(token: BearerToken) -> Result<Json<Value>, BearerError> {
///     token.require_scopes(&["api"])?;
///     Ok(Json(json!({ "sub": token.subject(), "scopes": token.scopes() })))
/// }
/// ```
pub struct BearerToken<P: Provider = DefaultProvider> {
    info: AccessTokenInfo,
    _provider: PhantomData<fn() -> P>,
}

impl<P: Provider> BearerToken<P> {
    /// `Ok` if every one of `scopes` was granted, else [`BearerError::InsufficientScope`]
    /// (a 403 response naming them).
    pub fn require_scopes(&self, scopes: &[&str]) -> Result<(), BearerError> {
        if scopes.iter().all(|s| self.info.has_scope(s)) {
            Ok(())
        } else {
            Err(BearerError::InsufficientScope(
                scopes.iter().map(|s| (*s).to_owned()).collect(),
            ))
        }
    }

    /// `Ok` if the token's user authenticated with one of `acr_values` (space-separated) and
    /// at most `max_age` seconds ago (each when given), else
    /// [`BearerError::InsufficientUserAuthentication`]: a 401 whose RFC 9470 challenge tells
    /// the client what to ask the provider for.
    ///
    /// # Example
    ///
    /// ```
    /// use rocket::get;
    /// use rocket_openidconnect::{BearerError, BearerToken};
    ///
    /// #[get("/payments")]
    /// fn payments(token: BearerToken) -> Result<&'static str, BearerError> {
    ///     token.require_authentication(Some("urn:example:acr:mfa"), Some(300))?;
    ///     Ok("paid")
    /// }
    /// ```
    pub fn require_authentication(
        &self,
        acr_values: Option<&str>,
        max_age: Option<u64>,
    ) -> Result<(), BearerError> {
        let claims = self.info.claims();
        let acr_ok = acr_values.is_none_or(|values| {
            let acr = claims.get("acr").and_then(|a| a.as_str());
            acr.is_some_and(|acr| values.split_whitespace().any(|v| v == acr))
        });
        let age_ok = max_age.is_none_or(|max_age| {
            let auth_time = claims.get("auth_time").and_then(|t| t.as_i64());
            let now = crate::util::clock::unix_now();
            auth_time.is_some_and(|t| now.saturating_sub(t) <= max_age as i64)
        });
        if acr_ok && age_ok {
            return Ok(());
        }
        Err(BearerError::InsufficientUserAuthentication {
            acr_values: acr_values.map(str::to_owned),
            max_age,
        })
    }

    /// What the token says.
    pub fn info(&self) -> &AccessTokenInfo {
        &self.info
    }
}

impl<P: Provider> Deref for BearerToken<P> {
    type Target = AccessTokenInfo;
    fn deref(&self) -> &AccessTokenInfo {
        &self.info
    }
}

impl<P: Provider> std::fmt::Debug for BearerToken<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerToken")
            .field("sub", &self.info.subject())
            .field("scopes", &self.info.scopes())
            .finish()
    }
}

/// How the access token came: `Authorization: Bearer` or `Authorization: DPoP`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Bearer,
    Dpop,
}

/// The token of `Authorization: Bearer <token>` or `Authorization: DPoP <token>`.
fn access_token<'a>(req: &'a Request<'_>) -> Result<(Scheme, &'a str), BearerError> {
    let mut values = req.headers().get("Authorization");
    let Some(value) = values.next() else {
        return Err(BearerError::Missing);
    };
    if values.next().is_some() {
        return Err(BearerError::Malformed);
    }
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        // Another scheme (Basic, say) is no access token at all.
        return Err(BearerError::Missing);
    };
    let token = token.trim();
    // RFC 6750 2.1 b64token characters, bounded.
    let valid = !token.is_empty()
        && token.len() <= 16 * 1024
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b));
    if !valid {
        return Err(BearerError::Malformed);
    }
    Ok((scheme, token))
}

/// Validates the request's access token: a bearer token, or a DPoP-bound one whose proof
/// (exactly one `DPoP` header) is checked first, against this request's method and URL (as
/// the client saw it: behind `base_url`).
async fn validate(
    req: &Request<'_>,
    runtime: &OidcRuntime,
    provider: &str,
) -> Result<AccessTokenInfo, BearerError> {
    let (scheme, token) = access_token(req)?;
    let validator = &runtime.access_tokens;
    if scheme == Scheme::Bearer {
        return validator.validate(provider, token, None).await;
    }
    let mut proofs = req.headers().get("DPoP");
    let (Some(proof), None) = (proofs.next(), proofs.next()) else {
        return Err(BearerError::InvalidDpopProof(
            "a DPoP request needs exactly one DPoP header".into(),
        ));
    };
    let url = runtime.rp.absolute_url(req.uri().path().as_str());
    let method = req.method().as_str();
    let proof = validator.check_proof(proof, method, &url, token)?;
    let info = validator
        .validate(provider, token, Some(&proof.jkt))
        .await
        .map_err(|error| match error {
            BearerError::Invalid(why) => BearerError::InvalidDpopToken(why),
            other => other,
        })?;
    // Only now, with a token bound to the proof's key, is the proof's `jti` recorded.
    validator.record_proof(&runtime.records, &proof).await?;
    Ok(info)
}

#[rocket::async_trait]
impl<'r, P: Provider> FromRequest<'r> for BearerToken<P> {
    type Error = BearerError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, BearerError> {
        let Some(runtime) = OidcRuntime::of(req) else {
            return Outcome::Error((Status::InternalServerError, BearerError::Missing));
        };
        let result = validate(req, runtime, P::NAME).await;
        match result {
            Ok(info) => Outcome::Success(BearerToken {
                info,
                _provider: PhantomData,
            }),
            Err(error) => {
                log::debug!("OpenID Connect: bearer token refused: {error}");
                PendingVerdict::replace(req, Verdict::Bearer(error.clone()));
                Outcome::Error((Status::Unauthorized, error))
            }
        }
    }
}

impl<P: Provider> Sentinel for BearerToken<P> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        launch_check(rocket, "BearerToken", Some(P::NAME))
    }
}

/// A browser session or a bearer token of provider `P` (Flask-pyoidc's `access_control`): a
/// request with an `Authorization` header is judged by its token only (401 if bad, never a
/// redirect); one without is judged by its session (a navigation without one is sent to log
/// in, anything else gets 401).
///
/// # Example
///
/// ```
/// use rocket::get;
/// use rocket_openidconnect::OidcAccess;
///
/// #[get("/data")]
/// fn data(access: OidcAccess) -> String {
///     match access {
///         OidcAccess::Session(user) => format!("user {}", user.claims().subject()),
///         OidcAccess::Bearer(token) => format!("client {:?}", token.client_id()),
///     }
/// }
/// ```
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per request; boxing would only cost an allocation
pub enum OidcAccess<P: Provider = DefaultProvider> {
    /// A logged-in browser.
    Session(OidcUser<P>),
    /// A bearer token.
    Bearer(BearerToken<P>),
}

#[rocket::async_trait]
impl<'r, P: Provider> FromRequest<'r> for OidcAccess<P> {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        let bearer = req.headers().get_one("Authorization").is_some_and(|v| {
            let v = v.trim_start();
            v.get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("bearer "))
                || v.get(..5).is_some_and(|s| s.eq_ignore_ascii_case("dpop "))
        });
        if bearer {
            match BearerToken::<P>::from_request(req).await {
                Outcome::Success(token) => Outcome::Success(OidcAccess::Bearer(token)),
                Outcome::Error((status, _)) => Outcome::Error((status, ())),
                Outcome::Forward(status) => Outcome::Forward(status),
            }
        } else {
            match OidcUser::<P>::from_request(req).await {
                Outcome::Success(user) => Outcome::Success(OidcAccess::Session(user)),
                Outcome::Error((status, _)) => Outcome::Error((status, ())),
                Outcome::Forward(status) => Outcome::Forward(status),
            }
        }
    }
}

impl<P: Provider> Sentinel for OidcAccess<P> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        launch_check(rocket, "OidcAccess", Some(P::NAME))
    }
}
