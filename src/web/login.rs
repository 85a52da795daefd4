//! The login route (mounted at `login_path` when configured): a login started with
//! per-request parameters.

use rocket::http::uri::Origin;
use rocket::http::CookieJar;
use rocket::{get, routes, Route, State};

use crate::client::login::{LoginStart, Returning};
use crate::error::AuthError;
use crate::util::clock::unix_now;
use crate::util::params::parse_all_params;
use crate::web::response::AuthResponse;
use crate::web::runtime::OidcRuntime;

/// The login route, mounted at `login_path` when configured.
pub(crate) fn login_routes() -> Vec<Route> {
    routes![login_get]
}

/// Starts a login with per-request parameters:
/// `GET {login_path}?provider=NAME&return_to=/path&login_hint=...`. `provider` defaults to
/// `default`, `return_to` to `/`; any other parameter must be in the provider's `login_params`
/// allow-list, and is added to (or replaces a configured) authorization request parameter.
#[get("/")]
async fn login_get(
    uri: &Origin<'_>,
    jar: &CookieJar<'_>,
    runtime: &State<OidcRuntime>,
) -> AuthResponse {
    let query = uri.query().map(|q| q.as_str()).unwrap_or_default();
    match start_login_with(runtime, jar, query).await {
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
    let mut extra: Vec<(String, String)> = Vec::new();
    for (key, value) in parse_all_params(query)? {
        match key.as_str() {
            "provider" => provider = Some(value),
            "return_to" => return_to = Some(value),
            _ => extra.push((key, value)),
        }
    }
    let provider = provider.unwrap_or_else(|| "default".into());
    let client = runtime.rp.provider(&provider)?;
    if let Some((name, _)) = extra
        .iter()
        .find(|(name, _)| !client.config.login_params.contains(name))
    {
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
