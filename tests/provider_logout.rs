//! Logouts the provider starts: back-channel logout (rows B1-B23 of the matrix in
//! `rp-anchors-and-security.md` 4.7) and front-channel logout (F1-F4), against the in-process
//! test provider. Every refusal is a 400 with a JSON error and `Cache-Control: no-store`, and
//! leaves the session valid.

mod support;

use rocket::http::{Accept, ContentType, Header, Status};
use rocket::local::asynchronous::Client;
use rocket_openidconnect::testing::{Signing, TestProvider};
use serde_json::{json, Map, Value};
use support::{client, client_with};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Logs `client` in and returns the ID token's claims.
async fn logged_in(provider: &TestProvider, client: &Client) -> Value {
    let login = provider.login(client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    let page = client.get("/").header(Accept::JSON).dispatch().await;
    assert_eq!(page.status(), Status::Ok);
    let page: Value = serde_json::from_str(&page.into_string().await.unwrap()).unwrap();
    page["id_token"].clone()
}

async fn is_logged_in(client: &Client) -> bool {
    let page = client.get("/").header(Accept::JSON).dispatch().await;
    match page.status() {
        Status::Ok => true,
        Status::Unauthorized => false,
        other => panic!("unexpected {other}"),
    }
}

/// POSTs a form body to the back-channel logout route: status, Cache-Control, body.
async fn post_body(client: &Client, body: String) -> (Status, String, String) {
    let response = client
        .post("/backchannel_logout")
        .header(ContentType::Form)
        .body(body)
        .dispatch()
        .await;
    let status = response.status();
    let cache = response
        .headers()
        .get_one("Cache-Control")
        .unwrap_or_default()
        .to_owned();
    (
        status,
        cache,
        response.into_string().await.unwrap_or_default(),
    )
}

async fn post_token(client: &Client, token: &str) -> (Status, String, String) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", token)
        .finish();
    post_body(client, body).await
}

/// A logout token for the session's `sid`, with `change` applied to its claims.
fn token_for(
    provider: &TestProvider,
    claims: &Value,
    change: impl FnOnce(&mut Map<String, Value>),
) -> String {
    let sid = claims["sid"]
        .as_str()
        .expect("the ID token has a sid")
        .to_owned();
    provider.logout_token(Map::new(), |c| {
        c.insert("sid".into(), sid.into());
        change(c);
    })
}

/// A refused logout token: 400, JSON error saying `because`, no-store, and the session is
/// still there.
async fn refused(provider: &TestProvider, client: &Client, token: &str, because: &str) -> String {
    let (status, cache, body) = post_token(client, token).await;
    assert_refused(status, &cache, &body, because);
    assert!(
        is_logged_in(client).await,
        "the session was ended by a refused token"
    );
    let _ = provider;
    body
}

/// 400 with `Cache-Control: no-store` and the JSON error `invalid_request`, whose description
/// holds `because`: refused for the reason the test is about, not for any other.
fn assert_refused(status: Status, cache: &str, body: &str, because: &str) {
    assert_eq!(status, Status::BadRequest, "{body}");
    assert_eq!(cache, "no-store");
    let error: Value = serde_json::from_str(body).expect("a JSON error");
    assert_eq!(error["error"], "invalid_request", "{body}");
    let description = error["error_description"].as_str().unwrap_or_default();
    assert!(
        description.contains(because),
        "refused, but not because of `{because}`: {body}"
    );
    assert!(!body.contains("eyJ"), "a token in the answer: {body}");
}

async fn session() -> (TestProvider, Client, Value) {
    let provider = TestProvider::start().await;
    let client = client(&provider).await;
    let claims = logged_in(&provider, &client).await;
    (provider, client, claims)
}

/// POSTs a logout token to the app served on `port`: the status.
async fn post_served(port: u16, token: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/backchannel_logout"))
        .form(&[("logout_token", token)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[rocket::async_test]
async fn b1_a_valid_logout_token_ends_the_session_of_its_sid() {
    let (provider, client, claims) = session().await;
    let (status, cache, body) = post_token(&client, &token_for(&provider, &claims, |_| {})).await;
    assert_eq!(status, Status::Ok, "{body}");
    assert_eq!(cache, "no-store");
    assert!(body.is_empty(), "{body}");
    assert!(!is_logged_in(&client).await, "the session is still there");
    // A browser navigation now starts a new login, which is a new session.
    let page = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(page.status(), Status::SeeOther);
    logged_in(&provider, &client).await;
    assert!(is_logged_in(&client).await);
}

#[rocket::async_test]
async fn b1_sid_ends_one_provider_session_and_sub_every_session_of_the_user() {
    // Three browsers at one application: alice twice (two provider sessions), and bob.
    let provider = TestProvider::start().await;
    let port = support::serve(provider.app_figment()).await;
    let (alice_1, claims_1) = support::browser_logged_in(&provider, port).await;
    let (alice_2, claims_2) = support::browser_logged_in(&provider, port).await;
    provider.set_user("bob", json!({}));
    let (bob, _) = support::browser_logged_in(&provider, port).await;
    assert_ne!(claims_1["sid"], claims_2["sid"]);
    // By sid: only that provider session.
    let sid = claims_1["sid"].clone();
    let token = provider.logout_token(Map::new(), |c| drop(c.insert("sid".into(), sid)));
    assert_eq!(post_served(port, &token).await, 200);
    assert!(support::browser_page(&alice_1, port).await.is_none());
    assert!(support::browser_page(&alice_2, port).await.is_some());
    // By sub: every session of alice, none of bob's.
    let sub = claims_2["sub"].clone();
    let token = provider.logout_token(Map::new(), |c| drop(c.insert("sub".into(), sub)));
    assert_eq!(post_served(port, &token).await, 200);
    assert!(support::browser_page(&alice_2, port).await.is_none());
    assert!(support::browser_page(&bob, port).await.is_some());
}

#[rocket::async_test]
async fn b2_extra_parameters_and_unknown_claims_are_ignored() {
    let (provider, client, claims) = session().await;
    let token = token_for(&provider, &claims, |c| {
        c.insert("unknown_claim".into(), json!({"x": 1}));
    });
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", &token)
        .append_pair("extra", "ignored")
        .finish();
    assert_eq!(post_body(&client, body).await.0, Status::Ok);
    assert!(!is_logged_in(&client).await);
}

#[rocket::async_test]
async fn b3_alg_none_is_refused() {
    let (provider, client, claims) = session().await;
    provider.configure(|b| b.signing = Signing::None);
    let token = token_for(&provider, &claims, |_| {});
    refused(&provider, &client, &token, "algorithm rejected").await;
}

#[rocket::async_test]
async fn b4_another_algorithm_than_the_providers_is_refused() {
    let provider = TestProvider::start().await;
    let figment = provider
        .app_figment()
        .merge(("oidc.providers.default.id_token_signing_algs", ["RS256"]));
    let client = client_with(figment).await;
    let claims = logged_in(&provider, &client).await;
    let mut header = Map::new();
    header.insert("alg".into(), "ES256".into());
    let sid = claims["sid"].clone();
    let token = provider.logout_token(header, |c| drop(c.insert("sid".into(), sid)));
    refused(&provider, &client, &token, "`ES256` is not allowed").await;
    // HMAC with the client secret is never accepted unless configured either.
    let secret = provider.client_secret().to_owned();
    provider.configure(|b| b.signing = Signing::Hs256(secret));
    let token = token_for(&provider, &claims, |_| {});
    refused(&provider, &client, &token, "`HS256` is not allowed").await;
}

#[rocket::async_test]
async fn b5_a_bad_signature_or_an_unknown_kid_is_refused_after_one_key_refetch() {
    // Each case on a session of its own: the key set is refetched at most once per interval
    // (30 s), so a refetch for one case would leave none for the other.
    let cases = [
        (Signing::BadSignature, "signature is invalid"),
        (Signing::Kid("unknown-kid".into()), "no matching key"),
    ];
    for (signing, because) in cases {
        let (provider, client, claims) = session().await;
        provider.configure(|b| b.signing = signing.clone());
        let before = provider.hits().jwks;
        // The first token makes the key set be fetched once more (the provider may have
        // rotated its keys); the next ones, within the interval, do not.
        for _ in 0..5 {
            let token = token_for(&provider, &claims, |_| {});
            refused(&provider, &client, &token, because).await;
        }
        assert_eq!(
            provider.hits().jwks - before,
            1,
            "{signing:?}: one key-set refetch for five tokens (none: no rotation is \
             considered; more: a fetch storm)"
        );
    }
}

#[rocket::async_test]
async fn b6_to_b8_the_logout_event_must_be_there_and_an_object() {
    let (provider, client, claims) = session().await;
    let events: [Option<Value>; 4] = [
        None,
        Some(json!({"http://schemas.openid.net/event/other": {}})),
        Some(json!({ EVENT: "x" })),
        Some(json!([EVENT])),
    ];
    for event in events {
        let token = token_for(&provider, &claims, |c| match event {
            Some(event) => drop(c.insert("events".into(), event)),
            None => drop(c.remove("events")),
        });
        refused(&provider, &client, &token, "no back-channel logout event").await;
    }
}

#[rocket::async_test]
async fn b9_a_nonce_is_refused() {
    let (provider, client, claims) = session().await;
    let token = token_for(&provider, &claims, |c| {
        drop(c.insert("nonce".into(), "n".into()))
    });
    refused(&provider, &client, &token, "never has a `nonce`").await;
}

#[rocket::async_test]
async fn b10_another_audience_is_refused() {
    let (provider, client, claims) = session().await;
    let token = token_for(&provider, &claims, |c| {
        c.insert("aud".into(), "another-client".into());
    });
    refused(&provider, &client, &token, "audience is wrong").await;
}

#[rocket::async_test]
async fn b11_another_issuer_is_refused() {
    let (provider, client, claims) = session().await;
    for issuer in [
        "https://evil.example".to_owned(),
        format!("{}/", provider.issuer()),
    ] {
        let token = token_for(&provider, &claims, |c| {
            drop(c.insert("iss".into(), issuer.into()))
        });
        refused(&provider, &client, &token, "issuer is wrong").await;
    }
}

#[rocket::async_test]
async fn b12_neither_sub_nor_sid_is_refused() {
    let (provider, client, claims) = session().await;
    let token = token_for(&provider, &claims, |c| {
        c.remove("sid");
        c.remove("sub");
    });
    refused(&provider, &client, &token, "neither `sub` nor `sid`").await;
}

#[rocket::async_test]
async fn b13_a_missing_jti_is_refused() {
    let (provider, client, claims) = session().await;
    let token = token_for(&provider, &claims, |c| drop(c.remove("jti")));
    refused(&provider, &client, &token, "no `jti`").await;
}

#[rocket::async_test]
async fn b14_a_replayed_token_is_refused() {
    let (provider, client, claims) = session().await;
    let token = token_for(&provider, &claims, |_| {});
    assert_eq!(post_token(&client, &token).await.0, Status::Ok);
    // A new login, then the same token again: refused, and the new session stays.
    logged_in(&provider, &client).await;
    refused(&provider, &client, &token, "used already").await;
}

#[rocket::async_test]
async fn b15_b16_b17_iat_and_exp_are_required_and_checked() {
    let (provider, client, claims) = session().await;
    let now = claims["iat"].as_i64().unwrap();
    let changes: [(&str, Option<i64>, &str); 5] = [
        ("iat", None, "no numeric `iat`"),
        ("iat", Some(now - 3600), "issue time is out of range"),
        ("iat", Some(now + 3600), "issue time is out of range"),
        ("exp", Some(now - 600), "expired"),
        ("exp", None, "no numeric `exp`"),
    ];
    for (claim, value, because) in changes {
        let token = token_for(&provider, &claims, |c| match value {
            Some(v) => drop(c.insert(claim.into(), v.into())),
            None => drop(c.remove(claim)),
        });
        refused(&provider, &client, &token, because).await;
    }
}

#[rocket::async_test]
async fn b18_logout_tokens_may_be_typed_or_not_but_never_as_another_jwt() {
    let (provider, client, claims) = session().await;
    let typed = |typ: Value, claims: &Value| {
        let mut header = Map::new();
        header.insert("typ".into(), typ);
        let sid = claims["sid"].clone();
        provider.logout_token(header, |c| drop(c.insert("sid".into(), sid)))
    };
    let untyped = "not typed as a logout token";
    refused(
        &provider,
        &client,
        &typed("at+jwt".into(), &claims),
        untyped,
    )
    .await;
    refused(
        &provider,
        &client,
        &typed("secevent+jwt".into(), &claims),
        untyped,
    )
    .await;
    // Typed as a logout token, as any JWT, or not typed (`null` removes the member).
    let mut claims = claims;
    for typ in [Value::from("logout+jwt"), Value::from("JWT"), Value::Null] {
        let (status, _, body) = post_token(&client, &typed(typ.clone(), &claims)).await;
        assert_eq!(status, Status::Ok, "{typ}: {body}");
        assert!(!is_logged_in(&client).await, "{typ}");
        claims = logged_in(&provider, &client).await;
    }
}

#[rocket::async_test]
async fn b19_an_id_token_posted_as_a_logout_token_is_refused() {
    let (provider, client, _) = session().await;
    let id_token = provider.mint_id_token("alice", "a-nonce");
    // It has no `jti` and no logout event: malformed as a logout token.
    refused(&provider, &client, &id_token, "malformed").await;
}

#[rocket::async_test]
async fn b20_an_unknown_sid_is_a_success_that_changes_nothing() {
    let (provider, client, claims) = session().await;
    let token = token_for(&provider, &claims, |c| {
        c.insert("sid".into(), "no-such-session".into());
    });
    assert_eq!(post_token(&client, &token).await.0, Status::Ok);
    assert!(is_logged_in(&client).await);
}

#[rocket::async_test]
async fn b21_anything_but_a_form_post_with_one_logout_token_is_refused() {
    let (provider, client, claims) = session().await;
    let token = token_for(&provider, &claims, |_| {});
    let get = client.get("/backchannel_logout").dispatch().await;
    let status_of_get = get.status();
    let cache = get
        .headers()
        .get_one("Cache-Control")
        .unwrap_or_default()
        .to_owned();
    let body = get.into_string().await.unwrap();
    assert_refused(status_of_get, &cache, &body, "a logout token is POSTed");
    let (status, cache, body) = post_body(&client, "other=1".into()).await;
    assert_refused(status, &cache, &body, "no logout_token");
    let twice = format!("logout_token={token}&logout_token={token}");
    let (status, cache, body) = post_body(&client, twice).await;
    assert_refused(status, &cache, &body, "appears more than once");
    let json = client
        .post("/backchannel_logout")
        .header(ContentType::JSON)
        .body(json!({ "logout_token": token }).to_string())
        .dispatch()
        .await;
    let cache = json
        .headers()
        .get_one("Cache-Control")
        .unwrap_or_default()
        .to_owned();
    let status = json.status();
    let body = json.into_string().await.unwrap();
    assert_refused(
        status,
        &cache,
        &body,
        "not application/x-www-form-urlencoded",
    );
    assert!(is_logged_in(&client).await);
}

#[rocket::async_test]
async fn b22_an_encrypted_token_is_refused() {
    let (provider, client, _) = session().await;
    // Without ID-token encryption configured (tests/encryption.rs has the tokens encrypted
    // as configured, and those encrypted otherwise).
    let encrypted = "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d";
    let because = "it is encrypted, and no provider has id_token_encrypted_response_alg";
    refused(&provider, &client, encrypted, because).await;
}

#[rocket::async_test]
async fn b23_a_huge_body_is_refused() {
    let (_, client, _) = session().await;
    let body = format!("logout_token={}", "a".repeat(1 << 20));
    let (status, cache, body) = post_body(&client, body).await;
    assert_refused(status, &cache, &body, "too large");
    assert!(is_logged_in(&client).await);
}

/// The front-channel logout page for `query`: status, and its headers.
async fn frontchannel(client: &Client, query: &str) -> (Status, String, String) {
    let response = client
        .get(format!("/frontchannel_logout?{query}"))
        .header(Header::new("Sec-Fetch-Dest", "iframe"))
        .dispatch()
        .await;
    let header = |name: &str| {
        response
            .headers()
            .get_one(name)
            .unwrap_or_default()
            .to_owned()
    };
    let csp = header("Content-Security-Policy");
    // Browsers ignore X-Frame-Options (Rocket's Shield adds SAMEORIGIN) when the CSP has
    // `frame-ancestors`; the CSP decides who may frame the page.
    assert!(csp.contains("frame-ancestors "), "{csp}");
    assert_eq!(header("Cache-Control"), "no-store");
    (response.status(), csp, header("Content-Type"))
}

fn query(iss: &str, sid: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("iss", iss)
        .append_pair("sid", sid)
        .finish()
}

#[rocket::async_test]
async fn f1_front_channel_logout_with_iss_and_sid_ends_the_session() {
    let (provider, client, claims) = session().await;
    let sid = claims["sid"].as_str().unwrap();
    let (status, csp, _) = frontchannel(&client, &query(provider.issuer(), sid)).await;
    assert_eq!(status, Status::Ok);
    // Only the provider may frame it.
    assert!(
        csp.contains(&format!("frame-ancestors {}", provider.issuer())),
        "{csp}"
    );
    assert!(!is_logged_in(&client).await);
}

#[rocket::async_test]
async fn f2_another_issuer_or_sid_is_ignored() {
    let (provider, client, claims) = session().await;
    let sid = claims["sid"].as_str().unwrap();
    assert_eq!(
        frontchannel(&client, &query("https://evil.example", sid))
            .await
            .0,
        Status::Ok
    );
    assert_eq!(
        frontchannel(&client, &query(provider.issuer(), "other"))
            .await
            .0,
        Status::Ok
    );
    assert!(is_logged_in(&client).await);
}

#[rocket::async_test]
async fn f3_f4_one_parameter_is_refused_none_is_ignored() {
    let (provider, client, claims) = session().await;
    let iss =
        url::form_urlencoded::byte_serialize(provider.issuer().as_bytes()).collect::<String>();
    assert_eq!(
        frontchannel(&client, &format!("iss={iss}")).await.0,
        Status::BadRequest
    );
    let sid = claims["sid"].as_str().unwrap();
    assert_eq!(
        frontchannel(&client, &format!("sid={sid}")).await.0,
        Status::BadRequest
    );
    assert_eq!(frontchannel(&client, "").await.0, Status::Ok);
    assert!(is_logged_in(&client).await);
}

rocket_openidconnect::provider!(Second = "second");

#[rocket::get("/second")]
fn second_page(user: rocket_openidconnect::OidcUser<Second>) -> rocket::serde::json::Json<Value> {
    rocket::serde::json::Json(json!({ "id_token": user.claims() }))
}

#[rocket::get("/")]
fn default_page(user: rocket_openidconnect::OidcUser) -> rocket::serde::json::Json<Value> {
    rocket::serde::json::Json(json!({ "id_token": user.claims() }))
}

#[rocket::async_test]
async fn f1_with_two_clients_of_one_issuer_a_front_channel_logout_reaches_the_right_one() {
    // Two providers of the configuration at one issuer: the static client and a registered one.
    let provider = TestProvider::start().await;
    let figment = provider.app_figment().merge((
        "oidc.providers.second",
        json!({
            "issuer": provider.issuer(),
            "registration": { "client_name": "second client" },
            "redirect_path": "/second_callback",
        }),
    ));
    let rocket = rocket::custom(figment)
        .attach(rocket_openidconnect::OpenIdConnect::fairing())
        .mount("/", rocket::routes![default_page, second_page]);
    let port = support::serve_rocket(rocket, 0).await;
    let (first, _) = support::browser_logged_in_at(&provider, port, "/").await;
    let (second, claims) = support::browser_logged_in_at(&provider, port, "/second").await;
    assert_ne!(
        claims["aud"], "test-client",
        "the second client is another client"
    );
    let sid = claims["sid"].as_str().unwrap();
    let url = format!(
        "http://127.0.0.1:{port}/frontchannel_logout?{}",
        query(provider.issuer(), sid)
    );
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
    assert!(support::browser_page_at(&second, port, "/second")
        .await
        .is_none());
    assert!(support::browser_page_at(&first, port, "/").await.is_some());
}
