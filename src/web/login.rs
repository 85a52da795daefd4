//! The login route (mounted at `login_path` when configured): a login started with
//! per-request parameters, or one a third party starts (OpenID Connect Core 4).

use rocket::data::{Data, ToByteUnit};
use rocket::http::uri::Origin;
use rocket::http::{ContentType, CookieJar};
use rocket::{get, post, routes, Route, State};

use crate::client::login::{LoginStart, Returning};
use crate::client::RelyingParty;
use crate::error::AuthError;
use crate::util::clock::unix_now;
use crate::util::params::{parse_all_params, MAX_PARAMS_LEN};
use crate::util::text::for_log;
use crate::util::url::app_path_of;
use crate::web::response::AuthResponse;
use crate::web::runtime::OidcRuntime;

/// The login route, mounted at `login_path` when configured.
pub(crate) fn login_routes() -> Vec<Route> {
    routes![login_get, login_post]
}

/// Starts a login with per-request parameters:
/// `GET {login_path}?provider=NAME&return_to=/path&login_hint=...`. `provider` defaults to
/// `default`, `return_to` to `/`; any other parameter must be in the provider's `login_params`
/// allow-list, and is added to (or replaces a configured) authorization request parameter.
/// A login a third party starts (OpenID Connect Core 4) names the provider by its issuer,
/// `iss` (and `provider` among several clients of it), where to go afterwards by
/// `target_link_uri` (a URL of this application only), and may give a `login_hint`.
#[get("/")]
async fn login_get(
    uri: &Origin<'_>,
    jar: &CookieJar<'_>,
    runtime: &State<OidcRuntime>,
) -> AuthResponse {
    let query = uri.query().map(|q| q.as_str()).unwrap_or_default();
    started(runtime, jar, start_login_with(runtime, jar, query).await)
}

/// The same as a form POST (`application/x-www-form-urlencoded`), as a third party that
/// starts a login may send it (OpenID Connect Core 4).
#[post("/", data = "<body>")]
async fn login_post(
    content_type: Option<&ContentType>,
    body: Data<'_>,
    jar: &CookieJar<'_>,
    runtime: &State<OidcRuntime>,
) -> AuthResponse {
    if content_type != Some(&ContentType::Form) {
        let why = "the body is not application/x-www-form-urlencoded";
        return AuthResponse::Error(AuthError::InvalidCallback(why.into()));
    }
    let body = match body.open((MAX_PARAMS_LEN + 1).bytes()).into_string().await {
        Ok(body) if body.is_complete() => body.into_inner(),
        _ => {
            let why = "the body is too large or unreadable";
            return AuthResponse::Error(AuthError::InvalidCallback(why.into()));
        }
    };
    started(runtime, jar, start_login_with(runtime, jar, &body).await)
}

/// The browser's way to the provider, or the error view.
fn started(
    runtime: &OidcRuntime,
    jar: &CookieJar<'_>,
    start: Result<LoginStart, AuthError>,
) -> AuthResponse {
    match start {
        Ok(start) => {
            runtime.cookies.add_pending(jar, &start.pending);
            AuthResponse::Redirect(start.authorization_url)
        }
        Err(error) => AuthResponse::Error(error),
    }
}

async fn start_login_with(
    runtime: &OidcRuntime,
    jar: &CookieJar<'_>,
    query: &str,
) -> Result<LoginStart, AuthError> {
    let mut provider = None;
    let mut return_to = None;
    let mut issuer = None;
    let mut target_link_uri = None;
    let mut extra: Vec<(String, String)> = Vec::new();
    for (key, value) in parse_all_params(query)? {
        match key.as_str() {
            "provider" => provider = Some(value),
            "return_to" => return_to = Some(value),
            "iss" => issuer = Some(value),
            "target_link_uri" => target_link_uri = Some(value),
            _ => extra.push((key, value)),
        }
    }
    let third_party = issuer.is_some();
    if let Some(issuer) = &issuer {
        provider = Some(provider_of_issuer(
            &runtime.rp,
            issuer,
            provider.as_deref(),
        )?);
    }
    if let Some(target) = &target_link_uri {
        if !third_party || return_to.is_some() {
            return Err(AuthError::InvalidCallback(
                "target_link_uri comes with iss (a third-party-initiated login), and not with \
                 return_to"
                    .into(),
            ));
        }
        return_to = Some(path_of_target(&runtime.rp, target)?);
    }
    let provider = provider.unwrap_or_else(|| "default".into());
    let client = runtime.rp.provider(&provider)?;
    // OpenID Connect Core 4: a third party's login_hint is taken; anything else must be in
    // the provider's allow-list.
    let allowed = |name: &str| {
        (third_party && name == "login_hint")
            || client.config.login_params.iter().any(|p| p == name)
    };
    if let Some((name, _)) = extra.iter().find(|(name, _)| !allowed(name)) {
        return Err(AuthError::InvalidCallback(format!(
            "the parameter `{name}` is not in login_params"
        )));
    }
    let return_to = return_to.unwrap_or_else(|| "/".into());
    // A user who has a (live) session logs in again: its ID token is the hint.
    let session = runtime.sessions.read(jar, unix_now()).await?;
    let session = match session {
        Some(session) if !runtime.records.is_ended(&session).await? => Some(session),
        _ => None,
    };
    let returning = session
        .as_deref()
        .map_or(Returning::Unknown, Returning::User);
    runtime
        .rp
        .start_login(&provider, &return_to, returning, &extra)
        .await
}

/// The provider a third-party-initiated login's `iss` names (OpenID Connect Core 4): the one
/// configured with exactly this issuer; with several (clients of one provider), the one
/// `named` by the request's `provider`.
fn provider_of_issuer(
    rp: &RelyingParty,
    issuer: &str,
    named: Option<&str>,
) -> Result<String, AuthError> {
    let mut matching: Vec<&String> = rp
        .providers
        .iter()
        .filter(|(_, client)| client.config.issuer() == issuer)
        .map(|(name, _)| name)
        .collect();
    matching.sort();
    match (matching.as_slice(), named) {
        ([], _) => Err(AuthError::InvalidCallback(format!(
            "`iss` {} is not the issuer of a configured provider",
            for_log(issuer, 100)
        ))),
        (_, Some(named)) if matching.iter().any(|m| m.as_str() == named) => Ok(named.to_owned()),
        (_, Some(_)) => Err(AuthError::InvalidCallback(
            "`provider` does not have the issuer `iss` names".into(),
        )),
        ([only], None) => Ok((*only).clone()),
        (_, None) => Err(AuthError::InvalidCallback(
            "several providers have the issuer `iss` names: add `provider`".into(),
        )),
    }
}

/// The application path a third-party-initiated login's `target_link_uri` names: it must be
/// an absolute URL of this application (the origin of `base_url`, under its path), so that
/// the login route is nobody's open redirector (OpenID Connect Core 4).
fn path_of_target(rp: &RelyingParty, target: &str) -> Result<String, AuthError> {
    app_path_of(target, &rp.origin, &rp.base_path).ok_or_else(|| {
        AuthError::InvalidCallback(
            "target_link_uri is not a URL of this application (base_url)".into(),
        )
    })
}
