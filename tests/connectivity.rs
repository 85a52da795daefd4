//! Real providers in real networks, what the in-process provider can show: `id_token_hint` on
//! silent re-authentication (for providers that require it) and on a new login of a user who
//! has a session; multi-tenant issuers; the background refresh of the discovery document; and
//! the launch errors of the TLS and proxy settings. (TLS itself: `tests/tls.rs`.)

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rocket::http::{Accept, Status};
use rocket::local::asynchronous::Client;
use rocket_openidconnect::testing::{IssParameter, TestProvider};
use serde_json::{json, Map, Value};
use support::{client_with, json_page};

async fn start() -> TestProvider {
    support::logs::capture();
    TestProvider::start().await
}

fn records_with(needle: &str) -> usize {
    support::logs::count(needle)
}

/// Polls `probe` every 50 ms until it is true; fails after 20 s.
async fn eventually(what: &str, mut probe: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !probe().await {
        assert!(Instant::now() < deadline, "not within 20 s: {what}");
        rocket::tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn app(provider: &TestProvider, extra: &[(&str, Value)]) -> Client {
    let mut figment = provider.app_figment();
    for (key, value) in extra {
        figment = figment.merge((*key, value.clone()));
    }
    client_with(figment).await
}

fn param(params: &[(String, String)], name: &str) -> Option<String> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

#[rocket::async_test]
async fn silent_reauthentication_sends_the_sessions_id_token_as_hint() {
    let provider = start().await;
    // Like providers that refuse `prompt=none` without `id_token_hint`.
    provider.configure(|b| b.require_id_token_hint = true);
    let client = app(
        &provider,
        &[("oidc.providers.default.session_refresh_interval", 1.into())],
    )
    .await;
    assert_eq!(provider.login(&client, "/").await.status, Status::SeeOther);
    let (_, before) = json_page(&client, "/", Accept::JSON).await;
    rocket::tokio::time::sleep(Duration::from_millis(3_200)).await; // the minimum gap
    let navigation = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(navigation.status(), Status::SeeOther);
    let silent = navigation.headers().get_one("Location").unwrap().to_owned();
    assert!(silent.contains("prompt=none"), "{silent}");
    let done = provider
        .deliver(&client, &provider.authorize(&silent).await)
        .await;
    assert_eq!(done.status, Status::SeeOther, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/"), "no interactive login");
    let request = provider.last_authorization_request();
    let hint = param(&request, "id_token_hint").expect("an id_token_hint");
    let (_, after) = json_page(&client, "/", Accept::JSON).await;
    assert_eq!(after["id_token"]["sub"], before["id_token"]["sub"]);
    assert_ne!(
        after["access_token"], before["access_token"],
        "a new session"
    );
    // The hint was the session's own ID token.
    let payload = hint.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["nonce"], before["id_token"]["nonce"]);
}

#[rocket::async_test]
async fn a_provider_requiring_the_hint_refuses_prompt_none_without_it() {
    // The provider's own check, on which the test above relies.
    let provider = start().await;
    provider.configure(|b| b.require_id_token_hint = true);
    let client = app(&provider, &[]).await;
    let start = client.get("/").header(Accept::HTML).dispatch().await;
    let authorize = start.headers().get_one("Location").unwrap().to_owned();
    let callback = provider
        .authorize(&format!("{authorize}&prompt=none"))
        .await;
    assert!(callback.contains("error=invalid_request"), "{callback}");
}

#[rocket::async_test]
async fn a_new_login_of_a_logged_in_user_carries_the_hint_and_login_hint_passes() {
    let provider = start().await;
    let client = app(
        &provider,
        &[
            ("oidc.login_path", "/login".into()),
            ("oidc.providers.default.login_params", json!(["login_hint"])),
        ],
    )
    .await;
    // Logged out: no id_token_hint, the login_hint passes.
    let login = client
        .get("/login?login_hint=ada%40example.com")
        .dispatch()
        .await;
    assert_eq!(login.status(), Status::SeeOther);
    let authorize = login.headers().get_one("Location").unwrap().to_owned();
    let params: Vec<(String, String)> = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(
        param(&params, "login_hint").as_deref(),
        Some("ada@example.com")
    );
    assert!(param(&params, "id_token_hint").is_none());
    // Logged in: the session's ID token is the hint.
    assert_eq!(provider.login(&client, "/").await.status, Status::SeeOther);
    let again = client.get("/login").dispatch().await;
    let authorize = again.headers().get_one("Location").unwrap().to_owned();
    let params: Vec<(String, String)> = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let hint = param(&params, "id_token_hint").expect("an id_token_hint");
    assert_eq!(hint.split('.').count(), 3, "a JWT");
}

/// A multi-tenant provider: its discovery document names `{issuer}/{tenantid}`, and its ID
/// tokens carry `tid` and `iss` as set here.
fn multi_tenant(provider: &TestProvider, tid: &str, iss_tenant: &str) {
    let issuer = provider.issuer().to_owned();
    let template = format!("{issuer}/{{tenantid}}");
    let iss = format!("{issuer}/{iss_tenant}");
    let tid = tid.to_owned();
    provider.configure(move |b| {
        b.discovery_document = Some(Arc::new(move |document: &mut Value| {
            document["issuer"] = template.clone().into();
        }));
        let claims_iss = iss.clone();
        b.id_token_claims = Some(Arc::new(move |claims: &mut Map<String, Value>| {
            claims.insert("tid".into(), tid.clone().into());
            claims.insert("iss".into(), claims_iss.clone().into());
        }));
        b.iss_parameter = IssParameter::Value(iss.clone());
    });
}

#[rocket::async_test]
async fn a_multi_tenant_issuer_admits_an_allowed_tenant() {
    let provider = start().await;
    multi_tenant(&provider, "t-1", "t-1");
    let client = app(
        &provider,
        &[("oidc.providers.default.allowed_tenants", json!(["t-1"]))],
    )
    .await;
    let login = provider.login(&client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    let (status, page) = json_page(&client, "/", Accept::JSON).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(page["id_token"]["tid"], "t-1");
}

#[rocket::async_test]
async fn a_multi_tenant_issuer_admits_a_jarm_response_of_an_allowed_tenant() {
    // A JARM response carries the tenant's `iss` but no `tid`: judged as an `iss` parameter.
    let provider = start().await;
    multi_tenant(&provider, "t-1", "t-1");
    let client = app(
        &provider,
        &[
            ("oidc.providers.default.allowed_tenants", json!(["t-1"])),
            ("oidc.providers.default.response_mode", json!("query.jwt")),
        ],
    )
    .await;
    let login = provider.login(&client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    // Another tenant's response is refused as its ID token would be.
    let provider = start().await;
    multi_tenant(&provider, "t-2", "t-2");
    let client = app(
        &provider,
        &[
            ("oidc.providers.default.allowed_tenants", json!(["t-1"])),
            ("oidc.providers.default.response_mode", json!("query.jwt")),
        ],
    )
    .await;
    let login = provider.login(&client, "/").await;
    assert_eq!(login.status, Status::BadRequest, "{}", login.body);
    assert!(!login.session_created);
}

#[rocket::async_test]
async fn a_multi_tenant_issuer_refuses_another_tenant() {
    let provider = start().await;
    multi_tenant(&provider, "t-2", "t-2");
    let client = app(
        &provider,
        &[("oidc.providers.default.allowed_tenants", json!(["t-1"]))],
    )
    .await;
    let login = provider.login(&client, "/").await;
    support::assert_rejected(&login, 400, &provider);
}

#[rocket::async_test]
async fn a_multi_tenant_token_whose_iss_is_another_tenants_is_refused() {
    let provider = start().await;
    // tid says t-1, iss says t-2 (both allowed): the issuer must be the token's own tenant's.
    multi_tenant(&provider, "t-1", "t-2");
    provider.configure(|b| b.iss_parameter = IssParameter::Omit);
    provider.configure(|b| b.advertise_iss_parameter = false);
    let client = app(
        &provider,
        &[("oidc.providers.default.allowed_tenants", json!(["*"]))],
    )
    .await;
    let login = provider.login(&client, "/").await;
    support::assert_rejected(&login, 400, &provider);
    assert!(login.body.contains("issuer"), "{}", login.body);
}

#[rocket::async_test]
async fn without_allowed_tenants_an_issuer_template_is_a_mismatch() {
    let provider = start().await;
    multi_tenant(&provider, "t-1", "t-1");
    let client = app(&provider, &[]).await;
    let page = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(page.status(), Status::BadGateway);
}

#[rocket::async_test]
async fn a_moved_jwks_uri_takes_effect_without_a_restart() {
    let provider = start().await;
    let client = app(
        &provider,
        &[("oidc.providers.default.metadata_refresh_interval", 1.into())],
    )
    .await;
    assert_eq!(provider.login(&client, "/").await.status, Status::SeeOther);
    // New keys, published only at the new jwks_uri; the old one now serves none.
    provider.rotate_keys().await;
    let moved = format!("{}/jwks2", provider.issuer());
    provider.configure(move |b| {
        b.jwks_document = Some(Arc::new(|document: &mut Value| {
            document["keys"] = json!([]);
        }));
        b.discovery_document = Some(Arc::new(move |document: &mut Value| {
            document["jwks_uri"] = moved.clone().into();
        }));
    });
    eventually("a login with the moved key set", async || {
        client.get("/logout").dispatch().await;
        provider.login(&client, "/").await.status == Status::SeeOther
    })
    .await;
    assert!(records_with("its metadata changed; in use now") >= 1);
}

#[rocket::async_test]
async fn a_failed_metadata_refresh_keeps_the_metadata_and_is_logged_once() {
    let provider = start().await;
    let client = app(
        &provider,
        &[("oidc.providers.default.metadata_refresh_interval", 1.into())],
    )
    .await;
    assert_eq!(provider.login(&client, "/").await.status, Status::SeeOther);
    let before = records_with("the metadata refresh failed");
    let discoveries = provider.hits().discovery;
    provider.configure(|b| {
        b.discovery_document = Some(Arc::new(|document: &mut Value| {
            document.as_object_mut().unwrap().remove("issuer");
        }))
    });
    // Three refreshes fail...
    eventually("three failed refreshes", async || {
        provider.hits().discovery >= discoveries + 3
    })
    .await;
    // ...logins keep working with the metadata in use, and the failure was logged once.
    client.get("/logout").dispatch().await;
    assert_eq!(provider.login(&client, "/").await.status, Status::SeeOther);
    assert_eq!(records_with("the metadata refresh failed") - before, 1);
}

/// The launch with `extra` settings fails, and a log line holds `needle`.
async fn launch_fails(provider: &TestProvider, extra: &[(&str, Value)], needle: &str) {
    let mut figment = provider.app_figment();
    for (key, value) in extra {
        figment = figment.merge((*key, value.clone()));
    }
    support::launch_fails(figment, needle).await;
}

#[rocket::async_test]
async fn unreadable_or_invalid_tls_files_and_proxies_abort_the_launch_naming_key_and_file() {
    let provider = start().await;
    let dir = std::env::temp_dir().join(format!("roidc-conn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let not_pem = dir.join("not-a-certificate.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let not_pem = not_pem.to_string_lossy().into_owned();
    launch_fails(
        &provider,
        &[("oidc.ca_certificates", json!(["/nonexistent/ca.pem"]))],
        "oidc.ca_certificates: cannot read `/nonexistent/ca.pem`",
    )
    .await;
    launch_fails(
        &provider,
        &[("oidc.providers.default.ca_certificates", json!([not_pem]))],
        &format!("oidc.providers.default.ca_certificates: `{not_pem}` holds no PEM certificate"),
    )
    .await;
    launch_fails(
        &provider,
        &[
            (
                "oidc.providers.default.tls_client_certificate",
                not_pem.clone().into(),
            ),
            (
                "oidc.providers.default.tls_client_key",
                not_pem.clone().into(),
            ),
        ],
        "oidc.providers.default.tls_client_certificate, oidc.providers.default.tls_client_key",
    )
    .await;
    launch_fails(
        &provider,
        &[(
            "oidc.providers.default.tls_client_certificate",
            not_pem.clone().into(),
        )],
        "oidc.providers.default.tls_client_key (the key of",
    )
    .await;
    launch_fails(
        &provider,
        &[("oidc.http_proxy", "socks5://proxy:1080".into())],
        "oidc.http_proxy: must be an http:// or https:// proxy URL",
    )
    .await;
    launch_fails(
        &provider,
        &[(
            "oidc.providers.default.allowed_tenants",
            json!(["*", "t-1"]),
        )],
        "oidc.providers.default.allowed_tenants: `*` (any tenant) stands alone",
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}
