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

/// The JSON body of `path` of the application.
async fn page_json(client: &rocket::local::asynchronous::Client, path: &str) -> Value {
    let body = client
        .get(path.to_owned())
        .dispatch()
        .await
        .into_string()
        .await;
    serde_json::from_str(&body.unwrap_or_default()).unwrap_or(Value::Null)
}

/// Hands the provider's redirect back (an absolute URL of the app) to the local app.
async fn back_to_app<'c>(
    client: &'c rocket::local::asynchronous::Client,
    callback: &str,
) -> rocket::local::asynchronous::LocalResponse<'c> {
    let local = callback
        .trim_start_matches("http://127.0.0.1:8000")
        .to_owned();
    client.get(local).header(Accept::HTML).dispatch().await
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Follows the provider's redirects from `authorize_url` and tells whether the user is asked
/// to log in (true) or sent straight back to the application (false: the provider still has a
/// session).
async fn provider_asks_to_log_in(browser: &reqwest::Client, authorize_url: &str) -> bool {
    let mut url = url::Url::parse(authorize_url).unwrap();
    for _ in 0..10 {
        let response = browser.get(url.clone()).send().await.unwrap();
        match response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
        {
            Some(location) if location.starts_with("http://127.0.0.1:8000") => return false,
            Some(location) => url = url.join(location).unwrap(),
            None => {
                let page = response.text().await.unwrap();
                assert!(
                    page.contains("name=\"login\""),
                    "neither a login form nor a redirect back (a used request_uri?): {page}"
                );
                return true;
            }
        }
    }
    panic!("too many redirects at the provider");
}

async fn login_and_logout(auth_method: &str, logout_path: &str) {
    let op = real_op::RealOp::start_with_auth_method(
        CLIENT_ID,
        CLIENT_SECRET,
        &[CALLBACK],
        &[
            "http://127.0.0.1:8000/logout",
            "http://127.0.0.1:8000/goodbye",
        ],
        auth_method,
    )
    .await;
    let client = support::client_with(figment(&op.issuer, auth_method)).await;
    let browser = browser();

    // The protected page sends the browser to the provider.
    let start = client
        .get("/?from=e2e")
        .header(Accept::HTML)
        .dispatch()
        .await;
    assert_eq!(start.status(), Status::SeeOther);
    let authorize_url = start.headers().get_one("Location").unwrap().to_owned();
    assert!(authorize_url.starts_with(&op.issuer), "{authorize_url}");
    // Pushed (RFC 9126, the default with a provider that offers it): the browser carries only
    // `client_id` and `request_uri`; the parameters went to the provider directly.
    let url = url::Url::parse(&authorize_url).unwrap();
    let carried: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
    assert_eq!(carried, ["client_id", "request_uri"], "{authorize_url}");
    let pushed = op.request_params(&authorize_url).await;
    assert_eq!(pushed["code_challenge_method"], "S256", "{pushed}");
    assert_eq!(pushed["redirect_uri"], CALLBACK);

    // The user logs in and consents at the provider, which sends the browser back.
    let callback = real_op::dev_login(&browser, &authorize_url, "alice", CALLBACK).await;
    assert!(
        callback.contains("code=") && callback.contains("iss="),
        "{callback}"
    );
    let done = back_to_app(&client, &callback).await;
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

    // While the provider has a session, it does not ask for a login (single sign-on): a new
    // authorization request (a pushed one is used once) comes straight back.
    let other = support::client_with(figment(&op.issuer, auth_method)).await;
    let fresh = other.get("/").header(Accept::HTML).dispatch().await;
    let fresh = fresh.headers().get_one("Location").unwrap().to_owned();
    assert!(!provider_asks_to_log_in(&browser, &fresh).await);

    // Logging out: locally, then at the provider, which confirms and sends the browser back
    // with the state.
    let logout = client
        .get(logout_path)
        .header(Accept::HTML)
        .dispatch()
        .await;
    assert_eq!(logout.status(), Status::SeeOther);
    let end_session = logout.headers().get_one("Location").unwrap().to_owned();
    assert!(end_session.starts_with(&op.issuer), "{end_session}");
    let back_url = format!("http://127.0.0.1:8000{logout_path}");
    let back = real_op::dev_logout_confirm(&browser, &end_session, &back_url).await;
    assert!(back.contains("state="), "{back}");
    let local = back.trim_start_matches("http://127.0.0.1:8000");
    let done = client
        .get(local.to_owned())
        .header(Accept::HTML)
        .dispatch()
        .await;
    assert_eq!(done.status(), Status::Ok);
    let page = done.into_string().await.unwrap();
    assert!(
        page.contains("logged out") || page.contains("Goodbye"),
        "{page}"
    );

    // The application asks for a login again, and so does the provider: its session ended too.
    let again = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(again.status(), Status::SeeOther);
    let authorize_again = again.headers().get_one("Location").unwrap().to_owned();
    assert!(authorize_again.starts_with(&op.issuer));
    assert!(provider_asks_to_log_in(&browser, &authorize_again).await);
}

#[rocket::async_test]
async fn login_and_logout_with_client_secret_basic() {
    login_and_logout("client_secret_basic", "/logout").await;
}

#[rocket::async_test]
async fn login_and_logout_with_client_secret_post_through_the_app_logout_route() {
    login_and_logout("client_secret_post", "/goodbye").await;
}

/// Whether the provider's userinfo endpoint accepts `token`.
async fn userinfo_accepts(issuer: &str, token: &str) -> bool {
    reqwest::Client::new()
        .get(format!("{issuer}/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        == 200
}

#[rocket::async_test]
async fn refresh_and_silent_reauthentication_with_a_real_provider() {
    let op = real_op::RealOp::start_with_env(
        CLIENT_ID,
        CLIENT_SECRET,
        &[CALLBACK],
        &[],
        "client_secret_basic",
        &[("ACCESS_TOKEN_TTL", "2")],
    )
    .await;
    let figment = figment(&op.issuer, "client_secret_basic")
        .merge((
            "oidc.providers.default.scope",
            ["openid", "profile", "email", "offline_access"],
        ))
        .merge((
            "oidc.providers.default.auth_request_params",
            json!({"prompt": "consent"}),
        ))
        .merge(("oidc.providers.default.session_refresh_interval", 3));
    let client = support::client_with(figment).await;
    let browser = browser();

    let start = client.get("/").header(Accept::HTML).dispatch().await;
    let authorize_url = start.headers().get_one("Location").unwrap().to_owned();
    let callback = real_op::dev_login(&browser, &authorize_url, "carol", CALLBACK).await;
    let done = back_to_app(&client, &callback).await;
    assert_eq!(
        done.status(),
        Status::SeeOther,
        "OP stderr: {}",
        op.stderr()
    );
    let page = page_json(&client, "/").await;
    let first = page["access_token"].as_str().unwrap().to_owned();
    assert!(userinfo_accepts(&op.issuer, &first).await);

    // Past the access token's expiry (2 s), /token refreshes it: a new token the provider
    // accepts, expiring 2 s later.
    rocket::tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let token = client.get("/token").header(Accept::JSON).dispatch().await;
    assert_eq!(token.status(), Status::Ok, "OP stderr: {}", op.stderr());
    let token: Value = serde_json::from_str(&token.into_string().await.unwrap()).unwrap();
    let refreshed = token["access_token"].as_str().unwrap().to_owned();
    assert_ne!(refreshed, first);
    assert!(userinfo_accepts(&op.issuer, &refreshed).await);
    let expires_in = token["expires_at"].as_i64().unwrap()
        - std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
    assert!((0..=3).contains(&expires_in), "{token}");

    // After the refresh interval, a navigation goes through prompt=none and comes straight
    // back: no login form.
    rocket::tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let navigation = client
        .get("/?after=refresh")
        .header(Accept::HTML)
        .dispatch()
        .await;
    assert_eq!(navigation.status(), Status::SeeOther);
    let silent = navigation.headers().get_one("Location").unwrap().to_owned();
    assert_eq!(
        op.request_params(&silent).await["prompt"],
        "none",
        "{silent}"
    );
    assert!(!provider_asks_to_log_in(&browser, &silent).await);
    // (That request consumed nothing of ours; run it for real now.)
    let navigation = client
        .get("/?after=refresh")
        .header(Accept::HTML)
        .dispatch()
        .await;
    let silent = navigation.headers().get_one("Location").unwrap().to_owned();
    let callback = real_op::dev_login(&browser, &silent, "carol", CALLBACK).await;
    let back = back_to_app(&client, &callback).await;
    assert_eq!(
        back.status(),
        Status::SeeOther,
        "OP stderr: {}",
        op.stderr()
    );
    assert_eq!(back.headers().get_one("Location"), Some("/?after=refresh"));
    assert_eq!(client.get("/").dispatch().await.status(), Status::Ok);

    // Once the provider's session has ended, the next silent refresh falls back to an
    // interactive login: the login form appears, not an error page or a loop.
    real_op::end_provider_session(&browser, &op.issuer).await;
    rocket::tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let navigation = client.get("/").header(Accept::HTML).dispatch().await;
    let silent = navigation.headers().get_one("Location").unwrap().to_owned();
    assert_eq!(op.request_params(&silent).await["prompt"], "none");
    let callback = real_op::dev_login(&browser, &silent, "carol", CALLBACK).await;
    assert!(callback.contains("error=login_required"), "{callback}");
    let fallback = back_to_app(&client, &callback).await;
    assert_eq!(fallback.status(), Status::SeeOther);
    let interactive = fallback.headers().get_one("Location").unwrap().to_owned();
    assert!(interactive.starts_with(&op.issuer));
    assert_ne!(op.request_params(&interactive).await["prompt"], "none");
    assert!(provider_asks_to_log_in(&browser, &interactive).await);
}

#[rocket::async_test]
async fn dynamic_registration_with_a_real_provider_survives_a_restart() {
    let op = real_op::RealOp::start(CLIENT_ID, CLIENT_SECRET, &[CALLBACK], &[]).await;
    let dir = std::env::temp_dir().join(format!("roidc-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = dir.join("registration.json");
    let _ = std::fs::remove_file(&store);
    let app = || {
        Figment::from(rocket::Config::debug_default())
            .merge(("log_level", "off"))
            .merge(("oidc.base_url", "http://127.0.0.1:8000"))
            .merge((
                "oidc.providers.default",
                json!({
                    "issuer": op.issuer,
                    "scope": ["openid", "profile", "email"],
                    "registration_store": store.display().to_string(),
                    "registration": { "client_name": "rocket_openidconnect e2e" },
                }),
            ))
    };
    let registrations = || op.stderr().matches("registration_create.success").count();

    for (round, login) in [(1, "dave"), (2, "dave")] {
        let client = support::client_with(app()).await;
        let browser = browser();
        let start = client.get("/").header(Accept::HTML).dispatch().await;
        assert_eq!(start.status(), Status::SeeOther, "round {round}");
        let authorize_url = start.headers().get_one("Location").unwrap().to_owned();
        let callback = real_op::dev_login(&browser, &authorize_url, login, CALLBACK).await;
        let done = back_to_app(&client, &callback).await;
        assert_eq!(
            done.status(),
            Status::SeeOther,
            "round {round}; OP stderr: {}",
            op.stderr()
        );
        let page = page_json(&client, "/").await;
        assert_eq!(page["id_token"]["sub"], login);
        assert_eq!(page["userinfo"]["email"], format!("{login}@example.com"));
        // One registration, at the first start only. (The provider logs each one on stderr,
        // which arrives in this process a little later: every line logged so far first.)
        op.flush_stderr().await;
        assert_eq!(
            registrations(),
            1,
            "round {round}; OP stderr: {}",
            op.stderr()
        );
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&store).unwrap()).unwrap();
    assert_eq!(stored["issuer"], op.issuer.as_str());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Logs erin in at `client` through the real provider.
async fn log_in_as_erin(op: &real_op::RealOp, client: rocket::local::asynchronous::Client) {
    let start = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(start.status(), Status::SeeOther);
    let authorize_url = start.headers().get_one("Location").unwrap().to_owned();
    let callback = real_op::dev_login(&browser(), &authorize_url, "erin", CALLBACK).await;
    let status = back_to_app(&client, &callback).await.status();
    assert_eq!(status, Status::SeeOther, "OP stderr: {}", op.stderr());
}

#[rocket::async_test]
async fn a_managed_registration_is_read_updated_and_deleted_when_replaced() {
    let op = real_op::RealOp::start(CLIENT_ID, CLIENT_SECRET, &[CALLBACK], &[]).await;
    let dir = std::env::temp_dir().join(format!("roidc-e2e-manage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = dir.join("registration.json");
    let _ = std::fs::remove_file(&store);
    let app = |name: &str, base_url: &str| {
        Figment::from(rocket::Config::debug_default())
            .merge(("log_level", "off"))
            .merge(("secret_key", "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk="))
            .merge(("oidc.base_url", base_url))
            .merge((
                "oidc.providers.default",
                json!({
                    "issuer": op.issuer,
                    "scope": ["openid", "profile"],
                    "registration_store": store.display().to_string(),
                    "registration": { "client_name": name },
                }),
            ))
    };
    let count = |line: &str| op.stderr().matches(line).count();
    let stored =
        || -> Value { serde_json::from_str(&std::fs::read_to_string(&store).unwrap()).unwrap() };
    // Registered once, with its management URI and a sealed access token kept.
    log_in_as_erin(
        &op,
        support::client_with(app("v1", "http://127.0.0.1:8000")).await,
    )
    .await;
    op.flush_stderr().await;
    assert_eq!(count("registration_create.success"), 1);
    let first = stored();
    let uri = first["registration_client_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(uri.starts_with(&op.issuer), "{uri}");
    let sealed = first["registration_access_token"].as_str().unwrap();
    assert!(sealed.len() > 40, "a sealed token: {sealed}");
    // A restart reads the registration to confirm it; no new one.
    log_in_as_erin(
        &op,
        support::client_with(app("v1", "http://127.0.0.1:8000")).await,
    )
    .await;
    op.flush_stderr().await;
    assert_eq!(count("OP registration.client 200"), 1, "{}", op.stderr());
    assert_eq!(count("registration_create.success"), 1);
    // Changed metadata: the registration is updated in place.
    log_in_as_erin(
        &op,
        support::client_with(app("v2", "http://127.0.0.1:8000")).await,
    )
    .await;
    op.flush_stderr().await;
    assert_eq!(
        count("OP registration.client_update 200"),
        1,
        "{}",
        op.stderr()
    );
    assert_eq!(count("registration_create.success"), 1);
    let updated = stored();
    assert_eq!(updated["client_id"], first["client_id"]);
    assert_ne!(updated["metadata_sha256"], first["metadata_sha256"]);
    // Another redirect URI: a new registration, and the old one deleted.
    let moved = support::client_with(app("v2", "http://127.0.0.1:8001")).await;
    let start = moved.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(start.status(), Status::SeeOther);
    op.flush_stderr().await;
    assert_eq!(count("registration_create.success"), 2);
    assert_eq!(
        count("OP registration.client_delete 204"),
        1,
        "{}",
        op.stderr()
    );
    assert_ne!(stored()["client_id"], first["client_id"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client-credentials token from the real provider for `resource` with `scope`.
async fn app_token(op: &real_op::RealOp, resource: &str, scope: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/token", op.issuer))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", scope),
            ("resource", resource),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {body}; OP stderr: {}", op.stderr()))
        .to_owned()
}

async fn call_api(client: &rocket::local::asynchronous::Client, token: &str) -> (Status, Value) {
    let response = client
        .get("/api")
        .header(rocket::http::Header::new(
            "Authorization",
            format!("Bearer {token}"),
        ))
        .dispatch()
        .await;
    let status = response.status();
    let body = response.into_string().await.unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[rocket::async_test]
async fn api_tokens_of_a_real_provider_by_jwt_and_by_introspection() {
    let op = real_op::RealOp::start(CLIENT_ID, CLIENT_SECRET, &[CALLBACK], &[]).await;
    let figment = figment(&op.issuer, "client_secret_basic")
        .merge((
            "oidc.providers.default.audiences",
            ["https://api.example/jwt", "https://api.example/opaque"],
        ))
        .merge(("oidc.providers.default.introspection_cache_max_age", 1));
    let client = support::client_with(figment).await;

    // A JWT access token (RFC 9068), validated locally.
    let jwt = app_token(&op, "https://api.example/jwt", "api").await;
    assert_eq!(jwt.split('.').count(), 3, "a JWT");
    let (status, body) = call_api(&client, &jwt).await;
    assert_eq!(status, Status::Ok, "{body}; OP stderr: {}", op.stderr());
    assert_eq!(body["client_id"], CLIENT_ID);
    assert!(body["scopes"].as_array().unwrap().contains(&json!("api")));

    // An opaque one, introspected.
    let opaque = app_token(&op, "https://api.example/opaque", "api").await;
    assert_ne!(opaque.split('.').count(), 3);
    let (status, body) = call_api(&client, &opaque).await;
    assert_eq!(status, Status::Ok, "{body}; OP stderr: {}", op.stderr());
    assert_eq!(body["client_id"], CLIENT_ID);

    // Without the scope: 403, by either way.
    for resource in ["https://api.example/jwt", "https://api.example/opaque"] {
        let token = app_token(&op, resource, "read").await;
        assert_eq!(
            call_api(&client, &token).await.0,
            Status::Forbidden,
            "{resource}"
        );
    }

    // Revoked: refused once the cached introspection result has expired.
    let revoked = reqwest::Client::new()
        .post(format!("{}/token/revocation", op.issuer))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("token", opaque.as_str())])
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success());
    rocket::tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, _) = call_api(&client, &opaque).await;
    assert_eq!(status, Status::Unauthorized);
}

/// JWT introspection responses (RFC 9701): with `introspection_response = "jwt"` the API
/// guard asks for and verifies a signed answer; a provider answering plain JSON is refused.
#[rocket::async_test]
async fn api_tokens_introspected_with_signed_answers() {
    let signing = real_op::RealOp::start_with_env(
        CLIENT_ID,
        CLIENT_SECRET,
        &[CALLBACK],
        &[],
        "client_secret_basic",
        &[("INTROSPECTION_ALG", "RS256")],
    )
    .await;
    let app = |issuer: &str| {
        figment(issuer, "client_secret_basic")
            .merge((
                "oidc.providers.default.audiences",
                ["https://api.example/opaque"],
            ))
            .merge(("oidc.providers.default.introspection_response", "jwt"))
    };
    let client = support::client_with(app(&signing.issuer)).await;
    let opaque = app_token(&signing, "https://api.example/opaque", "api").await;
    let (status, body) = call_api(&client, &opaque).await;
    assert_eq!(
        status,
        Status::Ok,
        "{body}; OP stderr: {}",
        signing.stderr()
    );
    assert_eq!(body["client_id"], CLIENT_ID);
    let token = app_token(&signing, "https://api.example/opaque", "read").await;
    assert_eq!(call_api(&client, &token).await.0, Status::Forbidden);

    // A provider that answers plain JSON: refused, never taken as valid.
    let plain = real_op::RealOp::start(CLIENT_ID, CLIENT_SECRET, &[CALLBACK], &[]).await;
    let client = support::client_with(app(&plain.issuer)).await;
    let opaque = app_token(&plain, "https://api.example/opaque", "api").await;
    let (status, body) = call_api(&client, &opaque).await;
    assert!(
        [
            Status::Unauthorized,
            Status::ServiceUnavailable,
            Status::BadGateway
        ]
        .contains(&status),
        "{status} {body}"
    );
}

#[rocket::async_test]
async fn a_logout_at_the_real_provider_ends_the_session_by_back_channel() {
    logout_at_the_provider_by_back_channel(false).await;
}

/// Back-Channel Logout 2.6: a provider that encrypts the client's ID tokens encrypts its
/// logout tokens the same way (oidc-provider does); the app opens them with its keys.
#[rocket::async_test]
async fn an_encrypted_logout_token_from_the_real_provider_ends_the_session() {
    logout_at_the_provider_by_back_channel(true).await;
}

async fn logout_at_the_provider_by_back_channel(encrypted: bool) {
    // The application serves real HTTP: the provider POSTs the logout token to it.
    let port = support::free_port();
    let app = format!("http://127.0.0.1:{port}");
    let callback = format!("{app}/redirect_uri");
    let backchannel = format!("{app}/backchannel_logout");
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem();
    let keys = [support::key_file("real-bcl-jwe", "ec.pem", &ec)];
    let jwks = support::served_keys(&[], &keys).await.to_string();
    let mut env = vec![("BACKCHANNEL_LOGOUT_URI", backchannel.as_str())];
    if encrypted {
        env.extend([
            ("CLIENT_JWKS", jwks.as_str()),
            ("ID_TOKEN_ENC", "ECDH-ES A256GCM"),
        ]);
    }
    let op = real_op::RealOp::start_with_env(
        CLIENT_ID,
        CLIENT_SECRET,
        &[&callback],
        &[],
        "client_secret_basic",
        &env,
    )
    .await;
    let mut figment = figment(&op.issuer, "client_secret_basic").merge(("oidc.base_url", &app));
    if encrypted {
        figment = figment
            .merge(("oidc.encryption_keys", &keys))
            .merge((
                "oidc.providers.default.id_token_encrypted_response_alg",
                "ECDH-ES",
            ))
            .merge((
                "oidc.providers.default.id_token_encrypted_response_enc",
                "A256GCM",
            ));
    }
    support::serve_on(figment, port).await;

    // Log in through the provider's pages: a browser with its own cookies for each site.
    let app_browser = browser();
    let op_browser = browser();
    let start = app_browser
        .get(format!("{app}/"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    let back = real_op::dev_login(&op_browser, &authorize, "alice", &callback).await;
    let done = app_browser
        .get(&back)
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    assert!(support::browser_page(&app_browser, port).await.is_some());

    // The user logs out at the provider itself (not through the application): the provider
    // tells the application by back channel, and the session is gone. (The provider logs the
    // delivery once the application has answered; the line reaches this process a little
    // later.)
    real_op::end_provider_session(&op_browser, &op.issuer).await;
    support::eventually(
        "the provider's log line `OP backchannel.success` (a back-channel logout delivered)",
        support::PATIENCE,
        || op.stderr().contains("OP backchannel.success").then_some(()),
    )
    .await;
    assert!(
        !op.stderr().contains("OP backchannel.error"),
        "{}",
        op.stderr()
    );
    assert!(support::browser_page(&app_browser, port).await.is_none());
}

/// Logs `login` in at the provider through `client` starting at `path`; returns the app's
/// answer to the callback (status, Location).
async fn log_in_at(
    client: &rocket::local::asynchronous::Client,
    browser: &reqwest::Client,
    path: &str,
    login: &str,
) -> (Status, Option<String>) {
    let start = client
        .get(path.to_owned())
        .header(Accept::HTML)
        .dispatch()
        .await;
    assert_eq!(
        start.status(),
        Status::SeeOther,
        "{path} did not send the browser to log in"
    );
    let authorize_url = start.headers().get_one("Location").unwrap().to_owned();
    let callback = real_op::dev_login(browser, &authorize_url, login, CALLBACK).await;
    let done = back_to_app(client, &callback).await;
    let location = done.headers().get_one("Location").map(str::to_owned);
    (done.status(), location)
}

#[rocket::async_test]
async fn admin_and_step_up_with_a_real_provider() {
    let op = real_op::RealOp::start(CLIENT_ID, CLIENT_SECRET, &[CALLBACK], &[]).await;
    let figment = figment(&op.issuer, "client_secret_basic").merge((
        "oidc.providers.default.scope",
        ["openid", "profile", "email", "groups"],
    ));

    // An administrator (the provider puts logins starting with `admin` in `admins`).
    let client = support::client_with(figment.clone()).await;
    let browser = browser();
    let (status, location) = log_in_at(&client, &browser, "/admin", "admin-ann").await;
    assert_eq!(status, Status::SeeOther, "OP stderr: {}", op.stderr());
    assert_eq!(location.as_deref(), Some("/admin"));
    let admin = client.get("/admin").header(Accept::JSON).dispatch().await;
    assert_eq!(admin.status(), Status::Ok);
    let claims: Value = serde_json::from_str(&admin.into_string().await.unwrap()).unwrap();
    assert_eq!(claims["sub"], "admin-ann");
    assert!(claims["groups"]
        .as_array()
        .unwrap()
        .contains(&json!("admins")));

    // A step-up: the session has no second factor (the provider names `urn:example:acr:pwd`
    // unless more is asked for); /stepup sends the browser to the provider again, asking for
    // the login again (`prompt=login`, an essential `acr`), and comes back.
    let (_, page) = support::json_page(&client, "/", Accept::JSON).await;
    assert_ne!(page["id_token"]["acr"], "urn:example:acr:mfa");
    let start = client.get("/stepup").header(Accept::HTML).dispatch().await;
    assert_eq!(start.status(), Status::SeeOther);
    let authorize_url = start.headers().get_one("Location").unwrap().to_owned();
    let asked = op.request_params(&authorize_url).await;
    assert_eq!(asked["acr_values"], "urn:example:acr:mfa", "{asked}");
    let claims: Value = serde_json::from_str(asked["claims"].as_str().unwrap()).unwrap();
    assert_eq!(
        claims["id_token"]["acr"]["essential"], true,
        "an essential acr"
    );
    assert_eq!(asked["prompt"], "login");
    let callback = real_op::dev_login(&browser, &authorize_url, "admin-ann", CALLBACK).await;
    let done = back_to_app(&client, &callback).await;
    let status = done.status();
    let location = done.headers().get_one("Location").map(str::to_owned);
    let body = done.into_string().await.unwrap_or_default();
    assert_eq!(
        status,
        Status::SeeOther,
        "{body}\nOP stderr: {}",
        op.stderr()
    );
    assert_eq!(location.as_deref(), Some("/stepup"));
    let (status, page) = support::json_page(&client, "/stepup", Accept::JSON).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(page["acr"], "urn:example:acr:mfa");

    // Another user: not an administrator (403), and one who cannot do more than a password
    // gets 403 from the step-up, without another redirect.
    let client = support::client_with(figment).await;
    let browser = self::browser();
    let (status, _) = log_in_at(&client, &browser, "/", "weak-bob").await;
    assert_eq!(status, Status::SeeOther, "OP stderr: {}", op.stderr());
    let admin = client.get("/admin").header(Accept::HTML).dispatch().await;
    assert_eq!(admin.status(), Status::Forbidden);
    let start = client.get("/stepup").header(Accept::HTML).dispatch().await;
    let authorize_url = start.headers().get_one("Location").unwrap().to_owned();
    let callback = real_op::dev_login(&browser, &authorize_url, "weak-bob", CALLBACK).await;
    let refused = back_to_app(&client, &callback).await;
    assert_eq!(refused.status(), Status::Forbidden);
    assert!(refused.headers().get_one("Location").is_none());
}

#[rocket::async_test]
async fn encrypted_id_tokens_and_userinfo_from_a_real_provider() {
    // The app's decryption keys: RSA (a fixture) and P-256 (made now), registered with the
    // provider as the client's key set.
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem();
    let keys = [
        support::key_file(
            "real-jwe",
            "rsa.pem",
            include_str!("fixtures/rp-rsa2048.pem"),
        ),
        support::key_file("real-jwe", "ec.pem", &ec),
    ];
    let jwks = support::served_keys(&[], &keys).await.to_string();
    // (ID tokens, userinfo): every key management, every content encryption.
    let runs = [
        (
            ("RSA-OAEP-256", "A256GCM"),
            ("ECDH-ES+A128KW", "A128CBC-HS256"),
        ),
        (("ECDH-ES", "A128GCM"), ("ECDH-ES+A256KW", "A256GCM")),
        (
            ("ECDH-ES+A256KW", "A128CBC-HS256"),
            ("RSA-OAEP-256", "A128GCM"),
        ),
    ];
    for ((id_alg, id_enc), (ui_alg, ui_enc)) in runs {
        let id_token_enc = format!("{id_alg} {id_enc}");
        let userinfo_enc = format!("{ui_alg} {ui_enc}");
        let op = real_op::RealOp::start_with_env(
            CLIENT_ID,
            CLIENT_SECRET,
            &[CALLBACK],
            &["http://127.0.0.1:8000/logout"],
            "client_secret_basic",
            &[
                ("CLIENT_JWKS", &jwks),
                ("ID_TOKEN_ENC", &id_token_enc),
                ("USERINFO_ENC", &userinfo_enc),
                ("USERINFO_ALG", "RS256"),
            ],
        )
        .await;
        let figment = figment(&op.issuer, "client_secret_basic")
            .merge(("oidc.encryption_keys", &keys))
            .merge((
                "oidc.providers.default",
                json!({
                    "id_token_encrypted_response_alg": id_alg,
                    "id_token_encrypted_response_enc": id_enc,
                    "userinfo_encrypted_response_alg": ui_alg,
                    "userinfo_encrypted_response_enc": ui_enc,
                    "userinfo_signed_response_alg": "RS256",
                }),
            ));
        let client = support::client_with(figment).await;
        let browser = browser();
        let (status, location) = log_in_at(&client, &browser, "/", "jwe-user").await;
        assert_eq!(
            status,
            Status::SeeOther,
            "{id_alg}/{ui_alg}: {location:?}; OP stderr: {}",
            op.stderr()
        );
        let page = page_json(&client, "/").await;
        assert_eq!(page["id_token"]["sub"], "jwe-user", "{page}");
        assert_eq!(page["id_token"]["iss"], op.issuer.as_str());
        assert_eq!(page["userinfo"]["email"], "jwe-user@example.com", "{page}");
        // Logout sends the signed token inside as the hint, which the provider (which cannot
        // decrypt what it encrypted to us) takes: it confirms and sends the browser back.
        let logout = client.get("/logout").header(Accept::HTML).dispatch().await;
        assert_eq!(logout.status(), Status::SeeOther);
        let end_session = logout.headers().get_one("Location").unwrap().to_owned();
        let hint = url::Url::parse(&end_session)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "id_token_hint")
            .map(|(_, v)| v.into_owned())
            .expect("an id_token_hint");
        assert_eq!(hint.split('.').count(), 3, "a JWS");
        let back =
            real_op::dev_logout_confirm(&browser, &end_session, "http://127.0.0.1:8000/logout")
                .await;
        assert!(
            back.contains("state="),
            "{back}; OP stderr: {}",
            op.stderr()
        );
    }

    // A provider that signs but does not encrypt: the login fails with the error view.
    let plain = real_op::RealOp::start(CLIENT_ID, CLIENT_SECRET, &[CALLBACK], &[]).await;
    let figment = figment(&plain.issuer, "client_secret_basic")
        .merge(("oidc.encryption_keys", &keys))
        .merge((
            "oidc.providers.default.id_token_encrypted_response_alg",
            "RSA-OAEP-256",
        ));
    let client = support::client_with(figment).await;
    let (status, _) = log_in_at(&client, &browser(), "/", "jwe-user").await;
    assert_eq!(status, Status::BadGateway);
    assert_eq!(
        client
            .get("/")
            .header(Accept::JSON)
            .dispatch()
            .await
            .status(),
        Status::Unauthorized
    );
}

#[rocket::async_test]
async fn jarm_responses_from_a_real_provider_signed_and_encrypted() {
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem();
    let keys = [support::key_file("real-jarm", "ec.pem", &ec)];
    let jwks = support::served_keys(&[], &keys).await.to_string();
    // (response_mode, the provider's AUTHORIZATION_ENC, the app's JARM settings)
    let runs = [
        ("query.jwt", None, json!({})),
        ("jwt", None, json!({})),
        (
            "query.jwt",
            Some("ECDH-ES+A256KW A256GCM"),
            json!({"authorization_encrypted_response_alg": "ECDH-ES+A256KW",
                   "authorization_encrypted_response_enc": "A256GCM"}),
        ),
    ];
    for (mode, encryption, settings) in runs {
        let mut env = vec![("CLIENT_JWKS", jwks.as_str()), ("OP_JARM", "1")];
        if let Some(encryption) = encryption {
            env.push(("AUTHORIZATION_ENC", encryption));
        }
        let op = real_op::RealOp::start_with_env(
            CLIENT_ID,
            CLIENT_SECRET,
            &[CALLBACK],
            &[],
            "client_secret_basic",
            &env,
        )
        .await;
        let mut figment = figment(&op.issuer, "client_secret_basic")
            .merge(("oidc.encryption_keys", &keys))
            .merge(("oidc.providers.default.response_mode", mode));
        for (key, value) in settings.as_object().unwrap() {
            figment = figment.merge((format!("oidc.providers.default.{key}"), value.clone()));
        }
        let client = support::client_with(figment).await;
        let start = client.get("/").header(Accept::HTML).dispatch().await;
        let authorize = start.headers().get_one("Location").unwrap().to_owned();
        drop(start);
        let browser = browser();
        let callback = real_op::dev_login(&browser, &authorize, "jarm-user", CALLBACK).await;
        let query: Vec<(String, String)> = url::Url::parse(&callback)
            .unwrap()
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(query.len(), 1, "{mode}: only `response`: {callback}");
        assert_eq!(query[0].0, "response");
        let parts = if encryption.is_some() { 5 } else { 3 };
        assert_eq!(
            query[0].1.split('.').count(),
            parts,
            "{mode} {encryption:?}"
        );
        let done = back_to_app(&client, &callback).await;
        let status = done.status();
        let body = done.into_string().await.unwrap_or_default();
        assert_eq!(
            status,
            Status::SeeOther,
            "{mode}: {body}; OP: {}",
            op.stderr()
        );
        let page = page_json(&client, "/").await;
        assert_eq!(page["id_token"]["sub"], "jarm-user", "{page}");
    }
}
