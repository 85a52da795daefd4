//! API protection: bearer tokens (local JWT validation and introspection), the session-or-
//! bearer guard, and the client-credentials helper.

mod support;

use std::sync::Arc;

use rocket::http::{Accept, Header, Status};
use rocket::local::asynchronous::Client;
use rocket::{get, routes};
use rocket_openidconnect::testing::{Signing, TestProvider};
use rocket_openidconnect::{AuthError, ClientCredentialsGrant, OidcAccess, OpenIdConnect};
use serde_json::{Map, Value};
use support::{client, client_with};

async fn api(client: &Client, token: Option<&str>) -> (Status, Option<String>, Value) {
    let mut request = client.get("/api");
    if let Some(token) = token {
        request = request.header(Header::new("Authorization", format!("Bearer {token}")));
    }
    let response = request.dispatch().await;
    let status = response.status();
    let challenge = response
        .headers()
        .get_one("WWW-Authenticate")
        .map(str::to_owned);
    let body = response.into_string().await.unwrap_or_default();
    (
        status,
        challenge,
        serde_json::from_str(&body).unwrap_or(Value::Null),
    )
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[rocket::async_test]
async fn a_jwt_access_token_is_validated_locally() {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.jwt_access_tokens = true);
    let client = client(&provider).await;
    let token = provider.issue_access_token("svc-1", "api read");
    let before = provider.hits();
    let (status, _, body) = api(&client, Some(&token)).await;
    assert_eq!(status, Status::Ok, "{body}");
    assert_eq!(body["sub"], "svc-1");
    assert_eq!(body["client_id"], provider.client_id());
    assert_eq!(body["scopes"], serde_json::json!(["api", "read"]));
    assert_eq!(
        provider.hits().introspection,
        before.introspection,
        "no provider call"
    );

    // Without the scope: 403 naming it.
    let (status, challenge, _) =
        api(&client, Some(&provider.issue_access_token("svc-1", "read"))).await;
    assert_eq!(status, Status::Forbidden);
    assert_eq!(
        challenge.as_deref(),
        Some(r#"Bearer realm="api", error="insufficient_scope", scope="api""#)
    );
}

#[rocket::async_test]
async fn missing_and_malformed_headers_get_401_never_a_redirect() {
    let provider = TestProvider::start().await;
    let client = client(&provider).await;
    let (status, challenge, _) = api(&client, None).await;
    assert_eq!(status, Status::Unauthorized);
    assert_eq!(challenge.as_deref(), Some(r#"Bearer realm="api""#));
    // Another scheme is no bearer token: 401 with a plain challenge.
    let basic = client
        .get("/api")
        .header(Accept::HTML)
        .header(Header::new("Authorization", "Basic abc"))
        .dispatch()
        .await;
    assert_eq!(basic.status(), Status::Unauthorized);
    assert_eq!(
        basic.headers().get_one("WWW-Authenticate"),
        Some(r#"Bearer realm="api""#)
    );
    // A malformed bearer header: 400 invalid_request (RFC 6750 3.1), never a redirect.
    for header in ["Bearer", "Bearer a b", "Bearer <script>", "bearer"] {
        let response = client
            .get("/api")
            .header(Accept::HTML)
            .header(Header::new("Authorization", header))
            .dispatch()
            .await;
        assert_eq!(response.status(), Status::BadRequest, "{header}");
        let challenge = response
            .headers()
            .get_one("WWW-Authenticate")
            .unwrap_or_default()
            .to_owned();
        assert!(
            challenge.contains("invalid_request"),
            "{header}: {challenge}"
        );
    }
}

async fn refused_jwt(change: impl FnOnce(&TestProvider), extra: &[(&str, Value)]) {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.jwt_access_tokens = true);
    change(&provider);
    let mut figment = provider.app_figment();
    for (key, value) in extra {
        figment = figment.merge((*key, value.clone()));
    }
    let client = client_with(figment).await;
    let token = provider.issue_access_token("svc-1", "api");
    let (status, challenge, body) = api(&client, Some(&token)).await;
    assert_eq!(status, Status::Unauthorized, "{body}");
    assert!(challenge.unwrap().contains(r#"error="invalid_token""#));
    assert!(!body.to_string().contains(&token), "the token is echoed");
}

fn tweak(
    change: impl Fn(&mut Map<String, Value>) + Send + Sync + 'static,
) -> impl FnOnce(&TestProvider) {
    move |p: &TestProvider| p.configure(|b| b.access_token_claims = Some(Arc::new(change)))
}

#[rocket::async_test]
async fn expired_tokens_are_refused() {
    refused_jwt(
        tweak(|c| {
            c.insert("exp".into(), (now() - 3600).into());
        }),
        &[],
    )
    .await;
}

#[rocket::async_test]
async fn tokens_for_another_audience_are_refused() {
    refused_jwt(
        tweak(|c| {
            c.insert("aud".into(), "another-api".into());
        }),
        &[],
    )
    .await;
}

#[rocket::async_test]
async fn tokens_of_another_issuer_are_refused() {
    refused_jwt(
        tweak(|c| {
            c.insert("iss".into(), "https://evil.example".into());
        }),
        &[],
    )
    .await;
}

#[rocket::async_test]
async fn badly_signed_tokens_are_refused() {
    refused_jwt(|p| p.configure(|b| b.signing = Signing::BadSignature), &[]).await;
}

#[rocket::async_test]
async fn unsigned_tokens_are_refused() {
    refused_jwt(|p| p.configure(|b| b.signing = Signing::None), &[]).await;
}

#[rocket::async_test]
async fn an_untyped_token_is_refused_when_at_jwt_is_required() {
    let required = [(
        "oidc.providers.default.require_access_token_typ",
        Value::Bool(true),
    )];
    refused_jwt(
        |p| p.configure(|b| b.access_token_typ = "JWT".into()),
        &required,
    )
    .await;
}

#[rocket::async_test]
async fn the_configured_audience_is_the_one_accepted() {
    let provider = TestProvider::start().await;
    provider.configure(|b| {
        b.jwt_access_tokens = true;
        b.access_token_audience = Some("https://api.example".into());
    });
    let figment = provider
        .app_figment()
        .merge(("oidc.providers.default.audiences", ["https://api.example"]));
    let client = client_with(figment).await;
    let (status, _, body) = api(&client, Some(&provider.issue_access_token("s", "api"))).await;
    assert_eq!(status, Status::Ok, "{body}");
}

#[rocket::async_test]
async fn opaque_tokens_are_introspected_once_and_cached() {
    let provider = TestProvider::start().await;
    let client = client(&provider).await;
    let token = provider.issue_access_token("svc-2", "api");
    for _ in 0..1000 {
        let (status, _, _) = api(&client, Some(&token)).await;
        assert_eq!(status, Status::Ok);
    }
    assert_eq!(provider.hits().introspection, 1);

    // An unknown (inactive) token is refused.
    let (status, challenge, _) = api(&client, Some("not-a-token-the-provider-issued")).await;
    assert_eq!(status, Status::Unauthorized);
    assert!(challenge.unwrap().contains("invalid_token"));
}

#[rocket::async_test]
async fn a_revoked_token_is_refused_once_its_cache_entry_expires() {
    // Two applications, one token (valid for 300 s at the provider): one caches introspection
    // results for 300 s, the other for 1 s. Cache entries expire at whole Unix seconds, so
    // "still cached" is checked where the entry cannot expire during the test, and the expiry
    // where it must, by waiting for it.
    let provider = TestProvider::start().await;
    let cached_for = |seconds: u64| {
        provider.app_figment().merge((
            "oidc.providers.default.introspection_cache_max_age",
            seconds,
        ))
    };
    let long = client_with(cached_for(300)).await;
    let short = client_with(cached_for(1)).await;
    let token = provider.issue_access_token("svc-3", "api");
    assert_eq!(api(&long, Some(&token)).await.0, Status::Ok);
    assert_eq!(api(&short, Some(&token)).await.0, Status::Ok);
    assert_eq!(provider.hits().introspection, 2);
    provider.revoke_access_token(&token);

    // The long-lived entry: still cached, the provider is not asked.
    assert_eq!(api(&long, Some(&token)).await.0, Status::Ok, "still cached");
    assert_eq!(provider.hits().introspection, 2, "still cached");

    // The 1 s entry expires (within 2 s: whole seconds; long before the token's own expiry,
    // 300 s), the token is introspected anew, and refused.
    let (short, token_ref) = (&short, token.as_str());
    support::eventually_async(
        "the revoked token refused once its 1 s cache entry expired",
        support::PATIENCE,
        move || async move {
            (api(short, Some(token_ref)).await.0 == Status::Unauthorized).then_some(())
        },
    )
    .await;
    assert_eq!(
        provider.hits().introspection,
        3,
        "one new introspection, once the entry expired"
    );
    // The long-lived entry is still used.
    assert_eq!(api(&long, Some(&token)).await.0, Status::Ok);
    assert_eq!(provider.hits().introspection, 3);
}

#[rocket::async_test]
async fn an_introspection_outage_is_503_not_500() {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.introspection_down = true);
    let client = client(&provider).await;
    let (status, _, _) = api(&client, Some(&provider.issue_access_token("s", "api"))).await;
    assert_eq!(status, Status::ServiceUnavailable);
}

#[get("/data")]
fn data(access: OidcAccess) -> String {
    match access {
        OidcAccess::Session(user) => format!("session:{}", user.claims().subject()),
        OidcAccess::Bearer(token) => format!("bearer:{}", token.subject().unwrap_or_default()),
    }
}

#[get("/report")]
async fn report(grant: ClientCredentialsGrant) -> Result<String, AuthError> {
    Ok(grant.token("reports").await?.secret().clone())
}

#[rocket::async_test]
async fn a_session_or_a_bearer_token_opens_the_same_route() {
    let provider = TestProvider::start().await;
    provider.set_user("alice", serde_json::json!({}));
    let rocket = rocket::custom(provider.app_figment())
        .attach(OpenIdConnect::fairing())
        .mount("/", routes![data]);
    let client = Client::tracked(rocket).await.unwrap();
    let token = provider.issue_access_token("svc-4", "api");
    let by_token = client
        .get("/data")
        .header(Header::new("Authorization", format!("Bearer {token}")))
        .dispatch()
        .await;
    assert_eq!(by_token.into_string().await.unwrap(), "bearer:svc-4");
    let bad = client
        .get("/data")
        .header(Accept::HTML)
        .header(Header::new("Authorization", "Bearer nope"))
        .dispatch()
        .await;
    assert_eq!(
        bad.status(),
        Status::Unauthorized,
        "a bad token never falls back to a login"
    );
    let login = provider.login(&client, "/data").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    let by_session = client.get("/data").dispatch().await;
    assert_eq!(by_session.into_string().await.unwrap(), "session:alice");
}

#[rocket::async_test]
async fn client_credentials_tokens_are_cached_and_fetched_once() {
    let provider = TestProvider::start().await;
    let rocket = rocket::custom(provider.app_figment())
        .attach(OpenIdConnect::fairing())
        .mount("/", routes![report]);
    let client = Client::tracked(rocket).await.unwrap();
    let requests = (0..10).map(|_| client.get("/report").dispatch());
    let mut tokens = Vec::new();
    for response in rocket::futures::future::join_all(requests).await {
        assert_eq!(response.status(), Status::Ok);
        tokens.push(response.into_string().await.unwrap());
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1);
    assert_eq!(provider.hits().token, 1, "one grant for ten requests");
    let again = client
        .get("/report")
        .dispatch()
        .await
        .into_string()
        .await
        .unwrap();
    assert_eq!(again, tokens[0]);
    assert_eq!(provider.hits().token, 1);

    // The token is the application's, with the scope asked for.
    let introspected = reqwest::Client::new()
        .post(format!("{}/introspect", provider.issuer()))
        .basic_auth(provider.client_id(), Some(provider.client_secret()))
        .form(&[("token", again.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let introspected: Value = serde_json::from_str(&introspected).unwrap();
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["scope"], "reports");
    assert_eq!(introspected["sub"], provider.client_id());
}

#[get("/raw_id_token")]
fn raw_id_token(user: rocket_openidconnect::OidcUser) -> String {
    user.id_token().to_owned()
}

#[get("/whoami")]
fn whoami(token: rocket_openidconnect::BearerToken) -> String {
    token.subject().unwrap_or_default().to_owned()
}

#[rocket::async_test]
async fn an_id_token_is_never_taken_for_an_access_token() {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.jwt_access_tokens = true);
    let rocket = rocket::custom(provider.app_figment())
        .attach(OpenIdConnect::fairing())
        .mount("/", routes![raw_id_token, whoami]);
    let client = Client::tracked(rocket).await.unwrap();
    assert_eq!(
        provider.login(&client, "/raw_id_token").await.status,
        Status::SeeOther
    );
    let id_token = client
        .get("/raw_id_token")
        .dispatch()
        .await
        .into_string()
        .await
        .unwrap();
    assert!(id_token.starts_with("eyJ"));
    let response = client
        .get("/whoami")
        .header(Header::new("Authorization", format!("Bearer {id_token}")))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Unauthorized);
    // A real access token of the same provider is fine.
    let token = provider.issue_access_token("svc", "");
    let response = client
        .get("/whoami")
        .header(Header::new("Authorization", format!("Bearer {token}")))
        .dispatch()
        .await;
    assert_eq!(response.into_string().await.unwrap(), "svc");
}

#[rocket::async_test]
async fn sender_constrained_tokens_are_refused() {
    let provider = TestProvider::start().await;
    provider.configure(|b| {
        b.jwt_access_tokens = true;
        b.access_token_claims = Some(Arc::new(|c: &mut Map<String, Value>| {
            c.insert("cnf".into(), serde_json::json!({"jkt": "abc"}));
        }))
    });
    let client = client(&provider).await;
    let token = provider.issue_access_token("s", "api");
    assert_eq!(api(&client, Some(&token)).await.0, Status::Unauthorized);
}
