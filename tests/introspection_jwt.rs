//! JWT introspection responses (RFC 9701) in the API guard, against the in-process provider:
//! with `introspection_response = "jwt"` a signed answer is taken, and every hostile answer
//! (plain JSON, a broken signature, `alg: none`, another issuer or audience, no or a future
//! `iat`, another `typ`, no `token_introspection`) is refused: no access, nothing cached as
//! valid. The real provider's signed answers are in tests/real_provider.rs.

mod support;

use std::sync::Arc;

use rocket::http::{Header, Status};
use rocket::local::asynchronous::Client;
use rocket_openidconnect::testing::{Signing, TestProvider};
use serde_json::{json, Map, Value};

async fn api(client: &Client, token: &str) -> (Status, String) {
    let response = client
        .get("/api")
        .header(Header::new("Authorization", format!("Bearer {token}")))
        .dispatch()
        .await;
    let status = response.status();
    (status, response.into_string().await.unwrap_or_default())
}

async fn app(provider: &TestProvider) -> Client {
    support::client_with(
        provider
            .app_figment()
            .merge(("oidc.providers.default.introspection_response", "jwt")),
    )
    .await
}

#[rocket::async_test]
async fn a_signed_introspection_answer_is_verified_and_taken() {
    support::logs::capture();
    let provider = TestProvider::start().await;
    provider.configure(|b| b.introspection_jwt = true);
    let client = app(&provider).await;
    let token = provider.issue_access_token("svc-jwt", "api");
    let (status, body) = api(&client, &token).await;
    assert_eq!(status, Status::Ok, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["sub"], "svc-jwt");
    // Inactive: refused as with JSON answers.
    let (status, _) = api(&client, "not-a-token-the-provider-issued").await;
    assert_eq!(status, Status::Unauthorized);
}

type Tweak = Arc<dyn Fn(&mut Map<String, Value>) + Send + Sync>;

#[rocket::async_test]
async fn hostile_introspection_answers_are_refused() {
    support::logs::capture();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // (row, signing, tweak, signed at all, the refusal's reason in the log)
    let rows: Vec<(&str, Signing, Option<Tweak>, bool, &str)> = vec![
        ("plain JSON", Signing::Valid, None, false, "is not signed"),
        (
            "broken signature",
            Signing::BadSignature,
            None,
            true,
            "does not verify",
        ),
        ("alg none", Signing::None, None, true, "does not verify"),
        (
            "HS256 with the client secret",
            Signing::Hs256(String::new()),
            None,
            true,
            "does not verify",
        ),
        (
            "another issuer",
            Signing::Valid,
            Some(Arc::new(|c| {
                c.insert("iss".into(), "https://evil.example".into());
            })),
            true,
            "from another issuer",
        ),
        (
            "another audience",
            Signing::Valid,
            Some(Arc::new(|c| {
                c.insert("aud".into(), "another-client".into());
            })),
            true,
            "for another client",
        ),
        (
            "no iat",
            Signing::Valid,
            Some(Arc::new(|c| {
                c.remove("iat");
            })),
            true,
            "has no iat",
        ),
        (
            "iat an hour ahead",
            Signing::Valid,
            Some(Arc::new(move |c| {
                c.insert("iat".into(), (now + 3600).into());
            })),
            true,
            "issued in the future",
        ),
        (
            "another typ",
            Signing::Valid,
            Some(Arc::new(|c| {
                c["header"]["typ"] = json!("JWT");
            })),
            true,
            "typ is not token-introspection+jwt",
        ),
        (
            "no token_introspection",
            Signing::Valid,
            Some(Arc::new(|c| {
                c.remove("token_introspection");
                c.insert("active".into(), true.into());
            })),
            true,
            "no token_introspection object",
        ),
    ];
    for (row, signing, tweak, jwt, reason) in rows {
        let before = support::logs::count(reason);
        let provider = TestProvider::start().await;
        let secret = provider.client_secret().to_owned();
        let signing = match signing {
            Signing::Hs256(_) => Signing::Hs256(secret),
            other => other,
        };
        provider.configure(|b| {
            b.introspection_jwt = jwt;
            b.introspection_jwt_claims = tweak;
            b.signing = signing;
        });
        let client = app(&provider).await;
        let token = provider.issue_access_token("svc-hostile", "api");
        let (status, body) = api(&client, &token).await;
        assert!(
            status == Status::Unauthorized
                || status == Status::BadGateway
                || status == Status::ServiceUnavailable,
            "{row}: {status} {body}"
        );
        assert!(!body.contains("svc-hostile"), "{row}: {body}");
        assert!(!body.contains(&token), "{row}: the token echoed");
        assert_eq!(support::logs::count(&token), 0, "{row}: the token logged");
        assert!(
            support::logs::count(reason) > before,
            "{row}: no log line with `{reason}`: {:?}",
            support::logs::records()
        );
        // Refused again (nothing valid was cached).
        assert_ne!(api(&client, &token).await.0, Status::Ok, "{row}");
    }
}

#[rocket::async_test]
async fn a_wrong_introspection_setting_stops_the_launch_naming_the_key() {
    support::logs::capture();
    let provider = TestProvider::start().await;
    let key = "oidc.providers.default.introspection_signed_response_alg";
    for (response, alg, needle) in [
        ("json", "RS256", "needs introspection_response = \"jwt\""),
        (
            "jwt",
            "HS256",
            "not a supported asymmetric signature algorithm",
        ),
        ("jwt", "none", "not a supported"),
    ] {
        let figment = provider
            .app_figment()
            .merge(("oidc.providers.default.introspection_response", response))
            .merge((key, alg));
        let rocket = rocket::custom(figment).attach(rocket_openidconnect::OpenIdConnect::fairing());
        refused(rocket).await;
        let line = format!("{key}: ");
        assert!(
            support::logs::records()
                .iter()
                .any(|l| l.contains(&line) && l.contains(needle)),
            "{response} {alg}: {:#?}",
            support::logs::records()
        );
    }
    // An unknown answer format: named too.
    let figment = provider
        .app_figment()
        .merge(("oidc.providers.default.introspection_response", "xml"));
    let rocket = rocket::custom(figment).attach(rocket_openidconnect::OpenIdConnect::fairing());
    refused(rocket).await;
    assert!(support::logs::count("introspection_response") >= 1);
}

/// Asserts that `rocket` does not ignite because a fairing failed.
async fn refused(rocket: rocket::Rocket<rocket::Build>) {
    let Err(error) = rocket.ignite().await else {
        panic!("the launch succeeded");
    };
    assert!(matches!(
        error.kind(),
        rocket::error::ErrorKind::FailedFairings(_)
    ));
}
