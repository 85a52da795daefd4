//! The one-command demo: `cargo run --example demo`.
//!
//! Starts the application and, unless a provider is configured (`ROCKET_OIDC=...`), an
//! embedded development OpenID Provider on loopback in the same process. Open the printed URL,
//! log in with any user name and claims, and see the session.
//!
//! The development provider is a real OP over HTTP (discovery, key set, authorize, token,
//! userinfo, end session, revocation, registration) signing real tokens, so the demo runs the
//! same code paths as a production provider. **It logs in anybody: never use it in
//! production.** It exists only with the `dev-provider` feature.

use rocket::figment::providers::Env;
use rocket::figment::Figment;
use rocket::http::CookieJar;
use rocket::response::content::RawHtml;
use rocket::response::Redirect;
use rocket::{get, post, routes, Build, Rocket};
use rocket_openidconnect::testing::TestProvider;
use rocket_openidconnect::{AuthError, OidcUser, OpenIdConnect};

fn page(body: &str) -> RawHtml<String> {
    RawHtml(format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>rocket_openidconnect demo</title>
<style>body{{font-family:sans-serif;max-width:50em;margin:2em auto}}
pre{{background:#f4f4f4;padding:1em;overflow:auto}}form{{display:inline}}</style></head>
<body><h1>rocket_openidconnect demo</h1>{body}</body></html>"#
    ))
}

fn pretty(value: &impl serde::Serialize) -> String {
    let json = serde_json::to_string_pretty(value).unwrap_or_default();
    html_escape::encode_text(&json).into_owned()
}

/// Public: a login button, or who is logged in.
#[get("/")]
fn home(user: Option<OidcUser>) -> RawHtml<String> {
    match user {
        Some(user) => page(&format!(
            "<p>Logged in as <b>{}</b>. <a href=\"/profile\">Your session</a></p>",
            html_escape::encode_text(user.claims().subject())
        )),
        None => page("<p>You are not logged in.</p><p><a href=\"/profile\">Log in</a></p>"),
    }
}

/// Protected: the claims, the userinfo, the token expiry, refresh and logout buttons.
#[get("/profile")]
fn profile(user: OidcUser) -> RawHtml<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let expiry = match user.access_token_expires_at() {
        Some(at) => format!("expires at {at} (in {} s)", at - now),
        None => "expiry not stated by the provider".into(),
    };
    page(&format!(
        r#"<p>Logged in as <b>{sub}</b> at <code>{provider}</code>.</p>
<h2>ID token claims</h2><pre id="claims">{claims}</pre>
<h2>Userinfo</h2><pre id="userinfo">{userinfo}</pre>
<h2>Access token</h2><p id="expiry">{expiry}; refresh token: {refresh}</p>
<form method="post" action="/refresh"><button>Refresh tokens</button></form>
<form method="post" action="/logout"><button>Log out</button></form>
<p><a href="/">Home</a></p>"#,
        sub = html_escape::encode_text(user.claims().subject()),
        provider = html_escape::encode_text(user.issuer()),
        claims = pretty(user.claims()),
        userinfo = pretty(&user.userinfo()),
        refresh = if user.refresh_token().is_some() {
            "yes"
        } else {
            "no"
        },
    ))
}

/// Refreshes the tokens now, then back to the session page.
#[post("/refresh")]
async fn refresh(mut user: OidcUser, jar: &CookieJar<'_>) -> Result<Redirect, AuthError> {
    user.valid_access_token(jar, true).await?;
    Ok(Redirect::to("/profile"))
}

/// For load runs (`benches/load.sh`): the same tiny answer without and with the guard.
#[get("/ping")]
fn ping() -> &'static str {
    "pong"
}

/// See [`ping`].
#[get("/ping/user")]
fn ping_user(_user: OidcUser) -> &'static str {
    "pong"
}

/// The demo application for `figment`, with the development provider when `figment`
/// configures none (returned too: it stops when dropped).
pub async fn demo(figment: Figment) -> (Rocket<Build>, Option<TestProvider>) {
    let mut figment = figment;
    let mut provider = None;
    if figment.find_value("oidc.providers").is_err() {
        let dev = TestProvider::start_interactive(0).await;
        let port: u16 = figment.extract_inner("port").unwrap_or(8000);
        let base_url = figment
            .extract_inner::<String>("oidc.base_url")
            .unwrap_or_else(|_| format!("http://127.0.0.1:{port}"));
        dev.allow_redirect_uri(&format!("{base_url}/redirect_uri"));
        dev.allow_post_logout_redirect_uri(&format!("{base_url}/logout"));
        let mut table = dev.provider_table();
        table["scope"] = serde_json::json!(["openid", "profile", "email"]);
        figment = figment
            .merge(("oidc.base_url", base_url))
            .merge(("oidc.post_logout_path", "/"))
            .merge(("oidc.providers.default", table));
        provider = Some(dev);
    }
    let rocket = rocket::custom(figment)
        .attach(OpenIdConnect::fairing())
        .mount("/", routes![home, profile, refresh, ping, ping_user]);
    (rocket, provider)
}

#[allow(dead_code)]
#[rocket::main]
async fn main() {
    // The demo's own configuration: Rocket's defaults and ROCKET_* variables, not the
    // repository's Rocket.toml (which configures examples/app.rs for another provider).
    let figment = Figment::from(rocket::Config::default()).merge(Env::prefixed("ROCKET_").global());
    let (rocket, provider) = demo(figment).await;
    let port = rocket
        .figment()
        .extract_inner::<u16>("port")
        .unwrap_or(8000);
    if let Some(provider) = &provider {
        println!(
            "\nDevelopment OpenID Provider (never for production) at {}",
            provider.issuer()
        );
    }
    println!("Open http://127.0.0.1:{port}/ and log in with any user name.\n");
    if let Err(error) = rocket.launch().await {
        eprintln!("the demo stopped: {error}");
        std::process::exit(1);
    }
}
