//! Every bad answer of a provider is refused with a clear error, and no session is created.

mod support;

use std::time::Duration;

use rocket::http::{Accept, Status};
use rocket_openidconnect::testing::{
    Behaviour, IssParameter, Signing, TestProvider, TokenEndpoint,
};
use serde_json::{json, Value};
use support::{assert_logged_out, assert_rejected, client, client_with};

/// Starts a provider, lets `setup` make it misbehave, logs in, and checks the refusal.
async fn refused(setup: impl FnOnce(&TestProvider), status: u16) -> String {
    let provider = TestProvider::start().await;
    setup(&provider);
    let client = client_with(provider.app_figment().merge(("oidc.http_timeout", 1))).await;
    let attempt = provider.login(&client, "/").await;
    assert_rejected(&attempt, status, &provider);
    assert_logged_out(&client, &provider).await;
    attempt.body
}

fn claims(
    change: impl Fn(&mut serde_json::Map<String, Value>) + Send + Sync + 'static,
) -> impl FnOnce(&TestProvider) {
    move |p: &TestProvider| {
        p.configure(|b: &mut Behaviour| b.id_token_claims = Some(std::sync::Arc::new(change)))
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[rocket::async_test]
async fn bad_signature() {
    refused(|p| p.configure(|b| b.signing = Signing::BadSignature), 400).await;
}

#[rocket::async_test]
async fn alg_none() {
    let body = refused(|p| p.configure(|b| b.signing = Signing::None), 400).await;
    assert!(body.contains("invalid_id_token"), "{body}");
}

#[rocket::async_test]
async fn hs256_signed_with_the_client_secret() {
    refused(
        |p| {
            let secret = p.client_secret().to_owned();
            p.configure(|b| b.signing = Signing::Hs256(secret))
        },
        400,
    )
    .await;
}

#[rocket::async_test]
async fn hs256_is_accepted_only_when_configured() {
    let provider = TestProvider::start().await;
    let secret = provider.client_secret().to_owned();
    provider.configure(|b| b.signing = Signing::Hs256(secret));
    let figment = provider
        .app_figment()
        .merge(("oidc.providers.default.id_token_signing_algs", ["HS256"]));
    let client = client_with(figment).await;
    let login = provider.login(&client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    // With the wrong secret it is still refused.
    provider.configure(|b| b.signing = Signing::Hs256("not-the-secret".into()));
    client.get("/logout").dispatch().await;
    assert_rejected(&provider.login(&client, "/").await, 400, &provider);
}

#[rocket::async_test]
async fn wrong_issuer() {
    refused(
        claims(|c| {
            c.insert("iss".into(), "https://evil.example".into());
        }),
        400,
    )
    .await;
}

#[rocket::async_test]
async fn wrong_audience() {
    refused(
        claims(|c| {
            c.insert("aud".into(), "someone-else".into());
        }),
        400,
    )
    .await;
}

#[rocket::async_test]
async fn extra_audience_without_azp() {
    refused(
        |p| {
            let id = p.client_id().to_owned();
            p.configure(|b| {
                b.id_token_claims = Some(std::sync::Arc::new(move |c| {
                    c.insert("aud".into(), json!([id, "someone-else"]));
                }))
            })
        },
        400,
    )
    .await;
}

#[rocket::async_test]
async fn expired() {
    refused(
        claims(|c| {
            c.insert("exp".into(), (now() - 3600).into());
        }),
        400,
    )
    .await;
}

#[rocket::async_test]
async fn issued_far_in_the_future() {
    refused(
        claims(|c| {
            c.insert("iat".into(), (now() + 3600).into());
        }),
        400,
    )
    .await;
}

#[rocket::async_test]
async fn issued_a_week_ago() {
    refused(
        claims(|c| {
            c.insert("iat".into(), (now() - 7 * 86400).into());
        }),
        400,
    )
    .await;
}

#[rocket::async_test]
async fn missing_subject() {
    refused(
        claims(|c| {
            c.remove("sub");
        }),
        400,
    )
    .await;
}

#[rocket::async_test]
async fn wrong_nonce() {
    refused(
        claims(|c| {
            c.insert("nonce".into(), "not-the-nonce".into());
        }),
        400,
    )
    .await;
}

#[rocket::async_test]
async fn missing_nonce() {
    refused(
        claims(|c| {
            c.remove("nonce");
        }),
        400,
    )
    .await;
}

#[rocket::async_test]
async fn mismatching_iss_parameter() {
    refused(
        |p| p.configure(|b| b.iss_parameter = IssParameter::Value("https://evil.example".into())),
        400,
    )
    .await;
}

#[rocket::async_test]
async fn missing_iss_parameter_although_advertised() {
    refused(
        |p| p.configure(|b| b.iss_parameter = IssParameter::Omit),
        400,
    )
    .await;
}

#[rocket::async_test]
async fn missing_iss_parameter_is_fine_when_not_advertised() {
    let provider = TestProvider::start().await;
    provider.configure(|b| {
        b.iss_parameter = IssParameter::Omit;
        b.advertise_iss_parameter = false;
    });
    let client = client(&provider).await;
    assert_eq!(provider.login(&client, "/").await.status, Status::SeeOther);
}

#[rocket::async_test]
async fn error_response_is_shown_escaped() {
    let body = refused(
        |p| p.configure(|b| b.authorization_error = Some("access_denied".into())),
        400,
    )
    .await;
    assert!(body.contains("access_denied"), "{body}");
    assert!(!body.contains("<script>"), "{body}");
    assert!(body.contains("&lt;script&gt;"), "{body}");
}

#[rocket::async_test]
async fn token_endpoint_500() {
    refused(
        |p| p.configure(|b| b.token_endpoint = TokenEndpoint::Status(500)),
        502,
    )
    .await;
}

#[rocket::async_test]
async fn token_endpoint_not_json() {
    refused(
        |p| p.configure(|b| b.token_endpoint = TokenEndpoint::NotJson),
        502,
    )
    .await;
}

#[rocket::async_test]
async fn token_endpoint_timeout() {
    refused(
        |p| p.configure(|b| b.token_endpoint = TokenEndpoint::Delay(Duration::from_secs(3))),
        503,
    )
    .await;
}

#[rocket::async_test]
async fn token_endpoint_invalid_grant() {
    refused(
        |p| p.configure(|b| b.token_endpoint = TokenEndpoint::InvalidGrant),
        400,
    )
    .await;
}

#[rocket::async_test]
async fn unknown_token_type() {
    refused(|p| p.configure(|b| b.token_type = "mac".into()), 502).await;
}

#[rocket::async_test]
async fn mixed_case_token_type_and_no_expires_in_are_fine() {
    let provider = TestProvider::start().await;
    provider.configure(|b| {
        b.token_type = "BeArEr".into();
        b.expires_in = None;
    });
    let client = client(&provider).await;
    assert_eq!(provider.login(&client, "/").await.status, Status::SeeOther);
}

#[rocket::async_test]
async fn userinfo_with_another_subject() {
    refused(
        |p| p.configure(|b| b.userinfo_sub = Some("mallory".into())),
        400,
    )
    .await;
}

#[rocket::async_test]
async fn discovery_document_with_another_issuer() {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.discovery_issuer = Some("https://evil.example".into()));
    let client = client(&provider).await;
    let response = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(response.status(), Status::BadGateway);
    assert_eq!(response.headers().get("Set-Cookie").count(), 0);
    assert_eq!(provider.hits().authorize, 0);
}

/// Runs the first half of a login and returns the callback URL the provider sent back.
async fn callback_url(
    provider: &TestProvider,
    client: &rocket::local::asynchronous::Client,
) -> String {
    let start = client.get("/").header(Accept::HTML).dispatch().await;
    let authorize_url = start.headers().get_one("Location").unwrap().to_owned();
    provider.authorize(&authorize_url).await
}

fn replace_param(url: &str, name: &str, value: Option<&str>) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut query = parsed.query_pairs_mut();
        query.clear();
        for (k, v) in &pairs {
            query.append_pair(k, v);
        }
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    parsed.into()
}

#[rocket::async_test]
async fn wrong_missing_duplicated_or_replayed_state() {
    let provider = TestProvider::start().await;
    let client = client(&provider).await;
    let forged_state = "A".repeat(43);
    let cases: [(&str, Option<&str>); 3] = [
        ("wrong", Some(&forged_state)),
        ("missing", None),
        ("garbage", Some("<x>")),
    ];
    for (what, state) in cases {
        let callback = callback_url(&provider, &client).await;
        let bad = replace_param(&callback, "state", state);
        let attempt = provider.deliver(&client, &bad).await;
        assert_rejected(&attempt, 400, &provider);
        assert!(
            attempt.body.contains("invalid_state"),
            "{what}: {}",
            attempt.body
        );
    }
    let callback = callback_url(&provider, &client).await;
    let duplicated = format!("{callback}&state=again");
    assert_rejected(
        &provider.deliver(&client, &duplicated).await,
        400,
        &provider,
    );
    // No code was ever sent to the token endpoint.
    assert_eq!(provider.hits().token, 0);

    let callback = callback_url(&provider, &client).await;
    assert_eq!(
        provider.deliver(&client, &callback).await.status,
        Status::SeeOther
    );
    client.get("/logout").dispatch().await;
    let replay = provider.deliver(&client, &callback).await;
    assert_rejected(&replay, 400, &provider);
    assert_logged_out(&client, &provider).await;
}

#[rocket::async_test]
async fn a_callback_from_another_browser_is_refused() {
    let provider = TestProvider::start().await;
    let victim = client(&provider).await;
    let attacker = client(&provider).await;
    let callback = callback_url(&provider, &attacker).await;
    let attempt = provider.deliver(&victim, &callback).await;
    assert_rejected(&attempt, 400, &provider);
    assert_eq!(provider.hits().token, 0);
}

#[rocket::async_test]
async fn a_tampered_session_cookie_is_no_session() {
    let provider = TestProvider::start().await;
    let client = client(&provider).await;
    assert_eq!(provider.login(&client, "/").await.status, Status::SeeOther);
    let original = client
        .cookies()
        .get("oidc_session.0")
        .unwrap()
        .value()
        .to_owned();
    let mut bytes = original.into_bytes();
    let middle = bytes.len() / 2;
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    let response = client
        .get("/")
        .header(Accept::HTML)
        .cookie(rocket::http::Cookie::new("oidc_session.0", tampered))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::SeeOther);
}

#[rocket::async_test]
async fn max_age_requires_a_recent_auth_time() {
    let provider = TestProvider::start().await;
    provider.configure(|b| {
        b.id_token_claims = Some(std::sync::Arc::new(
            |c: &mut serde_json::Map<String, Value>| {
                c.remove("auth_time");
            },
        ))
    });
    let figment = provider.app_figment().merge((
        "oidc.providers.default.auth_request_params",
        json!({"max_age": 60}),
    ));
    let client = client_with(figment).await;
    let start = client.get("/").header(Accept::HTML).dispatch().await;
    assert!(start
        .headers()
        .get_one("Location")
        .unwrap()
        .contains("max_age=60"));
    let attempt = provider.login(&client, "/").await;
    assert_rejected(&attempt, 400, &provider);
    // An old authentication is refused too; a fresh one is accepted.
    provider.configure(|b| {
        b.id_token_claims = Some(std::sync::Arc::new(
            |c: &mut serde_json::Map<String, Value>| {
                c.insert("auth_time".into(), (now() - 3600).into());
            },
        ))
    });
    assert_rejected(&provider.login(&client, "/").await, 400, &provider);
    provider.configure(|b| b.id_token_claims = None);
    assert_eq!(provider.login(&client, "/").await.status, Status::SeeOther);
}

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
async fn a_query_mode_response_posted_to_the_callback_is_refused() {
    let provider = TestProvider::start().await;
    let client = client(&provider).await;
    let callback = callback_url(&provider, &client).await;
    let query = url::Url::parse(&callback)
        .unwrap()
        .query()
        .unwrap()
        .to_owned();
    let response = client
        .post("/redirect_uri")
        .header(rocket::http::ContentType::Form)
        .body(query)
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::BadRequest);
    assert_eq!(provider.hits().token, 0);
    assert_logged_out(&client, &provider).await;
}

#[rocket::async_test]
async fn a_replayed_callback_never_creates_a_second_session_even_if_the_code_works_twice() {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.reusable_codes = true);
    let client = client(&provider).await;
    let start = client.get("/").header(Accept::HTML).dispatch().await;
    let authorize_url = start.headers().get_one("Location").unwrap().to_owned();
    let pending: Vec<rocket::http::Cookie<'static>> = client
        .cookies()
        .iter()
        .filter(|c| c.name().starts_with("oidc_session_login."))
        .map(|c| c.clone().into_owned())
        .collect();
    assert_eq!(pending.len(), 1);
    let callback = provider.authorize(&authorize_url).await;
    assert_eq!(
        provider.deliver(&client, &callback).await.status,
        Status::SeeOther
    );
    client.get("/logout").dispatch().await;

    // The attacker replays the callback with a copy of the pending-login cookie.
    let local = callback
        .trim_start_matches("http://127.0.0.1:8000")
        .to_owned();
    let replay = client
        .get(local)
        .header(Accept::HTML)
        .cookies(pending)
        .dispatch()
        .await;
    assert_eq!(replay.status(), Status::BadRequest);
    let body = replay.into_string().await.unwrap();
    assert!(body.contains("already used"), "{body}");
    assert_logged_out(&client, &provider).await;
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
