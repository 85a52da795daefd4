//! DPoP (RFC 9449) and the FAPI 2.0 profile against the real provider (`oidc-provider` with
//! `features.fapi` profile 2.0, PAR required, DPoP server nonces, the client registered with
//! `private_key_jwt`, the app's key set and `dpop_bound_access_tokens`, ES256/PS256 provider
//! keys): login, userinfo, refresh, the app's own API called with the bound token (and its
//! server nonce), logout with revocation, all through the provider; and what a DPoP API
//! refuses.

#[path = "support/real_op.rs"]
mod real_op;
mod support;

use rocket::figment::Figment;
use serde_json::{json, Value};

const CLIENT_ID: &str = "rocket-fapi";

fn figment(issuer: &str, port: u16, keys: &[std::path::PathBuf], provider: Value) -> Figment {
    let mut table = json!({
        "issuer": issuer,
        "client_id": CLIENT_ID,
        "scope": ["openid", "profile", "offline_access", "api"],
        "token_endpoint_auth_method": "private_key_jwt",
        "revoke_tokens_on_logout": true,
        // A refresh token needs `offline_access`, which oidc-provider grants with consent.
        "auth_request_params": {"prompt": "consent"},
    });
    for (k, v) in provider.as_object().unwrap() {
        table[k] = v.clone();
    }
    Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "off"))
        .merge(("secret_key", "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk="))
        .merge(("oidc.base_url", format!("http://127.0.0.1:{port}")))
        .merge(("oidc.signing_keys", keys))
        .merge(("oidc.jwks_path", "/jwks.json"))
        .merge(("oidc.require_dpop_nonce", true))
        .merge(("oidc.providers.default", table))
}

/// The OP in its FAPI 2.0 configuration, for the app on `port` with `key_set`.
async fn fapi_op(port: u16, key_set: &Value) -> real_op::RealOp {
    let callback = format!("http://127.0.0.1:{port}/redirect_uri");
    let logout = format!("http://127.0.0.1:{port}/logout");
    let jwks = key_set.to_string();
    real_op::RealOp::start_with_env(
        CLIENT_ID,
        "unused",
        &[&callback],
        &[&logout],
        "private_key_jwt",
        &[
            ("OP_FAPI", "2.0"),
            ("OP_PAR", "required"),
            ("OP_DPOP_NONCE", "1"),
            ("DPOP_BOUND", "1"),
            ("CLIENT_JWKS", &jwks),
        ],
    )
    .await
}

fn browser() -> reqwest::Client {
    support::browser_with_jar().0
}

/// Logs `login` in at the app on `port` through the real provider; returns the status of
/// the callback and its body.
async fn log_in(browser: &reqwest::Client, port: u16, login: &str) -> (u16, String) {
    let app = format!("http://127.0.0.1:{port}");
    let start = browser
        .get(format!("{app}/"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 303, "{}", start.text().await.unwrap());
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    let callback = real_op::dev_login(browser, &authorize, login, &app).await;
    let done = browser
        .get(callback)
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    (
        done.status().as_u16(),
        done.text().await.unwrap_or_default(),
    )
}

async fn get_json(browser: &reqwest::Client, port: u16, path: &str) -> (u16, Value) {
    let response = browser
        .get(format!("http://127.0.0.1:{port}{path}"))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[rocket::async_test]
async fn fapi2_login_userinfo_refresh_api_and_logout_with_dpop_through_the_real_provider() {
    support::logs::capture();
    let pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let keys = [support::key_file("dpop", "rp-es256.pem", &pem)];
    let key_set = support::served_key_set(&keys).await;
    let port = support::free_port();
    let op = fapi_op(port, &key_set).await;
    // The API takes the users' tokens (for this client) and the application's own, for the
    // resource it asks for.
    let provider = json!({"dpop": true, "profile": "fapi2"});
    support::serve_on(figment(&op.issuer, port, &keys, provider), port).await;
    let browser = browser();

    let (status, body) = log_in(&browser, port, "fapi-user").await;
    assert_eq!(status, 303, "{body}\nOP: {}", op.stderr());
    let (status, page) = get_json(&browser, port, "/").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["id_token"]["sub"], "fapi-user");
    assert_eq!(page["token_type"], "DPoP");
    // Userinfo came with the bound token (the provider's nonce was answered).
    assert_eq!(page["userinfo"]["sub"], "fapi-user", "{page}");
    let stderr = op.stderr();
    // The pushed request named the key, the provider challenged for a nonce once and then
    // issued DPoP tokens; userinfo took the bound token.
    let pushed = stderr.lines().find(|l| l.starts_with("OP par ")).unwrap();
    assert!(pushed.contains("\"dpop_jkt\""), "{pushed}");
    assert!(
        stderr.contains("OP dpop token 400 use_dpop_nonce"),
        "{stderr}"
    );
    assert!(stderr.contains("OP dpop token 200 DPoP"), "{stderr}");
    assert!(stderr.contains("OP dpop userinfo 200"), "{stderr}");

    // A forced refresh: a new bound token (the nonce is remembered: no new challenge).
    let challenges = stderr.matches("use_dpop_nonce").count();
    let (status, token) = get_json(&browser, port, "/token?force=true").await;
    assert_eq!(status, 200, "{token}\nOP: {}", op.stderr());
    assert_ne!(token["access_token"], page["access_token"]);
    assert_eq!(op.stderr().matches("OP dpop token 200 DPoP").count(), 2);
    assert_eq!(op.stderr().matches("use_dpop_nonce").count(), challenges);

    // The app's own API with the bound token: it asks for its own nonce first, then takes the
    // proof (introspection says the token is bound to the proof's key).
    let nonces_asked = support::logs::count("a DPoP server nonce is required");
    let (status, called) = get_json(&browser, port, "/call-api").await;
    assert_eq!(status, 200, "{called}");
    assert_eq!(
        support::logs::count("a DPoP server nonce is required"),
        nonces_asked + 1,
        "the API asked for its nonce once"
    );
    assert_eq!(called["status"], 200, "{called}\nOP: {}", op.stderr());
    assert_eq!(called["body"]["sub"], "fapi-user");
    assert_eq!(called["body"]["client_id"], CLIENT_ID);

    // The application's own token (client credentials), bound to the application's DPoP
    // key: the provider requires a proof of this client (dpop_bound_access_tokens), and the
    // app's API takes the token only with a proof of that key.
    let bound_before = op.stderr().matches("OP dpop token 200 DPoP").count();
    let (status, called) = get_json(&browser, port, "/call-api-as-app").await;
    assert_eq!(status, 200, "{called}\nOP: {}", op.stderr());
    assert_eq!(called["token_type"], "DPoP", "{called}");
    assert_eq!(called["status"], 200, "{called}\nOP: {}", op.stderr());
    assert_eq!(called["body"]["client_id"], CLIENT_ID);
    assert_eq!(called["body"]["scopes"], json!(["api"]), "{called}");
    assert_eq!(
        op.stderr().matches("OP dpop token 200 DPoP").count(),
        bound_before + 1
    );

    // Logout: both tokens revoked, with proofs and client assertions the provider accepts.
    let revocations_failed = support::logs::count("revoking the");
    let logout = browser
        .get(format!("http://127.0.0.1:{port}/logout"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert!(logout.status() == 303 || logout.status() == 200);
    assert_eq!(support::logs::count("revoking the"), revocations_failed);
    support::eventually(
        "two revocations at the provider",
        std::time::Duration::from_secs(20),
        || (op.stderr().matches("OP revocation.success").count() == 2).then_some(()),
    )
    .await;
    assert!(!op.stderr().contains("invalid_client"), "{}", op.stderr());
}

#[rocket::async_test]
async fn a_provider_that_binds_no_token_is_refused_under_fapi2_and_tolerated_without() {
    // (Every test of this binary installs the capturing logger first: a Rocket launched
    // before it would install its own.)
    support::logs::capture();
    let pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let keys = [support::key_file("dpop-bearer", "rp-es256.pem", &pem)];
    let key_set = support::served_key_set(&keys).await;
    let port = support::free_port();
    let callback = format!("http://127.0.0.1:{port}/redirect_uri");
    let jwks = key_set.to_string();
    // The provider's DPoP is off: proofs are ignored, and Bearer tokens come back.
    let op = real_op::RealOp::start_with_env(
        CLIENT_ID,
        "unused",
        &[&callback],
        &[],
        "private_key_jwt",
        &[("CLIENT_JWKS", &jwks), ("OP_DPOP_OFF", "1")],
    )
    .await;
    let fapi = json!({"dpop": true, "profile": "fapi2"});
    support::serve_on(figment(&op.issuer, port, &keys, fapi), port).await;
    let (status, body) = log_in(&browser(), port, "bearer-user").await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body.contains("Bearer although a DPoP proof was sent"),
        "{body}"
    );

    let port = support::free_port();
    let callback = format!("http://127.0.0.1:{port}/redirect_uri");
    let op = real_op::RealOp::start_with_env(
        CLIENT_ID,
        "unused",
        &[&callback],
        &[],
        "private_key_jwt",
        &[("CLIENT_JWKS", &jwks), ("OP_DPOP_OFF", "1")],
    )
    .await;
    let plain = json!({"dpop": true});
    support::serve_on(figment(&op.issuer, port, &keys, plain), port).await;
    let browser = browser();
    let (status, body) = log_in(&browser, port, "bearer-user").await;
    assert_eq!(status, 303, "{body}");
    let (_, page) = get_json(&browser, port, "/").await;
    assert_eq!(page["token_type"], "Bearer");
}
