//! API protection: bearer tokens (local JWT validation and introspection), the session-or-
//! bearer guard, and the client-credentials helper.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rocket::figment::Figment;
use rocket::http::{Accept, Header, Status};
use rocket::local::asynchronous::Client;
use rocket::serde::json::Json;
use rocket::{get, routes};
use rocket_openidconnect::testing::{Signing, TestProvider, TokenEndpoint};
use rocket_openidconnect::{AuthError, ClientCredentialsGrant, OidcAccess, OpenIdConnect};
use serde_json::{json, Map, Value};
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

/// The application's own token for `scope` (`{"token": ...}`), or its error (`{"error": ...,
/// "status": ...}`): always 200, so that a test sees what `ClientCredentialsGrant::token` gave.
#[get("/app_token?<scope>")]
async fn app_token(grant: ClientCredentialsGrant, scope: Option<String>) -> Json<Value> {
    match grant.token(scope.as_deref().unwrap_or_default()).await {
        Ok(token) => Json(json!({
            "token": token.secret(),
            "token_type": token.token_type(),
            "proof": token.dpop_proof("GET", "https://api.example/x", None).ok().flatten(),
        })),
        Err(error) => Json(json!({
            "error": error.error_code(),
            "status": error.status_code(),
        })),
    }
}

/// An application with the `/app_token` route.
async fn token_app(figment: Figment) -> Client {
    let rocket = rocket::custom(figment)
        .attach(OpenIdConnect::fairing())
        .mount("/", routes![app_token]);
    Client::tracked(rocket).await.unwrap()
}

/// What `/app_token` answers for `scope` (spaces sent as they are, percent-encoded).
async fn app_token_for(client: &Client, scope: &str) -> Value {
    let path = format!("/app_token?scope={}", scope.replace(' ', "%20"));
    let response = client.get(path).dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    serde_json::from_str(&response.into_string().await.unwrap()).unwrap()
}

/// The token of an `/app_token` answer (panics on an error).
fn token_of(answer: &Value) -> String {
    answer["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {answer}"))
        .to_owned()
}

/// The provider's introspection of `token` (as its default client).
async fn introspect(provider: &TestProvider, token: &str) -> Value {
    let answer = reqwest::Client::new()
        .post(format!("{}/introspect", provider.issuer()))
        .basic_auth(provider.client_id(), Some(provider.client_secret()))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&answer).unwrap()
}

#[rocket::async_test]
async fn a_failed_client_credentials_grant_is_remembered_for_five_seconds() {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.token_endpoint = TokenEndpoint::Status(503));
    let client = token_app(provider.app_figment()).await;
    let started = Instant::now();
    let failed = app_token_for(&client, "reports").await;
    assert!(failed["error"].is_string(), "{failed}");
    assert_eq!(provider.hits().token, 1);

    // The provider works again at once, but callers get the remembered failure, without a
    // request, for 5 s.
    provider.configure(|b| b.token_endpoint = TokenEndpoint::Normal);
    for _ in 0..20 {
        assert_eq!(app_token_for(&client, "reports").await, failed);
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "too slow to check the remembered failure"
    );
    assert_eq!(provider.hits().token, 1, "one request for 21 calls");

    // Then the next call asks again (the failure is kept until 5 s after it, in whole seconds:
    // more than 4 s after the first call).
    let client_ref = &client;
    let token = support::eventually_async(
        "a new grant once the failure is forgotten",
        Duration::from_secs(10),
        move || async move {
            let answer = app_token_for(client_ref, "reports").await;
            answer["token"].as_str().map(str::to_owned)
        },
    )
    .await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(4),
        "the failure was forgotten after {waited:?}"
    );
    assert!(!token.is_empty());
    assert_eq!(provider.hits().token, 2, "one failed request, one good one");
}

#[rocket::async_test]
async fn a_short_lived_app_token_is_reused_then_renewed_at_half_its_life() {
    // A token is reused until `min(30 s, half its remaining life)` before it expires: one of
    // 10 s for about 5 s. (A plain "30 s before" would never reuse it; no margin would reuse it
    // for the full 10 s.)
    let provider = TestProvider::start().await;
    provider.configure(|b| b.expires_in = Some(10));
    let client = token_app(provider.app_figment()).await;
    let started = Instant::now();
    let first = token_of(&app_token_for(&client, "reports").await);
    let again = token_of(&app_token_for(&client, "reports").await);
    assert_eq!(
        again, first,
        "a token valid for 10 s more is reused at once"
    );
    assert_eq!(provider.hits().token, 1);

    // Renewed at 5 s (6 s if the request crossed a second) after the request: never before 4 s
    // after the first call, and well before it expires.
    let (client_ref, first_ref) = (&client, first.as_str());
    let renewed = support::eventually_async(
        "the app token renewed",
        Duration::from_secs(9),
        move || async move {
            let token = token_of(&app_token_for(client_ref, "reports").await);
            (token != first_ref).then_some(token)
        },
    )
    .await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(4),
        "renewed after {waited:?}: too early"
    );
    assert!(
        waited < Duration::from_secs(9),
        "renewed after {waited:?}: too late, at its expiry"
    );
    assert_eq!(provider.hits().token, 2, "one renewal");
    assert_eq!(introspect(&provider, &renewed).await["active"], true);
}

#[rocket::async_test]
async fn scopes_in_any_order_or_spacing_share_one_app_token() {
    let provider = TestProvider::start().await;
    let client = token_app(provider.app_figment()).await;
    let mut tokens = Vec::new();
    for scope in ["b a", "a  b", "a b", " a b a "] {
        tokens.push(token_of(&app_token_for(&client, scope).await));
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "one token for one set of scopes");
    assert_eq!(provider.hits().token, 1);
    // Asked for with the normalised scope.
    assert_eq!(introspect(&provider, &tokens[0]).await["scope"], "a b");

    // Another set of scopes is another token.
    let other = token_of(&app_token_for(&client, "a").await);
    assert_ne!(other, tokens[0]);
    assert_eq!(provider.hits().token, 2);
    assert_eq!(introspect(&provider, &other).await["scope"], "a");
}

#[rocket::async_test]
async fn a_failed_grant_reaches_every_concurrent_caller_with_one_request() {
    // A slow token endpoint that then refuses the client (a wrong secret): ten calls arrive
    // while the one request is under way, and all get its error.
    let provider = TestProvider::start().await;
    provider.configure(|b| b.token_endpoint = TokenEndpoint::Delay(Duration::from_millis(1500)));
    let figment = provider.app_figment().merge((
        "oidc.providers.default.client_secret",
        "not-the-client-secret",
    ));
    let client = token_app(figment).await;
    let calls = (0..10).map(|_| app_token_for(&client, "reports"));
    let answers = rocket::futures::future::join_all(calls).await;
    for answer in &answers {
        assert!(answer["error"].is_string(), "{answer}");
        assert!(answer.get("token").is_none(), "{answer}");
        assert_eq!(*answer, answers[0]);
    }
    assert_eq!(provider.hits().token, 1, "one request for ten callers");
}

#[rocket::async_test]
async fn an_unknown_key_refetches_the_key_set_at_most_once_per_jwks_refetch_interval() {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.jwt_access_tokens = true);
    let figment = provider
        .app_figment()
        .merge(("oidc.providers.default.jwks_refetch_interval", 2));
    let client = client_with(figment).await;
    let (status, _, body) = api(&client, Some(&provider.issue_access_token("svc", "api"))).await;
    assert_eq!(status, Status::Ok, "{body}");
    assert_eq!(provider.hits().jwks, 1);

    // Tokens naming a key the provider does not have: the first refetches the key set at once
    // (there may be a new key), the next one within the interval does not.
    provider.configure(|b| b.signing = Signing::Kid("unknown".into()));
    let unknown = provider.issue_access_token("svc", "api");
    let started = Instant::now();
    assert_eq!(api(&client, Some(&unknown)).await.0, Status::Unauthorized);
    assert_eq!(provider.hits().jwks, 2, "the first unknown key refetches");
    assert_eq!(api(&client, Some(&unknown)).await.0, Status::Unauthorized);
    assert_eq!(provider.hits().jwks, 2, "within the interval: no refetch");

    // Once the 2 s have passed (not the default 30 s), the next one refetches again.
    let (client_ref, token_ref, provider_ref) = (&client, unknown.as_str(), &provider);
    support::eventually_async(
        "a key-set refetch once the interval has passed",
        Duration::from_secs(10),
        move || async move {
            assert_eq!(
                api(client_ref, Some(token_ref)).await.0,
                Status::Unauthorized
            );
            (provider_ref.hits().jwks >= 3).then_some(())
        },
    )
    .await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2),
        "refetched after {waited:?}"
    );
    assert_eq!(provider.hits().jwks, 3, "one refetch per interval");
}

/// With the provider's `dpop` on, the client credentials grant is made with a proof of the
/// application's DPoP key: the token comes back bound to it (the provider's introspection
/// names the key's thumbprint, the same for every token of the provider); a provider that
/// ignores the proof gives a Bearer token, used as one.
#[rocket::async_test]
async fn app_tokens_are_bound_to_the_applications_dpop_key_when_dpop_is_on() {
    let provider = TestProvider::start().await;
    let client = token_app(
        provider
            .app_figment()
            .merge(("oidc.providers.default.dpop", true)),
    )
    .await;
    let answer = app_token_for(&client, "reports").await;
    assert_eq!(answer["token_type"], "DPoP", "{answer}");
    let proof = answer["proof"].as_str().expect("a proof for a bound token");
    let jwk = proof_key(proof);
    let other = app_token_for(&client, "inventory").await;
    let other_proof = other["proof"].as_str().expect("a proof");
    assert_eq!(proof_key(other_proof), jwk, "one key per provider");
    let thumbprint = introspect(&provider, &token_of(&answer)).await["cnf"]["jkt"].clone();
    assert_eq!(
        thumbprint.as_str(),
        Some(thumbprint_of(&jwk).as_str()),
        "the token is bound to the key the app's proofs are made with"
    );
    assert_eq!(
        introspect(&provider, &token_of(&other)).await["cnf"]["jkt"],
        thumbprint
    );

    // A provider that ignores proofs: a Bearer token (and a warning in the log).
    provider.configure(|b| b.dpop_binding = false);
    let bearer = app_token_for(&client, "audit").await;
    assert_eq!(bearer["token_type"], "Bearer", "{bearer}");
    assert!(bearer["proof"].is_null());
    assert!(introspect(&provider, &token_of(&bearer)).await["cnf"].is_null());

    // Without dpop: Bearer, no proof sent.
    let plain = token_app(provider.app_figment()).await;
    provider.configure(|b| b.dpop_binding = true);
    let answer = app_token_for(&plain, "reports").await;
    assert_eq!(answer["token_type"], "Bearer", "{answer}");
    assert!(introspect(&provider, &token_of(&answer)).await["cnf"].is_null());
}

/// The public key in a DPoP proof's header.
fn proof_key(proof: &str) -> Value {
    use base64::Engine;
    let header = proof.split('.').next().unwrap_or_default();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("a base64url header");
    serde_json::from_slice::<Value>(&header).expect("a JSON header")["jwk"].clone()
}

/// The RFC 7638 thumbprint of an EC or OKP public key.
fn thumbprint_of(jwk: &Value) -> String {
    use base64::Engine;
    use sha2::Digest;
    let members = match jwk["kty"].as_str() {
        Some("EC") => json!({"crv": jwk["crv"], "kty": "EC", "x": jwk["x"], "y": jwk["y"]}),
        _ => json!({"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}),
    };
    let digest = sha2::Sha256::digest(members.to_string().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}
