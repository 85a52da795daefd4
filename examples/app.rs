//! The example application: `/` needs a login, `/admin` an administrator (the `groups` claim
//! holds `admins`), `/stepup` a second factor (`acr` `urn:example:acr:mfa`), `/public` nothing,
//! `/goodbye` is the application's own logout route, `/call-api` calls the app's own `/api` with
//! the user's token (as a handler calls another API; DPoP-bound with `dpop = true`),
//! `/call-api-as-app` the same with the application's own client credentials token, and the
//! fairing adds `/redirect_uri` (the callback) and `/logout`.
//!
//! Run it against the provider configured in `Rocket.toml` (see the README), or build it with
//! any figment, as the integration tests do.

use rocket::figment::Figment;
use rocket::http::{CookieJar, Status};
use rocket::serde::json::{json, Json, Value};
use rocket::{get, routes, Build, Rocket, State};
use rocket_openidconnect::{
    literal, Acr, AuthError, Authorized, BearerError, BearerToken, ClaimContains,
    ClientCredentialsGrant, OidcLogout, OidcUser, OpenIdConnect, ProviderError,
};

/// Protected: the user's ID token claims, userinfo and access token.
#[get("/")]
fn index(user: OidcUser) -> Json<Value> {
    Json(json!({
        "id_token": user.claims(),
        "userinfo": user.userinfo(),
        "access_token": user.access_token().map(|t| t.secret()),
        "token_type": user.token_type(),
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

/// Protected: calls this application's own `/api` with the user's access token (refreshed
/// first if needed), as a handler calls another API: `Authorization: DPoP` with a proof of the
/// session's key when the tokens are bound to it, else `Bearer`. An API that asks for a DPoP
/// nonce gets the request once more with it. Answers the API's status and JSON.
#[get("/call-api")]
async fn call_api(
    mut user: OidcUser,
    jar: &CookieJar<'_>,
    api: &State<ApiUrl>,
) -> Result<Json<Value>, Status> {
    user.valid_access_token(jar, false)
        .await
        .map_err(|_| Status::BadGateway)?;
    let url = api.0.clone().ok_or(Status::InternalServerError)?;
    let http = reqwest::Client::new();
    let (status, body) = call_with_nonce(|nonce| user.authorize(http.get(&url), nonce)).await?;
    Ok(Json(json!({ "status": status, "body": body })))
}

/// Protected: calls this application's own `/api` as the application itself, with its client
/// credentials token for the scope `api`, sent as `/call-api` sends the user's (bound to the
/// application's DPoP key with `dpop = true`). Only for logged-in users, and with a fixed
/// scope: what a request may not choose is the application's token (a route that minted
/// tokens for any scope a caller names would lend the application's rights to anyone).
/// Answers the token's type, the API's status and JSON; 502 when the provider gave no token.
#[get("/call-api-as-app")]
async fn call_api_as_app(
    _user: OidcUser,
    grant: ClientCredentialsGrant,
    api: &State<ApiUrl>,
) -> Result<Json<Value>, Status> {
    let token = grant.token("api").await.map_err(|_| Status::BadGateway)?;
    let url = api.0.clone().ok_or(Status::InternalServerError)?;
    let http = reqwest::Client::new();
    let (status, body) = call_with_nonce(|nonce| token.authorize(http.get(&url), nonce)).await?;
    Ok(Json(json!({
        "token_type": token.token_type(),
        "status": status,
        "body": body,
    })))
}

/// Sends the request `authorized` builds (with the API's DPoP nonce, if any): once, and once
/// more with the nonce when the API asks for one. The API's status and JSON.
async fn call_with_nonce(
    authorized: impl Fn(Option<&str>) -> Result<reqwest::RequestBuilder, ProviderError>,
) -> Result<(u16, Value), Status> {
    let mut nonce: Option<String> = None;
    for _ in 0..2 {
        let response = authorized(nonce.as_deref())
            .map_err(|_| Status::InternalServerError)?
            .send()
            .await
            .map_err(|_| Status::BadGateway)?;
        let asked = response
            .headers()
            .get("DPoP-Nonce")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status == 401 && body["error"] == "use_dpop_nonce" && nonce.is_none() && asked.is_some()
        {
            nonce = asked;
            continue;
        }
        return Ok((status, body));
    }
    Err(Status::BadGateway)
}

/// Where this application's `/api` is (from `oidc.base_url`).
struct ApiUrl(Option<String>);

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
    let base_url = figment.extract_inner::<String>("oidc.base_url").ok();
    let api = ApiUrl(base_url.map(|base| format!("{}/api", base.trim_end_matches('/'))));
    rocket::custom(figment)
        .attach(OpenIdConnect::fairing())
        .manage(api)
        .mount(
            "/",
            routes![
                index,
                token,
                api,
                call_api,
                call_api_as_app,
                admin,
                stepup,
                public,
                goodbye
            ],
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
