//! What the hostile-provider matrix (tests/hostile_matrix.rs, one test per row) has no row
//! for: `acr_values` enforcement, and a copied session cookie after logout.

mod support;

use rocket::http::{Accept, Status};
use rocket_openidconnect::testing::TestProvider;
use serde_json::{json, Value};
use support::{assert_rejected, client, client_with};

#[rocket::async_test]
async fn acr_values_require_a_requested_acr() {
    let provider = TestProvider::start().await;
    let figment = provider.app_figment().merge((
        "oidc.providers.default.auth_request_params",
        json!({"acr_values": "mfa"}),
    ));
    let client = client_with(figment).await;
    provider.configure(|b| {
        b.id_token_claims = Some(std::sync::Arc::new(
            |c: &mut serde_json::Map<String, Value>| {
                c.insert("acr".into(), "pwd".into());
            },
        ))
    });
    assert_rejected(&provider.login(&client, "/").await, 400, &provider);
    provider.configure(|b| {
        b.id_token_claims = Some(std::sync::Arc::new(
            |c: &mut serde_json::Map<String, Value>| {
                c.insert("acr".into(), "mfa".into());
            },
        ))
    });
    assert_eq!(provider.login(&client, "/").await.status, Status::SeeOther);
}

#[rocket::async_test]
async fn a_copy_of_the_session_cookie_is_dead_after_logout() {
    let provider = TestProvider::start().await;
    let client = client(&provider).await;
    assert_eq!(provider.login(&client, "/").await.status, Status::SeeOther);
    let copied: Vec<rocket::http::Cookie<'static>> = client
        .cookies()
        .iter()
        .filter(|c| c.name().starts_with("oidc_session."))
        .map(|c| c.clone().into_owned())
        .collect();
    assert!(!copied.is_empty());
    client.get("/logout").dispatch().await;
    let response = client
        .get("/")
        .header(Accept::HTML)
        .cookies(copied)
        .dispatch()
        .await;
    assert_eq!(
        response.status(),
        Status::SeeOther,
        "the copied session is not accepted"
    );
}
