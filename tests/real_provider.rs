//! End to end against a real, certified OpenID Provider: the npm package `oidc-provider`
//! (`tests/op/server.js`), driven through its development login and consent pages.

#[path = "support/real_op.rs"]
mod real_op;
mod support;

use rocket::figment::Figment;
use rocket::http::{Accept, Status};
use serde_json::{json, Value};

const CLIENT_ID: &str = "rocket-e2e";
const CLIENT_SECRET: &str = "e2e-secret-3f9a1c7d";
const CALLBACK: &str = "http://127.0.0.1:8000/redirect_uri";

fn figment(issuer: &str, auth_method: &str) -> Figment {
    Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "off"))
        .merge(("oidc.base_url", "http://127.0.0.1:8000"))
        .merge((
            "oidc.providers.default",
            json!({
                "issuer": issuer,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "scope": ["openid", "profile", "email"],
                "token_endpoint_auth_method": auth_method,
            }),
        ))
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn login_and_logout(auth_method: &str) {
    let op = real_op::RealOp::start_with_auth_method(
        CLIENT_ID,
        CLIENT_SECRET,
        &[CALLBACK],
        &["http://127.0.0.1:8000/logout"],
        auth_method,
    )
    .await;
    let client = support::client_with(figment(&op.issuer, auth_method)).await;

    // The protected page sends the browser to the provider.
    let start = client
        .get("/?from=e2e")
        .header(Accept::HTML)
        .dispatch()
        .await;
    assert_eq!(start.status(), Status::SeeOther);
    let authorize_url = start.headers().get_one("Location").unwrap().to_owned();
    assert!(authorize_url.starts_with(&op.issuer), "{authorize_url}");
    assert!(authorize_url.contains("code_challenge_method=S256"));

    // The user logs in and consents at the provider, which sends the browser back.
    let callback = real_op::dev_login(&browser(), &authorize_url, "alice", CALLBACK).await;
    assert!(
        callback.contains("code=") && callback.contains("iss="),
        "{callback}"
    );
    let local = callback.trim_start_matches("http://127.0.0.1:8000");
    let done = client
        .get(local.to_owned())
        .header(Accept::HTML)
        .dispatch()
        .await;
    let location = done.headers().get_one("Location").map(str::to_owned);
    let status = done.status();
    let body = done.into_string().await.unwrap_or_default();
    assert_eq!(
        status,
        Status::SeeOther,
        "{body}\nOP stderr: {}",
        op.stderr()
    );
    assert_eq!(location.as_deref(), Some("/?from=e2e"));

    // The page shows the claims, the userinfo and the access token.
    let page = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(page.status(), Status::Ok);
    let body: Value = serde_json::from_str(&page.into_string().await.unwrap()).unwrap();
    assert_eq!(body["id_token"]["sub"], "alice");
    assert_eq!(body["id_token"]["iss"], op.issuer.as_str());
    assert_eq!(body["id_token"]["aud"], CLIENT_ID);
    assert_eq!(body["userinfo"]["sub"], "alice");
    assert_eq!(body["userinfo"]["email"], "alice@example.com");
    assert_eq!(body["userinfo"]["name"], "alice Tester");
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));

    // Logging out ends the session: the page asks for a login again.
    let logout = client.get("/logout").dispatch().await;
    assert_eq!(logout.status(), Status::Ok);
    let again = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(again.status(), Status::SeeOther);
    assert!(again
        .headers()
        .get_one("Location")
        .unwrap()
        .starts_with(&op.issuer));
}

#[rocket::async_test]
async fn login_and_logout_with_client_secret_basic() {
    login_and_logout("client_secret_basic").await;
}

#[rocket::async_test]
async fn login_and_logout_with_client_secret_post() {
    login_and_logout("client_secret_post").await;
}
