//! The example application: `/` needs a login, `/admin` an administrator (the `groups` claim
//! holds `admins`), `/stepup` a second factor (`acr` `urn:example:acr:mfa`), `/public` nothing,
//! `/goodbye` is the application's own logout route, and the fairing adds `/redirect_uri` (the
//! callback) and `/logout`.
//!
//! Run it against the provider configured in `Rocket.toml` (see the README), or build it with
//! any figment, as the integration tests do.

use rocket::figment::Figment;
use rocket::http::CookieJar;
use rocket::serde::json::{json, Json, Value};
use rocket::{get, routes, Build, Rocket};
use rocket_openidconnect::{
    literal, Acr, AuthError, Authorized, BearerError, BearerToken, ClaimContains, OidcLogout,
    OidcUser, OpenIdConnect,
};

/// Protected: the user's ID token claims, userinfo and access token.
#[get("/")]
fn index(user: OidcUser) -> Json<Value> {
    Json(json!({
        "id_token": user.claims(),
        "userinfo": user.userinfo(),
        "access_token": user.access_token().map(|t| t.secret()),
    }))
}

/// Protected: an access token valid for at least 30 more seconds, refreshed first if needed
/// (or always with `?force=true`).
#[get("/token?<force>")]
async fn token(
    mut user: OidcUser,
    jar: &CookieJar<'_>,
    force: Option<bool>,
) -> Result<Json<Value>, AuthError> {
    let token = user.valid_access_token(jar, force.unwrap_or(false)).await?;
    Ok(Json(json!({
        "access_token": token.secret(),
        "expires_at": user.access_token_expires_at(),
    })))
}

/// An API: a bearer token with the scope `api` (never a redirect; RFC 6750 errors).
#[get("/api")]
fn api(token: BearerToken) -> Result<Json<Value>, BearerError> {
    token.require_scopes(&["api"])?;
    Ok(Json(json!({
        "sub": token.subject(),
        "client_id": token.client_id(),
        "scopes": token.scopes(),
    })))
}

literal!(Groups = "groups");
literal!(Admins = "admins");
literal!(Mfa = "urn:example:acr:mfa");

/// Users whose `groups` claim (ID token or userinfo) holds `admins`.
type Administrator = ClaimContains<Groups, Admins>;

/// For administrators only: the user's claims (ID token, then userinfo). Another logged-in
/// user gets 403 with the error view.
#[get("/admin")]
fn admin(user: Authorized<Administrator>) -> Json<Value> {
    Json(Value::Object(user.merged_claims()))
}

/// Needs a second factor (`acr` `urn:example:acr:mfa`): a session without it is sent to the
/// provider again with `acr_values=urn:example:acr:mfa`; a provider that answers with less
/// gets 403.
#[get("/stepup")]
fn stepup(user: Authorized<Acr<Mfa>>) -> Json<Value> {
    Json(json!({
        "sub": user.claims().subject(),
        "acr": user.claims().get("acr"),
    }))
}

/// Public: works with and without a login.
#[get("/public")]
fn public(user: Option<OidcUser>) -> String {
    match user {
        Some(user) => format!(
            "Public page. You are logged in as {}.",
            user.claims().subject()
        ),
        None => "Public page. You are not logged in.".into(),
    }
}

/// The application's own logout route: the session is gone (and, if the provider supports
/// it, the provider's session too) when this runs.
#[get("/goodbye")]
fn goodbye(_logout: OidcLogout) -> &'static str {
    "Goodbye! You are logged out."
}

/// The application, configured by `figment`.
pub fn app(figment: Figment) -> Rocket<Build> {
    rocket::custom(figment)
        .attach(OpenIdConnect::fairing())
        .mount(
            "/",
            routes![index, token, api, admin, stepup, public, goodbye],
        )
}

#[allow(dead_code)]
#[rocket::main]
async fn main() {
    if let Err(error) = app(rocket::Config::figment()).launch().await {
        eprintln!("the example app stopped: {error}");
        std::process::exit(1);
    }
}
