//! Implicit and hybrid flows, and the fragment and form_post response modes, against the
//! in-process test provider: every response type logs in, the relay page is locked down, and
//! every front-channel ID token that is not bound to this login is refused (OIDC Core 3.2.2.11,
//! 3.3.2.12; matrix rows A15, A16, A22, I14-I16, I18, I33, I34, I36).

mod support;

use std::sync::Arc;

use rocket::http::{Accept, SameSite, Status};
use rocket::local::asynchronous::Client;
use rocket_openidconnect::testing::{Behaviour, LoginAttempt, Signing, TestProvider};
use serde_json::{json, Map, Value};
use support::{assert_logged_out, assert_rejected, client_with};

const TYPES: [&str; 6] = [
    "code",
    "id_token",
    "id_token token",
    "code id_token",
    "code token",
    "code id_token token",
];

/// The example app for `provider` with `response_type` and, if given, `response_mode`.
async fn app(provider: &TestProvider, response_type: &str, mode: Option<&str>) -> Client {
    let mut figment = provider
        .app_figment()
        .merge(("oidc.providers.default.response_type", response_type));
    if let Some(mode) = mode {
        figment = figment.merge(("oidc.providers.default.response_mode", mode));
    }
    client_with(figment).await
}

/// Starts a login at `/` and returns the provider's response (see `TestProvider::authorize`).
async fn provider_response(provider: &TestProvider, client: &Client) -> String {
    let start = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(start.status(), Status::SeeOther);
    let authorize = start.headers().get_one("Location").unwrap().to_owned();
    provider.authorize(&authorize).await
}

/// The response's parameters (the fragment, or the form_post body).
fn response_params(response: &str) -> Vec<(String, String)> {
    let encoded = response
        .split_once('#')
        .map(|(_, f)| f)
        .or_else(|| response.split_once('\n').map(|(_, b)| b))
        .expect("a fragment or form_post response");
    url::form_urlencoded::parse(encoded.as_bytes())
        .into_owned()
        .collect()
}

/// The response with `name` replaced by `value` (or removed when `None`).
fn with_param(response: &str, name: &str, value: Option<&str>) -> String {
    let (head, separator) = match response.split_once('#') {
        Some((head, _)) => (head, "#"),
        None => (response.split_once('\n').unwrap().0, "\n"),
    };
    let mut body = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in response_params(response) {
        match (k == name, value) {
            (false, _) => {
                body.append_pair(&k, &v);
            }
            (true, Some(value)) => {
                body.append_pair(&k, value);
            }
            (true, None) => {}
        }
    }
    format!("{head}{separator}{}", body.finish())
}

fn param(response: &str, name: &str) -> Option<String> {
    response_params(response)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn tweak_claims(
    provider: &TestProvider,
    change: impl Fn(&mut Map<String, Value>) + Send + Sync + 'static,
) {
    provider.configure(|b: &mut Behaviour| b.id_token_claims = Some(Arc::new(change)));
}

async fn page(client: &Client, path: &str) -> (Status, Value) {
    support::json_page(client, path, Accept::HTML).await
}

#[rocket::async_test]
async fn every_response_type_logs_in_in_its_default_mode_and_with_form_post() {
    let provider = TestProvider::start().await;
    provider.set_user("alice", json!({"name": "Alice"}));
    for response_type in TYPES {
        for mode in [None, Some("form_post")] {
            let case = format!("{response_type} / {mode:?}");
            let client = app(&provider, response_type, mode).await;
            let response = provider_response(&provider, &client).await;
            match mode {
                Some(_) => assert!(response.starts_with("POST "), "{case}: {response}"),
                None if response_type == "code" => assert!(response.contains("?code="), "{case}"),
                None => assert!(response.contains('#'), "{case}: {response}"),
            }
            let before = provider.hits();
            let login = provider.deliver(&client, &response).await;
            assert_eq!(login.status, Status::SeeOther, "{case}: {}", login.body);
            assert_eq!(login.location.as_deref(), Some("/"), "{case}");
            assert!(login.session_created, "{case}");
            // The code (and only the code) goes to the token endpoint.
            let exchanged = provider.hits().token - before.token;
            assert_eq!(
                exchanged,
                usize::from(response_type.contains("code")),
                "{case}"
            );

            let (status, body) = page(&client, "/").await;
            assert_eq!(status, Status::Ok, "{case}");
            assert_eq!(body["id_token"]["sub"], "alice", "{case}");
            let has_access_token = response_type != "id_token";
            assert_eq!(body["access_token"].is_string(), has_access_token, "{case}");
            // Userinfo needs an access token.
            let userinfo = if has_access_token {
                json!("Alice")
            } else {
                Value::Null
            };
            assert_eq!(body["userinfo"]["name"], userinfo, "{case}: {body}");
        }
    }
}

#[rocket::async_test]
async fn the_pending_login_cookie_is_samesite_none_only_for_form_post() {
    let provider = TestProvider::start().await;
    for (mode, same_site, secure) in [
        ("query", SameSite::Lax, false),
        ("fragment", SameSite::Lax, false),
        // http on a loopback host: browsers take `Secure` cookies from it.
        ("form_post", SameSite::None, true),
    ] {
        let response_type = if mode == "query" {
            "code"
        } else {
            "code id_token"
        };
        let client = app(&provider, response_type, Some(mode)).await;
        let start = client.get("/").header(Accept::HTML).dispatch().await;
        let pending = start
            .cookies()
            .iter()
            .find(|c| c.name().contains("_login."))
            .cloned()
            .expect("a pending-login cookie");
        assert_eq!(pending.same_site(), Some(same_site), "{mode}");
        assert_eq!(pending.secure().unwrap_or(false), secure, "{mode}");
        assert_eq!(pending.http_only(), Some(true), "{mode}");
    }
    // Elsewhere on plain http `SameSite=None` would be refused without `Secure`: Lax.
    let figment = provider
        .app_figment()
        .merge(("oidc.base_url", "http://app.internal:8000"))
        .merge(("oidc.providers.default.response_mode", "form_post"));
    let client = client_with(figment).await;
    let start = client.get("/").header(Accept::HTML).dispatch().await;
    let pending = start
        .cookies()
        .iter()
        .find(|c| c.name().contains("_login."))
        .cloned();
    assert_eq!(pending.and_then(|c| c.same_site()), Some(SameSite::Lax));
}

#[rocket::async_test]
async fn the_relay_page_posts_the_fragment_to_the_configured_callback_and_runs_nothing_else() {
    let provider = TestProvider::start().await;
    provider.allow_redirect_uri("https://app.example/prefix/op/callback");
    let figment = provider
        .app_figment()
        .merge(("oidc.base_url", "https://app.example/prefix"))
        .merge(("oidc.providers.default.redirect_path", "/op/callback"))
        .merge(("oidc.providers.default.response_type", "id_token token"));
    let client = client_with(figment).await;
    let response = provider_response(&provider, &client).await;
    assert!(response.starts_with("https://app.example/prefix/op/callback#"));

    // The browser's GET carries no fragment: the page relays it.
    let relay = client
        .get("/op/callback")
        .header(Accept::HTML)
        .dispatch()
        .await;
    assert_eq!(relay.status(), Status::Ok);
    let header = |name: &str| relay.headers().get_one(name).unwrap_or_default().to_owned();
    let csp = header("Content-Security-Policy");
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(header("Cache-Control"), "no-store");
    assert_eq!(header("Referrer-Policy"), "no-referrer");
    let html = relay.into_string().await.unwrap();
    // The callback under the mount prefix, not a hard-coded path (Flask-pyoidc F4 a).
    assert!(
        html.contains("data-action=\"/prefix/op/callback\""),
        "{html}"
    );
    assert!(html.contains("<noscript>"));
    assert!(!html.contains("src="), "no external resources: {html}");
    assert!(
        html.contains("history.replaceState"),
        "the fragment is removed"
    );

    // What its script does: POST the fragment (the local client has no prefix).
    let body = response.split_once('#').unwrap().1.to_owned();
    let login = client
        .post("/op/callback")
        .header(rocket::http::ContentType::Form)
        .body(body)
        .dispatch()
        .await;
    assert_eq!(login.status(), Status::SeeOther);
    assert_eq!(login.headers().get_one("Location"), Some("/prefix/"));
}

#[rocket::async_test]
async fn a_late_fragment_response_is_still_taken_out_of_the_address_bar_then_refused() {
    // The login took too long: its pending cookie is gone. The callback still relays (so the
    // tokens leave the address bar and the history), and the relayed POST is refused.
    let provider = TestProvider::start().await;
    let client = app(&provider, "id_token token", None).await;
    let response = provider_response(&provider, &client).await;
    client.get("/logout").dispatch().await; // drops the pending login, like its expiry
    let relay = client
        .get("/redirect_uri")
        .header(Accept::HTML)
        .dispatch()
        .await;
    assert_eq!(relay.status(), Status::Ok);
    assert!(relay
        .into_string()
        .await
        .unwrap()
        .contains("history.replaceState"));
    let attempt = provider.deliver(&client, &response).await;
    assert_rejected(&attempt, 400, &provider);
}

/// Logs in with `response_type` after `setup`, delivering the provider's response changed by
/// `change`; the login must be refused with a 400 and create no session.
async fn refused(
    response_type: &str,
    setup: impl FnOnce(&TestProvider),
    change: impl FnOnce(String) -> String,
) -> (TestProvider, LoginAttempt) {
    let provider = TestProvider::start().await;
    setup(&provider);
    let client = app(&provider, response_type, None).await;
    let response = change(provider_response(&provider, &client).await);
    let attempt = provider.deliver(&client, &response).await;
    assert_rejected(&attempt, 400, &provider);
    assert_logged_out(&client, &provider).await;
    (provider, attempt)
}

fn unchanged(response: String) -> String {
    response
}

#[rocket::async_test]
async fn i33_wrong_c_hash_is_refused_before_the_code_is_used() {
    let (provider, attempt) = refused(
        "code id_token",
        |p| {
            tweak_claims(p, |c| {
                drop(c.insert("c_hash".into(), "AAAAAAAAAAAAAAAAAAAAAA".into()))
            })
        },
        unchanged,
    )
    .await;
    assert!(attempt.body.contains("c_hash"), "{}", attempt.body);
    assert_eq!(
        provider.hits().token,
        0,
        "the code was sent to the token endpoint"
    );
}

#[rocket::async_test]
async fn i33_missing_c_hash_is_refused() {
    let (provider, attempt) = refused(
        "code id_token token",
        |p| tweak_claims(p, |c| drop(c.remove("c_hash"))),
        unchanged,
    )
    .await;
    assert!(attempt.body.contains("c_hash"), "{}", attempt.body);
    assert_eq!(provider.hits().token, 0);
}

#[rocket::async_test]
async fn i33_a_code_swapped_for_another_is_refused_by_its_c_hash() {
    // The ID token is genuine; the code next to it is not the one it was issued with.
    let (provider, _) = refused(
        "code id_token",
        |_| {},
        |r| with_param(&r, "code", Some("an-injected-code")),
    )
    .await;
    assert_eq!(provider.hits().token, 0);
}

#[rocket::async_test]
async fn i34_wrong_at_hash_is_refused_and_userinfo_never_called() {
    let (provider, attempt) = refused(
        "id_token token",
        |p| {
            tweak_claims(p, |c| {
                drop(c.insert("at_hash".into(), "AAAAAAAAAAAAAAAAAAAAAA".into()))
            })
        },
        unchanged,
    )
    .await;
    assert!(attempt.body.contains("at_hash"), "{}", attempt.body);
    assert_eq!(provider.hits().userinfo, 0);
}

#[rocket::async_test]
async fn i34_missing_at_hash_in_id_token_token_is_refused() {
    let (provider, attempt) = refused(
        "id_token token",
        |p| tweak_claims(p, |c| drop(c.remove("at_hash"))),
        unchanged,
    )
    .await;
    assert!(attempt.body.contains("at_hash"), "{}", attempt.body);
    assert_eq!(provider.hits().userinfo, 0);
}

#[rocket::async_test]
async fn i34_an_access_token_swapped_for_another_is_refused_by_its_at_hash() {
    refused(
        "id_token token",
        |_| {},
        |r| with_param(&r, "access_token", Some("an-attackers-access-token")),
    )
    .await;
}

#[rocket::async_test]
async fn i15_missing_nonce_is_refused() {
    let (_, attempt) = refused(
        "id_token",
        |p| tweak_claims(p, |c| drop(c.remove("nonce"))),
        unchanged,
    )
    .await;
    assert!(attempt.body.contains("nonce"), "{}", attempt.body);
}

#[rocket::async_test]
async fn i16_an_id_token_of_another_login_is_refused() {
    let provider = TestProvider::start().await;
    let client = app(&provider, "id_token", None).await;
    // A first login's genuine ID token (its nonce is that login's)...
    let first = provider_response(&provider, &client).await;
    let other_token = param(&first, "id_token").unwrap();
    // ...delivered in the response of a second login.
    let second = provider_response(&provider, &client).await;
    let forged = with_param(&second, "id_token", Some(&other_token));
    let attempt = provider.deliver(&client, &forged).await;
    assert_rejected(&attempt, 400, &provider);
    assert!(attempt.body.contains("nonce"), "{}", attempt.body);
    // The first login's own response still works (its nonce was not used).
    let login = provider.deliver(&client, &first).await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
}

#[rocket::async_test]
async fn i18_alg_none_in_the_front_channel_is_refused() {
    refused(
        "id_token",
        |p| p.configure(|b| b.signing = Signing::None),
        unchanged,
    )
    .await;
}

#[rocket::async_test]
async fn i22_bad_signature_in_the_front_channel_is_refused() {
    refused(
        "code id_token",
        |p| p.configure(|b| b.signing = Signing::BadSignature),
        unchanged,
    )
    .await;
}

#[rocket::async_test]
async fn i36_hybrid_id_tokens_about_different_users_are_refused() {
    let (provider, attempt) = refused(
        "code id_token",
        |p| p.configure(|b| b.token_endpoint_sub = Some("mallory".into())),
        unchanged,
    )
    .await;
    assert!(attempt.body.contains("another user"), "{}", attempt.body);
    assert_eq!(provider.hits().token, 1);
    assert_eq!(provider.hits().userinfo, 0);
}

#[rocket::async_test]
async fn a15_parts_the_response_type_does_not_return_are_refused() {
    // A code in an implicit response; no code in a hybrid one; no ID token in an implicit one.
    refused(
        "id_token token",
        |_| {},
        |r| with_param(&r, "code", None) + "&code=abc",
    )
    .await;
    refused("code id_token", |_| {}, |r| with_param(&r, "code", None)).await;
    refused("id_token", |_| {}, |r| with_param(&r, "id_token", None)).await;
    refused(
        "id_token token",
        |_| {},
        |r| with_param(&r, "token_type", Some("mac")),
    )
    .await;
}

#[rocket::async_test]
async fn a16_a_fragment_response_replayed_in_the_query_is_refused() {
    let (_, attempt) = refused("code id_token", |_| {}, |r| r.replacen('#', "?", 1)).await;
    assert!(attempt.body.contains("response mode"), "{}", attempt.body);
}

#[rocket::async_test]
async fn form_post_with_a_wrong_state_is_refused() {
    let provider = TestProvider::start().await;
    let client = app(&provider, "code id_token", Some("form_post")).await;
    let response = provider_response(&provider, &client).await;
    let state = param(&response, "state").unwrap();
    let mut forged = state.clone().into_bytes();
    forged[0] = if forged[0] == b'A' { b'B' } else { b'A' };
    let forged = with_param(
        &response,
        "state",
        Some(std::str::from_utf8(&forged).unwrap()),
    );
    let attempt = provider.deliver(&client, &forged).await;
    assert_rejected(&attempt, 400, &provider);
    assert!(attempt.body.contains("invalid_state"), "{}", attempt.body);
    assert_eq!(provider.hits().token, 0);
    // The right state still completes the login it belongs to.
    let login = provider.deliver(&client, &response).await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
}

#[rocket::async_test]
async fn a_form_post_response_replayed_is_refused() {
    let provider = TestProvider::start().await;
    let client = app(&provider, "id_token token", Some("form_post")).await;
    let response = provider_response(&provider, &client).await;
    // A copy of the pending-login cookie as the browser holds it when the response arrives
    // (the login consumes it from the browser; a replay brings its copy).
    let pending: Vec<_> = client
        .cookies()
        .iter()
        .filter(|c| c.name().contains("_login."))
        .map(|c| c.clone().into_owned())
        .collect();
    assert_eq!(pending.len(), 1, "one pending login");
    assert_eq!(
        provider.deliver(&client, &response).await.status,
        Status::SeeOther
    );
    client.get("/logout").dispatch().await;
    // The same form POST again, with the genuine pending-login cookie: refused by the state,
    // which was used.
    let (action, form) = response
        .strip_prefix("POST ")
        .and_then(|rest| rest.split_once('\n'))
        .expect("a form_post response");
    let action = url::Url::parse(action).unwrap().path().to_owned();
    let replay = client
        .post(action)
        .header(rocket::http::ContentType::Form)
        .header(Accept::HTML)
        .cookies(pending)
        .body(form)
        .dispatch()
        .await;
    let status = replay.status();
    let session_created = replay
        .cookies()
        .iter()
        .any(|c| c.name().starts_with("oidc_session.") && !c.value().is_empty());
    let body = replay.into_string().await.unwrap_or_default();
    assert_eq!(status, Status::BadRequest, "{body}");
    assert!(body.contains("invalid_state"), "{body}");
    assert!(
        body.contains("already used"),
        "not refused as a replay: {body}"
    );
    assert!(!session_created, "a session was created");
    let secrets = support::secrets_of_provider(&provider);
    support::assert_no_secret_in("the page", &body, &secrets);
    assert_logged_out(&client, &provider).await;
}

#[rocket::async_test]
async fn query_mode_for_a_response_type_with_tokens_is_a_configuration_error() {
    let provider = TestProvider::start().await;
    let figment = provider
        .app_figment()
        .merge(("oidc.providers.default.response_type", "id_token"))
        .merge(("oidc.providers.default.response_mode", "query"));
    let error = rocket_openidconnect::OidcConfig::from_figment(&figment)
        .expect_err("refused")
        .to_string();
    assert!(
        error.contains("oidc.providers.default.response_mode"),
        "{error}"
    );
    let figment = provider
        .app_figment()
        .merge(("oidc.providers.default.response_type", "token"));
    let error = rocket_openidconnect::OidcConfig::from_figment(&figment)
        .expect_err("refused")
        .to_string();
    assert!(error.contains("response_type"), "{error}");
}

#[rocket::async_test]
async fn with_an_id_token_the_issuer_is_its_iss_claim_and_a_wrong_iss_parameter_is_refused() {
    use rocket_openidconnect::testing::IssParameter;
    // RFC 9207 2.4: a response with an ID token may leave `iss` out (oidc-provider does).
    let provider = TestProvider::start().await;
    provider.configure(|b| b.iss_parameter = IssParameter::Omit);
    let client = app(&provider, "code id_token", None).await;
    let login = provider.login(&client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    // Without an ID token (`code token`), the advertised `iss` stays required (A9)...
    let client = app(&provider, "code token", None).await;
    let attempt = provider.login(&client, "/").await;
    assert_rejected(&attempt, 400, &provider);
    assert!(attempt.body.contains("issuer_mismatch"), "{}", attempt.body);
    // ...and a wrong one is refused even next to a valid ID token (A8).
    let (provider, attempt) = refused(
        "code id_token",
        |p| p.configure(|b| b.iss_parameter = IssParameter::Value("https://evil.example".into())),
        unchanged,
    )
    .await;
    assert!(attempt.body.contains("issuer_mismatch"), "{}", attempt.body);
    assert_eq!(provider.hits().token, 0);
}
