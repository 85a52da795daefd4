//! Pushed authorization requests (RFC 9126) against the real provider (`oidc-provider`):
//! every parameter (the library's, configured, per-request and step-up ones) goes to the PAR
//! endpoint and the browser carries only `client_id` and `request_uri`; `pushed_authorization`
//! `auto` follows the provider, `required` refuses a provider without PAR, `off` refuses a
//! provider that requires it; the provider's refusal of a pushed request shows the error view.

#[path = "support/real_op.rs"]
mod real_op;
mod support;

use rocket::figment::Figment;
use rocket::http::{Accept, Status};
use rocket::local::asynchronous::Client;
use serde_json::json;

const CLIENT_ID: &str = "rocket-par";
const CLIENT_SECRET: &str = "par-secret-5b2e8d1f";
const CALLBACK: &str = "http://127.0.0.1:8000/redirect_uri";

fn figment(issuer: &str, pushed: &str) -> Figment {
    Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "off"))
        .merge(("oidc.base_url", "http://127.0.0.1:8000"))
        .merge(("oidc.login_path", "/login"))
        .merge((
            "oidc.providers.default",
            json!({
                "issuer": issuer,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "scope": ["openid", "profile"],
                "auth_request_params": {"ui_locales": "de"},
                "login_params": ["login_hint"],
                "pushed_authorization": pushed,
            }),
        ))
}

async fn op(par: &str) -> real_op::RealOp {
    real_op::RealOp::start_with_env(
        CLIENT_ID,
        CLIENT_SECRET,
        &[CALLBACK],
        &[],
        "client_secret_basic",
        &[("OP_PAR", par)],
    )
    .await
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The query parameter names of `url`.
fn carried(url: &str) -> Vec<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, _)| k.into_owned())
        .collect()
}

/// Logs in through `path` and the real provider; returns the callback's status.
async fn log_in(client: &Client, path: &str) -> Status {
    let start = client
        .get(path.to_owned())
        .header(Accept::HTML)
        .dispatch()
        .await;
    assert_eq!(start.status(), Status::SeeOther);
    let authorize = start.headers().get_one("Location").unwrap().to_owned();
    let callback = real_op::dev_login(&browser(), &authorize, "par-user", CALLBACK).await;
    let local = callback
        .trim_start_matches("http://127.0.0.1:8000")
        .to_owned();
    client
        .get(local)
        .header(Accept::HTML)
        .dispatch()
        .await
        .status()
}

#[rocket::async_test]
async fn every_parameter_is_pushed_and_the_browser_carries_only_the_request_uri() {
    let op = op("").await;
    let client = support::client_with(figment(&op.issuer, "auto")).await;
    let start = client
        .get("/login?provider=default&login_hint=par-user%40example.com")
        .header(Accept::HTML)
        .dispatch()
        .await;
    assert_eq!(start.status(), Status::SeeOther);
    let authorize = start.headers().get_one("Location").unwrap().to_owned();
    assert_eq!(
        carried(&authorize),
        ["client_id", "request_uri"],
        "{authorize}"
    );
    let pushed = op.request_params(&authorize).await;
    for (name, value) in [
        ("client_id", CLIENT_ID),
        ("redirect_uri", CALLBACK),
        ("response_type", "code"),
        ("code_challenge_method", "S256"),
        ("ui_locales", "de"),
        ("login_hint", "par-user@example.com"),
    ] {
        assert_eq!(pushed[name], value, "{name} in {pushed}");
    }
    for name in ["state", "nonce", "code_challenge"] {
        assert!(
            pushed[name].as_str().is_some_and(|v| v.len() >= 32),
            "{name}: {pushed}"
        );
    }
    // The login completes with the pushed request.
    let callback = real_op::dev_login(&browser(), &authorize, "par-user", CALLBACK).await;
    let local = callback
        .trim_start_matches("http://127.0.0.1:8000")
        .to_owned();
    let done = client.get(local).header(Accept::HTML).dispatch().await;
    assert_eq!(done.status(), Status::SeeOther, "OP: {}", op.stderr());
    let (status, page) = support::json_page(&client, "/", Accept::JSON).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(page["id_token"]["sub"], "par-user");
}

#[rocket::async_test]
async fn auto_follows_the_provider_and_required_refuses_a_provider_without_par() {
    let op = op("off").await;
    // `auto`: no endpoint, so the parameters are in the URL, and the login works.
    let client = support::client_with(figment(&op.issuer, "auto")).await;
    let start = client.get("/").header(Accept::HTML).dispatch().await;
    let authorize = start.headers().get_one("Location").unwrap().to_owned();
    assert!(
        carried(&authorize).contains(&"code_challenge".to_owned()),
        "{authorize}"
    );
    assert_eq!(log_in(&client, "/").await, Status::SeeOther);
    // `required`: the error view, before the browser goes anywhere.
    let client = support::client_with(figment(&op.issuer, "required")).await;
    let refused = client.get("/").header(Accept::HTML).dispatch().await;
    assert!(refused.status().code >= 500, "{}", refused.status());
    assert!(refused.headers().get_one("Location").is_none());
    let body = refused.into_string().await.unwrap_or_default();
    assert!(body.contains("pushed_authorization"), "{body}");
}

#[rocket::async_test]
async fn off_refuses_a_provider_that_requires_par_and_auto_uses_it() {
    let op = op("required").await;
    let client = support::client_with(figment(&op.issuer, "off")).await;
    let refused = client.get("/").header(Accept::HTML).dispatch().await;
    assert!(refused.status().code >= 500, "{}", refused.status());
    assert!(refused.headers().get_one("Location").is_none());
    let client = support::client_with(figment(&op.issuer, "auto")).await;
    assert_eq!(
        log_in(&client, "/").await,
        Status::SeeOther,
        "OP: {}",
        op.stderr()
    );
}

#[rocket::async_test]
async fn a_pushed_request_the_provider_refuses_shows_its_error() {
    let op = op("").await;
    // A redirect URI the provider does not know: refused at the PAR endpoint.
    let figment = figment(&op.issuer, "auto").merge(("oidc.base_url", "http://127.0.0.1:8001"));
    let client = support::client_with(figment).await;
    let refused = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(refused.status().code / 100, 4, "{}", refused.status());
    assert!(refused.headers().get_one("Location").is_none());
    let body = refused.into_string().await.unwrap_or_default();
    assert!(
        body.contains("invalid_redirect_uri") || body.contains("invalid_request"),
        "{body}"
    );
    assert!(!body.contains(CLIENT_SECRET));
    // Nothing was pushed for it, and no session exists.
    assert!(!op.stderr().contains("OP par "), "{}", op.stderr());
    assert_eq!(
        support::json_page(&client, "/", Accept::JSON).await.0,
        Status::Unauthorized
    );
}

// The in-process provider, for what a real provider will not do on request.

use rocket_openidconnect::testing::{ParEndpoint, TestProvider};

/// The example app against an in-process provider offering PAR that answers pushes with
/// `answer` (status and body).
async fn pushed_to(answer: Option<(u16, &str)>) -> (TestProvider, Client) {
    let provider = TestProvider::start().await;
    provider.configure(|b| {
        b.par = ParEndpoint::Offered;
        b.par_answer = answer.map(|(status, body)| (status, body.to_owned()));
    });
    let client = support::client(&provider).await;
    (provider, client)
}

#[rocket::async_test]
async fn an_in_process_login_through_par_carries_only_the_request_uri() {
    let (provider, client) = pushed_to(None).await;
    let attempt = provider.login(&client, "/").await;
    assert_eq!(attempt.status, Status::SeeOther, "{}", attempt.body);
    assert_eq!(provider.hits().par, 1);
    let sent: Vec<String> = provider
        .last_authorization_request()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    // The provider saw the pushed parameters (the browser carried two).
    assert!(sent.contains(&"code_challenge".to_owned()), "{sent:?}");
}

#[rocket::async_test]
async fn par_endpoint_answers_that_cannot_be_used_show_the_error_view() {
    let rows: [(&str, u16, &str, u16); 7] = [
        (
            "refused",
            400,
            r#"{"error":"invalid_request","error_description":"bad"}"#,
            400,
        ),
        ("client refused", 401, r#"{"error":"invalid_client"}"#, 400),
        ("server error", 500, "<h1>oops</h1>", 502),
        ("not JSON", 201, "<html>hello</html>", 502),
        ("no request_uri", 201, r#"{"expires_in":60}"#, 502),
        ("no expires_in", 201, r#"{"request_uri":"urn:x"}"#, 502),
        (
            "expires_in 0",
            201,
            r#"{"request_uri":"urn:x","expires_in":0}"#,
            502,
        ),
    ];
    for (row, status, body, expected) in rows {
        let (provider, client) = pushed_to(Some((status, body))).await;
        let response = client.get("/").header(Accept::HTML).dispatch().await;
        let got = response.status().code;
        assert!(
            response.headers().get_one("Location").is_none(),
            "{row}: a redirect"
        );
        let page = response.into_string().await.unwrap_or_default();
        assert_eq!(got / 100, expected / 100, "{row}: {got} {page}");
        assert!(
            !page.contains(provider.client_secret()),
            "{row}: the secret"
        );
        assert!(!page.contains("<h1>oops"), "{row}: the provider's page");
        assert_eq!(provider.hits().authorize, 0, "{row}");
        assert_eq!(
            support::json_page(&client, "/", Accept::JSON).await.0,
            Status::Unauthorized,
            "{row}: a session"
        );
    }
}

#[rocket::async_test]
async fn an_expired_request_uri_stops_at_the_provider_and_a_new_login_pushes_again() {
    let (provider, client) = pushed_to(None).await;
    provider.configure(|b| b.par_expires_in = 1);
    let start = client.get("/").header(Accept::HTML).dispatch().await;
    let authorize = start.headers().get_one("Location").unwrap().to_owned();
    support::until_unix(support::unix_now() + 2).await;
    // The provider refuses the expired request with its own page: it cannot send the
    // browser back, so nothing reaches the application.
    let browser = reqwest::Client::new();
    let at_provider = browser.get(&authorize).send().await.unwrap();
    assert_eq!(at_provider.status(), 400);
    assert!(at_provider
        .text()
        .await
        .unwrap()
        .contains("invalid_request_uri"));
    // Starting again pushes a new request, which works.
    provider.configure(|b| b.par_expires_in = 60);
    let attempt = provider.login(&client, "/").await;
    assert_eq!(attempt.status, Status::SeeOther, "{}", attempt.body);
    assert_eq!(provider.hits().par, 2);
    // A request_uri is used once: the first one cannot come back.
    let again = browser.get(&authorize).send().await.unwrap();
    assert_eq!(again.status(), 400);
}
