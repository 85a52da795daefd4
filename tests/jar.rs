//! Signed request objects (RFC 9101, JAR) against the real provider (`oidc-provider` requiring
//! them, the client with `private_key_jwt` and the app's key set): by value, the browser
//! carries only `client_id`, `request`, `response_type` and `scope`; through PAR the pushed
//! object is taken; a client that sends plain parameters is refused with the error view.

#[path = "support/real_op.rs"]
mod real_op;
mod support;

use rocket::figment::Figment;
use rocket::http::{Accept, Status};
use rocket::local::asynchronous::Client;
use serde_json::{json, Value};

const CLIENT_ID: &str = "rocket-jar";
const CALLBACK: &str = "http://127.0.0.1:8000/redirect_uri";

fn figment(issuer: &str, keys: &[std::path::PathBuf], provider: Value) -> Figment {
    let mut table = json!({
        "issuer": issuer,
        "client_id": CLIENT_ID,
        "scope": ["openid", "profile"],
        "token_endpoint_auth_method": "private_key_jwt",
    });
    for (k, v) in provider.as_object().unwrap() {
        table[k] = v.clone();
    }
    Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "off"))
        .merge(("oidc.base_url", "http://127.0.0.1:8000"))
        .merge(("oidc.signing_keys", keys))
        .merge(("oidc.providers.default", table))
}

/// Logs in through the real provider from the authorization URL `authorize`.
async fn complete(client: &Client, authorize: &str, op: &real_op::RealOp) {
    let browser = support::browser_with_jar().0;
    let callback = real_op::dev_login(&browser, authorize, "jarvis", CALLBACK).await;
    let local = callback
        .trim_start_matches("http://127.0.0.1:8000")
        .to_owned();
    let done = client.get(local).header(Accept::HTML).dispatch().await;
    let status = done.status();
    let body = done.into_string().await.unwrap_or_default();
    assert_eq!(status, Status::SeeOther, "{body}\nOP: {}", op.stderr());
    let (status, page) = support::json_page(client, "/", Accept::JSON).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(page["id_token"]["sub"], "jarvis");
}

#[rocket::async_test]
async fn signed_request_objects_by_value_and_pushed() {
    let pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let keys = [support::key_file("jar", "rp-es256.pem", &pem)];
    let jwks = support::served_key_set(&keys).await.to_string();
    let op = real_op::RealOp::start_with_env(
        CLIENT_ID,
        "unused",
        &[CALLBACK],
        &[],
        "private_key_jwt",
        &[("CLIENT_JWKS", &jwks), ("OP_JAR", "1")],
    )
    .await;
    // By value: nothing but the object and what OIDC Core 6.1 repeats.
    let by_value = json!({"request_object": "signed", "pushed_authorization": "off"});
    let client = support::client_with(figment(&op.issuer, &keys, by_value)).await;
    let start = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(start.status(), Status::SeeOther);
    let authorize = start.headers().get_one("Location").unwrap().to_owned();
    drop(start);
    let mut carried: Vec<String> = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .map(|(k, _)| k.into_owned())
        .collect();
    carried.sort();
    assert_eq!(carried, ["client_id", "request", "response_type", "scope"]);
    complete(&client, &authorize, &op).await;
    // Pushed: the provider takes the pushed object.
    let pushed = json!({"request_object": "signed"});
    let client = support::client_with(figment(&op.issuer, &keys, pushed)).await;
    let start = client.get("/").header(Accept::HTML).dispatch().await;
    let authorize = start.headers().get_one("Location").unwrap().to_owned();
    drop(start);
    let params = op.request_params(&authorize).await;
    assert!(
        params["state"].as_str().is_some_and(|s| s.len() >= 32),
        "{params}"
    );
    complete(&client, &authorize, &op).await;
    // Plain parameters to a provider that requires request objects: refused, no session.
    let plain = support::client_with(figment(&op.issuer, &keys, json!({}))).await;
    let refused = plain.get("/").header(Accept::HTML).dispatch().await;
    assert!(refused.headers().get_one("Location").is_none());
    assert_eq!(refused.status().code / 100, 4, "{}", refused.status());
    let body = refused.into_string().await.unwrap_or_default();
    assert!(body.contains("invalid_request"), "{body}");
}

/// The example app for `issuer` with a client secret and `userinfo_signed_response_alg`.
fn signed_userinfo_app(issuer: &str, alg: Option<&str>) -> Figment {
    Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "off"))
        .merge(("oidc.base_url", "http://127.0.0.1:8000"))
        .merge((
            "oidc.providers.default",
            json!({
                "issuer": issuer,
                "client_id": CLIENT_ID,
                "client_secret": "signed-userinfo-secret-91c2",
                "scope": ["openid", "profile"],
                "userinfo_signed_response_alg": alg,
            }),
        ))
}

#[rocket::async_test]
async fn signed_userinfo_is_verified_and_a_plain_answer_refused_when_signing_is_asked() {
    let signing = real_op::RealOp::start_with_env(
        CLIENT_ID,
        "signed-userinfo-secret-91c2",
        &[CALLBACK],
        &[],
        "client_secret_basic",
        &[("USERINFO_ALG", "RS256")],
    )
    .await;
    let client = support::client_with(signed_userinfo_app(&signing.issuer, Some("RS256"))).await;
    let start = client.get("/").header(Accept::HTML).dispatch().await;
    let authorize = start.headers().get_one("Location").unwrap().to_owned();
    drop(start);
    complete(&client, &authorize, &signing).await;
    let (_, page) = support::json_page(&client, "/", Accept::JSON).await;
    assert_eq!(page["userinfo"]["sub"], "jarvis");
    assert_eq!(page["userinfo"]["name"], "jarvis Tester", "{page}");
    assert_eq!(
        page["userinfo"]["aud"], CLIENT_ID,
        "the signed answer's claims"
    );
    // A provider answering plain JSON to a client that asked for signing: the login fails.
    let plain =
        real_op::RealOp::start(CLIENT_ID, "signed-userinfo-secret-91c2", &[CALLBACK], &[]).await;
    let client = support::client_with(signed_userinfo_app(&plain.issuer, Some("RS256"))).await;
    let start = client.get("/").header(Accept::HTML).dispatch().await;
    let authorize = start.headers().get_one("Location").unwrap().to_owned();
    drop(start);
    let browser = support::browser_with_jar().0;
    let callback = real_op::dev_login(&browser, &authorize, "jarvis", CALLBACK).await;
    let local = callback
        .trim_start_matches("http://127.0.0.1:8000")
        .to_owned();
    let done = client.get(local).header(Accept::HTML).dispatch().await;
    assert_eq!(done.status(), Status::BadGateway);
    let body = done.into_string().await.unwrap_or_default();
    assert!(body.contains("not signed"), "{body}");
    assert_eq!(
        support::json_page(&client, "/", Accept::JSON).await.0,
        Status::Unauthorized
    );
}

#[rocket::async_test]
async fn a_signed_userinfo_with_a_broken_signature_fails_the_login() {
    use rocket_openidconnect::testing::{TestProvider, UserinfoEndpoint};
    let provider = TestProvider::start().await;
    provider.set_user("alice", json!({}));
    let good = provider.mint_id_token("alice", "n");
    // The last character of the signature changed.
    let mut forged = good.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    for (body, expected) in [(forged, Status::BadGateway), (good, Status::SeeOther)] {
        provider.configure(|b| {
            b.userinfo = UserinfoEndpoint::Body {
                content_type: "application/jwt".into(),
                body: body.clone(),
            }
        });
        let figment = provider.app_figment().merge((
            "oidc.providers.default.userinfo_signed_response_alg",
            "RS256",
        ));
        let client = support::client_with(figment).await;
        let attempt = provider.login(&client, "/").await;
        assert_eq!(attempt.status, expected, "{}", attempt.body);
        assert_eq!(attempt.session_created, expected == Status::SeeOther);
    }
}

#[rocket::async_test]
async fn request_objects_are_encrypted_to_a_provider_that_publishes_an_encryption_key() {
    let pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let keys = [support::key_file("jar-enc", "rp-es256.pem", &pem)];
    let jwks = support::served_key_set(&keys).await.to_string();
    for kind in ["ec", "rsa"] {
        let op = real_op::RealOp::start_with_env(
            CLIENT_ID,
            "unused",
            &[CALLBACK],
            &[],
            "private_key_jwt",
            &[
                ("CLIENT_JWKS", &jwks),
                ("OP_JAR", "1"),
                ("OP_JAR_ENC", kind),
            ],
        )
        .await;
        // By value: the request object in the URL is a JWE (signed, then encrypted).
        let by_value = json!({"request_object": "signed", "pushed_authorization": "off"});
        let client = support::client_with(figment(&op.issuer, &keys, by_value)).await;
        let start = client.get("/").header(Accept::HTML).dispatch().await;
        assert_eq!(start.status(), Status::SeeOther);
        let authorize = start.headers().get_one("Location").unwrap().to_owned();
        drop(start);
        let request = url::Url::parse(&authorize)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "request")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        assert_eq!(request.split('.').count(), 5, "{kind}: a JWE");
        complete(&client, &authorize, &op).await;
        // Pushed, and required to be encrypted: taken.
        let pushed = json!({"request_object": "signed_and_encrypted"});
        let client = support::client_with(figment(&op.issuer, &keys, pushed)).await;
        let start = client.get("/").header(Accept::HTML).dispatch().await;
        let authorize = start.headers().get_one("Location").unwrap().to_owned();
        drop(start);
        complete(&client, &authorize, &op).await;
    }
    // A provider without an encryption key: `signed` stays signed only; `signed_and_encrypted`
    // fails the login with the error view.
    let op = real_op::RealOp::start_with_env(
        CLIENT_ID,
        "unused",
        &[CALLBACK],
        &[],
        "private_key_jwt",
        &[("CLIENT_JWKS", &jwks), ("OP_JAR", "1")],
    )
    .await;
    let required = json!({"request_object": "signed_and_encrypted", "pushed_authorization": "off"});
    let client = support::client_with(figment(&op.issuer, &keys, required)).await;
    let refused = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(refused.status(), Status::BadGateway);
    let body = refused.into_string().await.unwrap_or_default();
    assert!(body.contains("no encryption key"), "{body}");
    let signed = json!({"request_object": "signed", "pushed_authorization": "off"});
    let client = support::client_with(figment(&op.issuer, &keys, signed)).await;
    let start = client.get("/").header(Accept::HTML).dispatch().await;
    let authorize = start.headers().get_one("Location").unwrap().to_owned();
    drop(start);
    let request = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "request")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert_eq!(request.split('.').count(), 3, "a JWS");
}
