//! JWT client authentication (RFC 7523) against the real provider (`oidc-provider`):
//! `private_key_jwt` with the relying party's own keys (ES256, PS256, EdDSA; the provider has
//! the app's key set, as the app serves it at `jwks_path`) and `client_secret_jwt`, at the
//! token endpoint (code and refresh) and the revocation endpoint (logout). A provider that
//! knows another key refuses the login: the error view, no session. Bad keys stop the launch.

#[path = "support/real_op.rs"]
mod real_op;
mod support;

use rocket::figment::Figment;
use rocket::http::{Accept, Status};
use rocket::local::asynchronous::Client;
use serde_json::{json, Value};

const CLIENT_ID: &str = "rocket-jwt";
/// Long enough for HS256 (`client_secret_jwt`).
const CLIENT_SECRET: &str = "client-secret-jwt-0123456789abcdef0123456789";
const CALLBACK: &str = "http://127.0.0.1:8000/redirect_uri";

fn key_file(name: &str, pem: &str) -> std::path::PathBuf {
    support::key_file("client-auth", name, pem)
}

fn es256_key() -> String {
    rcgen::KeyPair::generate().unwrap().serialize_pem()
}

fn figment(issuer: &str, provider: Value, keys: &[std::path::PathBuf]) -> Figment {
    let mut table = json!({
        "issuer": issuer,
        "client_id": CLIENT_ID,
        "scope": ["openid", "profile", "email", "offline_access"],
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
        .merge(("oidc.base_url", "http://127.0.0.1:8000"))
        .merge(("oidc.signing_keys", keys))
        .merge(("oidc.jwks_path", "/jwks.json"))
        .merge(("oidc.providers.default", table))
}

async fn served_key_set(keys: &[std::path::PathBuf]) -> Value {
    support::served_key_set(keys).await
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Logs `login` in through the real provider; returns the status of the callback.
async fn log_in(client: &Client, browser: &reqwest::Client, login: &str) -> (Status, String) {
    let start = client.get("/").header(Accept::HTML).dispatch().await;
    if start.status() != Status::SeeOther {
        // Refused before the browser leaves (a pushed authorization request is authenticated).
        let status = start.status();
        return (status, start.into_string().await.unwrap_or_default());
    }
    let authorize_url = start.headers().get_one("Location").unwrap().to_owned();
    let callback = real_op::dev_login(browser, &authorize_url, login, CALLBACK).await;
    let local = callback
        .trim_start_matches("http://127.0.0.1:8000")
        .to_owned();
    let done = client.get(local).header(Accept::HTML).dispatch().await;
    let status = done.status();
    (status, done.into_string().await.unwrap_or_default())
}

/// Login, a forced refresh and a logout with revocation, all authenticated with `method`.
async fn full_round(op: &real_op::RealOp, method: &str, keys: &[std::path::PathBuf]) {
    let client = support::client_with(figment(
        &op.issuer,
        json!({
            "token_endpoint_auth_method": method,
            "client_secret": (method == "client_secret_jwt").then_some(CLIENT_SECRET),
        }),
        keys,
    ))
    .await;
    let browser = browser();
    let (status, body) = log_in(&client, &browser, "jwt-user").await;
    assert_eq!(status, Status::SeeOther, "{body}\nOP: {}", op.stderr());
    let (status, page) = support::json_page(&client, "/", Accept::JSON).await;
    assert_eq!(status, Status::Ok, "{page}");
    assert_eq!(page["id_token"]["sub"], "jwt-user");
    let before = page["access_token"].clone();
    let refreshed = client
        .get("/token?force=true")
        .header(Accept::JSON)
        .dispatch()
        .await;
    assert_eq!(refreshed.status(), Status::Ok, "OP: {}", op.stderr());
    let token: Value = serde_json::from_str(&refreshed.into_string().await.unwrap()).unwrap();
    assert_ne!(token["access_token"], before, "a new access token");
    let revocations_failed = support::logs::count("revoking the");
    let logout = client.get("/logout").header(Accept::HTML).dispatch().await;
    assert!(logout.status() == Status::SeeOther || logout.status() == Status::Ok);
    assert_eq!(
        support::logs::count("revoking the"),
        revocations_failed,
        "revocation authenticated: {:#?}",
        support::logs::records()
    );
    // Both tokens (refresh and access) were revoked with an accepted assertion.
    support::eventually(
        "two revocations at the provider",
        std::time::Duration::from_secs(20),
        || (op.stderr().matches("OP revocation.success").count() == 2).then_some(()),
    )
    .await;
    assert!(
        !op.stderr().contains("invalid_client"),
        "OP: {}",
        op.stderr()
    );
}

async fn op_for(method: &str, jwks: Option<&Value>) -> real_op::RealOp {
    let jwks = jwks.map(Value::to_string);
    let mut env: Vec<(&str, &str)> = vec![("OP_VERBOSE", "")];
    if let Some(jwks) = &jwks {
        env.push(("CLIENT_JWKS", jwks));
    }
    real_op::RealOp::start_with_env(
        CLIENT_ID,
        CLIENT_SECRET,
        &[CALLBACK],
        &["http://127.0.0.1:8000/logout"],
        method,
        &env,
    )
    .await
}

#[rocket::async_test]
async fn private_key_jwt_with_es256_ps256_and_eddsa_keys() {
    support::logs::capture();
    let ed25519 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)
        .unwrap()
        .serialize_pem();
    for (name, pem) in [
        ("es256.pem", es256_key()),
        (
            "ps256.pem",
            include_str!("fixtures/rp-rsa2048.pem").to_owned(),
        ),
        ("eddsa.pem", ed25519),
    ] {
        let keys = [key_file(name, &pem)];
        let key_set = served_key_set(&keys).await;
        let published = &key_set["keys"][0];
        assert!(published.get("d").is_none() && published.get("p").is_none());
        let op = op_for("private_key_jwt", Some(&key_set)).await;
        full_round(&op, "private_key_jwt", &keys).await;
    }
}

#[rocket::async_test]
async fn client_secret_jwt_signs_with_the_client_secret() {
    support::logs::capture();
    let op = op_for("client_secret_jwt", None).await;
    full_round(
        &op,
        "client_secret_jwt",
        &[key_file("any.pem", &es256_key())],
    )
    .await;
}

#[rocket::async_test]
async fn every_key_is_published_and_the_first_signs() {
    support::logs::capture();
    let (first, second) = (es256_key(), es256_key());
    let keys = [
        key_file("first.pem", &first),
        key_file("second.pem", &second),
    ];
    let key_set = served_key_set(&keys).await;
    assert_eq!(key_set["keys"].as_array().unwrap().len(), 2);
    // The provider knows only the second key: the first signs, so the login is refused (at
    // the pushed authorization request, the first call that authenticates the client).
    let only_second = json!({"keys": [key_set["keys"][1].clone()]});
    let op = op_for("private_key_jwt", Some(&only_second)).await;
    let client = support::client_with(figment(
        &op.issuer,
        json!({"token_endpoint_auth_method": "private_key_jwt"}),
        &keys,
    ))
    .await;
    let (status, body) = log_in(&client, &browser(), "jwt-user").await;
    assert_ne!(status, Status::SeeOther);
    assert!(body.contains("invalid_client"), "{body}");
    assert_eq!(
        support::json_page(&client, "/", Accept::JSON).await.0,
        Status::Unauthorized,
        "no session"
    );
    // With the keys swapped (the second first), it signs with the key the provider knows.
    let swapped = [keys[1].clone(), keys[0].clone()];
    let client = support::client_with(figment(
        &op.issuer,
        json!({"token_endpoint_auth_method": "private_key_jwt"}),
        &swapped,
    ))
    .await;
    let (status, body) = log_in(&client, &browser(), "jwt-user").await;
    assert_eq!(status, Status::SeeOther, "{body}");
}

#[rocket::async_test]
async fn bad_keys_and_settings_stop_the_launch_naming_the_key() {
    support::logs::capture();
    let pkjwt = json!({"token_endpoint_auth_method": "private_key_jwt"});
    let issuer = "http://127.0.0.1:9";
    let small = key_file("small.pem", include_str!("fixtures/rsa1024.pem"));
    support::launch_fails(
        figment(issuer, pkjwt.clone(), &[small]),
        "oidc.signing_keys[0]",
    )
    .await;
    assert!(support::logs::count("1024 bits") >= 1);
    let missing = std::env::temp_dir().join("roidc-no-such-key.pem");
    support::launch_fails(
        figment(issuer, pkjwt.clone(), &[missing]),
        "oidc.signing_keys[0]",
    )
    .await;
    let public = key_file(
        "public.pem",
        &rcgen::KeyPair::generate().unwrap().public_key_pem(),
    );
    support::launch_fails(
        figment(issuer, pkjwt.clone(), &[public]),
        "is not a PEM private key",
    )
    .await;
    let key = key_file("dup.pem", &es256_key());
    support::launch_fails(
        figment(issuer, pkjwt.clone(), &[key.clone(), key]),
        "oidc.signing_keys[1]",
    )
    .await;
    // private_key_jwt without keys, or with a client secret; jwks_path without keys.
    let no_keys = figment(issuer, pkjwt.clone(), &[]).merge(("oidc.jwks_path", None::<String>));
    support::launch_fails(
        no_keys,
        "oidc.providers.default.token_endpoint_auth_method: `private_key_jwt` needs a key",
    )
    .await;
    let with_secret = figment(
        issuer,
        json!({"token_endpoint_auth_method": "private_key_jwt", "client_secret": "x"}),
        &[key_file("k.pem", &es256_key())],
    );
    support::launch_fails(
        with_secret,
        "oidc.providers.default.client_secret: is not used",
    )
    .await;
    let jwks_without_keys = figment(issuer, json!({"client_secret": "x"}), &[]);
    support::launch_fails(jwks_without_keys, "oidc.jwks_path: publishes the keys").await;
}
