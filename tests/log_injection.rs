//! Text from a provider or a browser never forges a log line: every value that reaches a log
//! record, an error page or a JSON answer has its control characters escaped and its length
//! bounded (rows L1–L9 in docs/security.md). Each row sends a line break followed by a line
//! that looks like ours, an ANSI escape and bidirectional overrides, and checks every record of
//! this library: no raw control character, no record longer than a bound; where the row's text
//! is echoed, its escaped form is there (so the row exercised the path it names).

mod support;

use std::sync::Arc;
use std::time::Duration;

use rocket::http::{Accept, ContentType, Status};
use rocket_openidconnect::testing::{TestProvider, TokenEndpoint};
use serde_json::{json, Map, Value};
use support::{client, client_with};

/// A line break, then a line that looks like one of ours, an ANSI escape (erase line) and the
/// Unicode overrides that reorder or break lines.
const FORGED: &str = "\r\n[2025-01-01T00:00:00Z INFO  rocket_openidconnect] OpenID Connect: \
                      login via `admin` completed\u{1b}[2K\u{202e}\u{2028}";
/// How the forged line looks once escaped.
const ESCAPED: &str = "\\r\\n[2025-01-01T00:00:00Z INFO  rocket_openidconnect]";
/// No record of this library is longer (the longest escaped value is bounded at 200).
const MAX_RECORD: usize = 2_048;

async fn start() -> TestProvider {
    support::logs::capture();
    TestProvider::start().await
}

fn records() -> Vec<String> {
    support::logs::records()
}

/// Text that must never contain a raw control character or override.
fn assert_safe(what: &str, text: &str) {
    for bad in ['\r', '\n', '\u{1b}', '\u{202e}', '\u{2028}', '\u{85}'] {
        assert!(!text.contains(bad), "{what} holds {bad:?}: {text:?}");
    }
}

/// Every record so far is safe and bounded.
fn assert_records_clean() {
    for record in records() {
        assert_safe("a log record", &record);
        assert!(
            record.chars().count() <= MAX_RECORD,
            "a log record of {} characters",
            record.chars().count()
        );
    }
}

/// Some record holds `needle` (polled: some records are written after the response).
async fn assert_logged(needle: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !records().iter().any(|r| r.contains(needle)) {
        assert!(
            std::time::Instant::now() < deadline,
            "no log record holds {needle:?}: {:#?}",
            records()
        );
        rocket::tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_records_clean();
}

/// An error page: safe, bounded, and with the status given.
async fn assert_error_page(response: rocket::local::asynchronous::LocalResponse<'_>, status: u16) {
    assert_eq!(response.status().code, status);
    let body = response.into_string().await.unwrap_or_default();
    assert_safe("the error page", &body);
    assert!(body.len() < 4_096, "an error page of {} bytes", body.len());
}

#[rocket::async_test]
async fn l1_a_discovery_issuer_with_a_forged_line() {
    let provider = start().await;
    let issuer = format!("{}{FORGED}{}", provider.issuer(), "A".repeat(100_000));
    provider.configure(|b| b.discovery_issuer = Some(issuer));
    let client = client(&provider).await;
    let page = client.get("/").header(Accept::HTML).dispatch().await;
    assert_error_page(page, 502).await;
    assert_logged(ESCAPED).await;
}

#[rocket::async_test]
async fn l2_a_discovered_endpoint_with_a_forged_line() {
    let provider = start().await;
    provider.configure(|b| {
        b.discovery_document = Some(Arc::new(|document: &mut Value| {
            document["userinfo_endpoint"] = format!("ftp://op.example/{FORGED}").into();
        }))
    });
    let client = client(&provider).await;
    let page = client.get("/").header(Accept::HTML).dispatch().await;
    assert_error_page(page, 502).await;
    assert_logged("userinfo_endpoint").await;
    assert_logged(ESCAPED).await;
}

#[rocket::async_test]
async fn l3_a_token_endpoint_error_with_a_forged_line() {
    let provider = start().await;
    provider.configure(|b| {
        b.token_endpoint = TokenEndpoint::Error(
            400,
            json!({"error": format!("invalid_grant{FORGED}"), "error_description": FORGED}),
        )
    });
    let client = client(&provider).await;
    let attempt = provider.login(&client, "/").await;
    assert_eq!(attempt.status.code, 400, "{}", attempt.body);
    assert_safe("the error page", &attempt.body);
    assert_logged("the token endpoint refused the code: invalid_grant").await;
}

#[rocket::async_test]
async fn l4_a_userinfo_subject_with_a_forged_line() {
    let provider = start().await;
    provider.configure(|b| b.userinfo_sub = Some(FORGED.into()));
    let client = client(&provider).await;
    let attempt = provider.login(&client, "/").await;
    assert_eq!(attempt.status.code, 400, "{}", attempt.body);
    assert_logged("the userinfo subject does not match").await;
}

#[rocket::async_test]
async fn l5_an_error_response_with_a_forged_line() {
    let provider = start().await;
    provider.configure(|b| b.authorization_error = Some(format!("access_denied{FORGED}")));
    let client = client(&provider).await;
    let attempt = provider.login(&client, "/").await;
    assert_eq!(attempt.status.code, 400, "{}", attempt.body);
    assert_safe("the error page", &attempt.body);
    assert_logged("the provider refused the login: access_denied").await;
}

#[rocket::async_test]
async fn l6_login_route_parameters_with_a_forged_line() {
    let provider = start().await;
    let figment = provider.app_figment().merge(("oidc.login_path", "/login"));
    let client = client_with(figment).await;
    let encoded: String = url::form_urlencoded::byte_serialize(FORGED.as_bytes()).collect();
    let long: String = "B".repeat(15_000);
    for query in [
        format!("provider={encoded}"),
        format!("{encoded}=1"),
        format!("x{encoded}=1&x{encoded}=2"),
        format!("{long}{encoded}=1"),
    ] {
        let page = client
            .get(format!("/login?{query}"))
            .header(Accept::HTML)
            .dispatch()
            .await;
        assert_error_page(page, 400).await;
    }
    assert_logged(ESCAPED).await;
}

/// A compact JWS with this header and claims and a made-up signature.
fn unsigned_jwt(header: Value, claims: Value) -> String {
    use base64::Engine;
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    format!("{}.{}.c2lnbmF0dXJl", b64(&header), b64(&claims))
}

#[rocket::async_test]
async fn l7_an_anonymous_logout_token_with_a_forged_alg() {
    let provider = start().await;
    let client = client(&provider).await;
    // Long, but within the 16 KiB a back-channel body may have.
    let alg = format!("RS256{FORGED}{}", "A".repeat(8_000));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = unsigned_jwt(
        json!({"alg": alg, "kid": FORGED, "typ": "logout+jwt"}),
        json!({"iss": provider.issuer(), "aud": provider.client_id(), "iat": now,
               "exp": now + 60, "jti": "j-1", "sub": "alice",
               "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}),
    );
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
    let answer = response.into_string().await.unwrap_or_default();
    let answer: Value = serde_json::from_str(&answer).expect("a JSON error");
    let description = answer["error_description"].as_str().unwrap_or_default();
    assert_safe("the error description", description);
    assert!(description.len() < 600, "{} bytes", description.len());
    assert_logged("back-channel logout refused: ID token algorithm rejected").await;
}

#[rocket::async_test]
async fn l8_an_id_token_with_a_forged_alg_and_kid() {
    let provider = start().await;
    provider.configure(|b| {
        b.id_token_header = Some(Arc::new(|header: &mut Map<String, Value>| {
            header.insert(
                "alg".into(),
                format!("RS256{FORGED}{}", "A".repeat(20_000)).into(),
            );
            header.insert("kid".into(), FORGED.into());
        }))
    });
    let client = client(&provider).await;
    let attempt = provider.login(&client, "/").await;
    assert_eq!(attempt.status.code, 400, "{}", attempt.body);
    assert_safe("the error page", &attempt.body);
    assert_logged("ID token algorithm rejected").await;
    // The value is escaped, and cut at 32 characters.
    assert_logged("`RS256\\r\\n[2025-01-01T00:00:00Z INF…` is not supported").await;
}

#[rocket::async_test]
async fn l9_a_key_set_with_a_forged_kid() {
    let provider = start().await;
    provider.configure(|b| {
        b.jwks_document = Some(Arc::new(|document: &mut Value| {
            if let Some(keys) = document["keys"].as_array_mut() {
                keys.push(
                    json!({"kty": "RSA", "kid": FORGED, "use": "enc", "n": "AQAB", "e": "AQAB"}),
                );
            }
        }))
    });
    let client = client(&provider).await;
    let attempt = provider.login(&client, "/").await;
    assert_eq!(attempt.status.code, 303, "{}", attempt.body);
    assert_logged("is refused: it is marked for encryption").await;
    assert_logged(ESCAPED).await;
}
