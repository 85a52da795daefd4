//! The provider's keys, rows K1–K14 of the hostile-provider matrix (docs/security.md): a key
//! verifies a signature only if what it says about itself allows it (`use`, `key_ops`) and it
//! is strong enough (RSA of at least 2048 bits, EC on its curve). Otherwise it never verifies
//! anything, an ID token, a logout token or a JWT access token, and the key-set load names it
//! in one log line (its `kid` escaped). Each refusal: the row's status, no session, nothing
//! leaked.

mod support;

use std::sync::Arc;
use std::time::Duration;

use rocket::http::{Accept, ContentType, Header, Status};
use rocket::local::asynchronous::Client;
use rocket_openidconnect::testing::{Alg, TestProvider};
use serde_json::{json, Map, Value};
use support::{assert_logged_out, assert_rejected, client};

async fn start(alg: Alg) -> TestProvider {
    support::logs::capture();
    TestProvider::start_with(alg).await
}

/// Changes every key the provider publishes.
fn tweak_keys(
    provider: &TestProvider,
    change: impl Fn(&mut Map<String, Value>) + Send + Sync + 'static,
) {
    provider.configure(move |b| {
        b.jwks_document = Some(Arc::new(move |document: &mut Value| {
            for key in document["keys"].as_array_mut().into_iter().flatten() {
                if let Some(key) = key.as_object_mut() {
                    change(key);
                }
            }
        }))
    });
}

/// Adds `key` to the keys the provider publishes (beside its own).
fn publish_also(provider: &TestProvider, key: Value) {
    provider.configure(move |b| {
        b.jwks_document = Some(Arc::new(move |document: &mut Value| {
            if let Some(keys) = document["keys"].as_array_mut() {
                keys.push(key.clone());
            }
        }))
    });
}

/// The log line that refuses the key `kid` for `reason` appears (the key set is loaded in
/// the background at launch too: polled, with a deadline); no record holds a raw line break.
async fn assert_refusal_logged(kid: &str, reason: &str) {
    let needle = format!("key `{kid}` of provider `default` is refused");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let records = support::logs::records();
        for record in &records {
            assert!(
                !record.contains('\n') && !record.contains('\r'),
                "a raw line break in a log record: {record:?}"
            );
        }
        if records
            .iter()
            .any(|r| r.contains(&needle) && r.contains(reason))
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no log line `{needle}: ...{reason}...` in {records:#?}"
        );
        rocket::tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A login that must be refused because no key verifies the ID token.
async fn assert_login_refused(provider: &TestProvider, client: &Client) {
    let attempt = provider.login(client, "/").await;
    assert_rejected(&attempt, 400, provider);
    assert!(
        attempt.body.contains("invalid_id_token"),
        "{}",
        attempt.body
    );
    assert_logged_out(client, provider).await;
}

async fn assert_login_works(provider: &TestProvider, client: &Client) {
    let attempt = provider.login(client, "/").await;
    assert_eq!(attempt.status.code, 303, "{}", attempt.body);
    assert!(attempt.session_created);
}

#[rocket::async_test]
async fn k1_a_key_marked_for_encryption_never_verifies_an_id_token() {
    let provider = start(Alg::Rs256).await;
    tweak_keys(&provider, |key| {
        drop(key.insert("use".into(), "enc".into()))
    });
    let client = client(&provider).await;
    assert_login_refused(&provider, &client).await;
    assert_refusal_logged(&provider.current_kid(), "marked for encryption").await;
}

#[rocket::async_test]
async fn k2_key_ops_without_verify_never_verify_an_id_token() {
    let provider = start(Alg::Rs256).await;
    tweak_keys(&provider, |key| {
        key.remove("use");
        key.insert("key_ops".into(), json!(["encrypt", "wrapKey"]));
    });
    let client = client(&provider).await;
    assert_login_refused(&provider, &client).await;
    assert_refusal_logged(&provider.current_kid(), "do not include `verify`").await;
}

#[rocket::async_test]
async fn k3_key_ops_sign_only_never_verify() {
    let provider = start(Alg::Es256).await;
    tweak_keys(&provider, |key| {
        key.remove("use");
        key.insert("key_ops".into(), json!(["sign"]));
    });
    let client = client(&provider).await;
    assert_login_refused(&provider, &client).await;
    assert_refusal_logged(&provider.current_kid(), "do not include `verify`").await;
}

#[rocket::async_test]
async fn k4_positive_key_ops_with_verify_and_use_sig_verify() {
    let provider = start(Alg::Rs256).await;
    tweak_keys(&provider, |key| {
        key.insert("key_ops".into(), json!(["verify"]));
    });
    let client = client(&provider).await;
    assert_login_works(&provider, &client).await;
}

#[rocket::async_test]
async fn k5_a_512_bit_rsa_key_never_verifies() {
    let provider = start(Alg::Rs256).await;
    provider.rotate_to_rsa_key(512).await;
    let client = client(&provider).await;
    assert_login_refused(&provider, &client).await;
    assert_refusal_logged(&provider.current_kid(), "512 bits is too weak").await;
}

#[rocket::async_test]
async fn k6_a_1024_bit_rsa_key_never_verifies() {
    let provider = start(Alg::Rs256).await;
    provider.rotate_to_rsa_key(1024).await;
    let client = client(&provider).await;
    assert_login_refused(&provider, &client).await;
    assert_refusal_logged(&provider.current_kid(), "1024 bits is too weak").await;
}

#[rocket::async_test]
async fn k7_an_ec_key_that_is_not_on_the_curve_it_names_never_verifies() {
    let provider = start(Alg::Es256).await;
    // A P-256 key published as P-384 (and without `alg`): its coordinates do not fit.
    tweak_keys(&provider, |key| {
        key.insert("crv".into(), "P-384".into());
        key.remove("alg");
    });
    let client = client(&provider).await;
    assert_login_refused(&provider, &client).await;
    assert_refusal_logged(&provider.current_kid(), "not 48 bytes long").await;
}

#[rocket::async_test]
async fn k8_an_es256_key_published_for_another_algorithm_never_verifies() {
    let provider = start(Alg::Es256).await;
    tweak_keys(&provider, |key| {
        drop(key.insert("alg".into(), "ES384".into()))
    });
    let client = client(&provider).await;
    assert_login_refused(&provider, &client).await;
    assert_refusal_logged(&provider.current_kid(), "does not fit").await;
}

#[rocket::async_test]
async fn k9_a_symmetric_key_in_the_key_set_is_refused_and_named_safely() {
    let provider = start(Alg::Rs256).await;
    // The kid would forge a log line if it were written raw.
    let kid = "shared\r\n[ERROR] OpenID Connect: login via `admin` completed";
    publish_also(
        &provider,
        json!({"kty": "oct", "kid": kid, "k": "c2VjcmV0LXNlY3JldA"}),
    );
    let client = client(&provider).await;
    // The provider's own key still works.
    assert_login_works(&provider, &client).await;
    assert_refusal_logged(
        "shared\\r\\n[ERROR] OpenID Connect: login via `admin` completed",
        "private or secret key material",
    )
    .await;
}

#[rocket::async_test]
async fn k10_a_key_published_with_its_private_part_is_refused() {
    let provider = start(Alg::Rs256).await;
    tweak_keys(&provider, |key| drop(key.insert("d".into(), "AQAB".into())));
    let client = client(&provider).await;
    assert_login_refused(&provider, &client).await;
    assert_refusal_logged(&provider.current_kid(), "`d`").await;
}

#[rocket::async_test]
async fn k11_a_kid_that_is_not_a_string_is_malformed() {
    let provider = start(Alg::Rs256).await;
    provider.configure(|b| {
        b.id_token_header = Some(Arc::new(|header: &mut Map<String, Value>| {
            header.insert("kid".into(), json!(5));
        }))
    });
    let client = client(&provider).await;
    let attempt = provider.login(&client, "/").await;
    assert_rejected(&attempt, 400, &provider);
    assert!(
        attempt.body.contains("malformed ID token"),
        "{}",
        attempt.body
    );
}

#[rocket::async_test]
async fn k12_a_logout_token_signed_with_a_key_whose_key_ops_forbid_verify_is_refused() {
    let provider = start(Alg::Rs256).await;
    let client = client(&provider).await;
    assert_login_works(&provider, &client).await;
    let page = client.get("/").header(Accept::JSON).dispatch().await;
    let page: Value = serde_json::from_str(&page.into_string().await.unwrap()).unwrap();
    let sid = page["id_token"]["sid"].as_str().expect("a sid").to_owned();
    // A new key, published for encryption only: the logout token signed with it names a kid
    // the application must refetch, and then refuse.
    provider.rotate_keys().await;
    tweak_keys(&provider, |key| {
        key.remove("use");
        key.insert("key_ops".into(), json!(["encrypt"]));
    });
    let token = provider.logout_token(Map::new(), |c| drop(c.insert("sid".into(), sid.into())));
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", &token)
        .finish();
    let response = client
        .post("/backchannel_logout")
        .header(ContentType::Form)
        .body(body)
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::BadRequest);
    let body = response.into_string().await.unwrap_or_default();
    assert!(!body.contains("eyJ"), "{body}");
    let page = client.get("/").header(Accept::JSON).dispatch().await;
    assert_eq!(
        page.status(),
        Status::Ok,
        "the session was ended by a refused token"
    );
    assert_refusal_logged(&provider.current_kid(), "do not include `verify`").await;
}

#[rocket::async_test]
async fn k13_a_jwt_access_token_signed_with_a_key_for_encryption_is_refused() {
    let provider = start(Alg::Rs256).await;
    provider.configure(|b| b.jwt_access_tokens = true);
    tweak_keys(&provider, |key| {
        drop(key.insert("use".into(), "enc".into()))
    });
    let client = client(&provider).await;
    let token = provider.issue_access_token("alice", "api");
    let response = client
        .get("/api")
        .header(Header::new("Authorization", format!("Bearer {token}")))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Unauthorized);
    let challenge = response
        .headers()
        .get_one("WWW-Authenticate")
        .unwrap_or_default()
        .to_owned();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    assert_refusal_logged(&provider.current_kid(), "marked for encryption").await;
}

#[rocket::async_test]
async fn k14_positive_a_jwt_access_token_of_a_2048_bit_key_with_key_ops_verify_passes() {
    let provider = start(Alg::Rs256).await;
    provider.configure(|b| b.jwt_access_tokens = true);
    tweak_keys(&provider, |key| {
        key.remove("use");
        key.insert("key_ops".into(), json!(["verify"]));
    });
    let client = client(&provider).await;
    let token = provider.issue_access_token("alice", "api");
    let response = client
        .get("/api")
        .header(Header::new("Authorization", format!("Bearer {token}")))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok);
}
