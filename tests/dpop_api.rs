//! DPoP (RFC 9449) with the in-process provider, for what a real provider will not do on
//! request: the example app's `/api` (`BearerToken`) given DPoP-bound tokens with proofs that
//! are wrong in one way each (method, URL, token, key, a replayed `jti`, an HMAC signature, a
//! proof from the future or the past, no proof, two proofs), the server nonce, and the client's
//! side: nonce challenges at the token and userinfo endpoints, and token types that do not fit.

mod support;

use rocket::http::{Accept, Header, Status};
use rocket::local::asynchronous::Client;
use rocket_openidconnect::testing::{DpopTestKey, TestProvider};
use serde_json::{json, Value};
use support::{client, client_with, json_page};

/// The URL of the example app's API as its clients see it (`base_url` of `app_figment`).
const API: &str = "http://127.0.0.1:8000/api";

struct Answer {
    status: Status,
    challenge: String,
    nonce: Option<String>,
    body: String,
}

/// `GET /api` with `Authorization: <scheme> <token>` and these `DPoP` headers.
async fn call(client: &Client, scheme: &str, token: &str, proofs: &[String]) -> Answer {
    let mut request = client
        .get("/api")
        .header(Header::new("Authorization", format!("{scheme} {token}")));
    for proof in proofs {
        request = request.header(Header::new("DPoP", proof.clone()));
    }
    let response = request.dispatch().await;
    let header = |name: &str| response.headers().get_one(name).map(str::to_owned);
    let (status, challenge, nonce) = (
        response.status(),
        header("WWW-Authenticate").unwrap_or_default(),
        header("DPoP-Nonce"),
    );
    let body = response.into_string().await.unwrap_or_default();
    Answer {
        status,
        challenge,
        nonce,
        body,
    }
}

/// A provider with JWT access tokens, and the example app using it.
async fn jwt_provider() -> (TestProvider, Client) {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.jwt_access_tokens = true);
    let client = client(&provider).await;
    (provider, client)
}

fn refused(answer: &Answer, error: &str, secrets: &[&str], row: &str) {
    assert_eq!(
        answer.status,
        Status::Unauthorized,
        "{row}: {}",
        answer.body
    );
    assert!(
        answer.challenge.starts_with("DPoP ")
            && answer.challenge.contains(&format!("error=\"{error}\""))
            && answer.challenge.contains("algs=\"ES256"),
        "{row}: {}",
        answer.challenge
    );
    let body: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(body["error"], error, "{row}");
    for secret in secrets {
        assert!(
            !answer.body.contains(secret) && !answer.challenge.contains(secret),
            "{row}: echoed"
        );
    }
}

#[rocket::async_test]
async fn a_bound_token_with_its_proof_is_taken_once_per_proof() {
    let (provider, client) = jwt_provider().await;
    for key in [DpopTestKey::new(), DpopTestKey::ed25519()] {
        let token = provider.issue_dpop_bound_access_token("svc-1", "api", &key.thumbprint());
        let proof = key.proof("GET", API, Some(&token), None);
        let ok = call(&client, "DPoP", &token, std::slice::from_ref(&proof)).await;
        assert_eq!(ok.status, Status::Ok, "{}", ok.body);
        let body: Value = serde_json::from_str(&ok.body).unwrap();
        assert_eq!(body["sub"], "svc-1");
        // The same proof again: a replay.
        let again = call(&client, "DPoP", &token, std::slice::from_ref(&proof)).await;
        refused(
            &again,
            "invalid_dpop_proof",
            &[&token, &proof],
            "replayed jti",
        );
        // A new proof: taken.
        let fresh = key.proof("GET", API, Some(&token), None);
        assert_eq!(
            call(&client, "DPoP", &token, &[fresh]).await.status,
            Status::Ok
        );
    }
}

#[rocket::async_test]
async fn proofs_wrong_in_one_way_each_are_refused_and_nothing_is_echoed() {
    let (provider, client) = jwt_provider().await;
    let key = DpopTestKey::new();
    let token = provider.issue_dpop_bound_access_token("svc-1", "api", &key.thumbprint());
    let other_token = provider.issue_dpop_bound_access_token("svc-1", "api", &key.thumbprint());
    let now = support::unix_now();
    let hmac = {
        use base64::Engine;
        let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let header =
            json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": "c2VjcmV0"}});
        let claims = json!({"jti": "j-hmac", "htm": "GET", "htu": API, "iat": now});
        format!("{}.{}.c2lnbmF0dXJl", b64(header), b64(claims))
    };
    let rows: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "htm",
            vec![key.proof("POST", API, Some(&token), None)],
            "invalid_dpop_proof",
        ),
        (
            "htu",
            vec![key.proof("GET", "http://127.0.0.1:8000/other", Some(&token), None)],
            "invalid_dpop_proof",
        ),
        (
            "htu of another origin",
            vec![key.proof("GET", "https://evil.example/api", Some(&token), None)],
            "invalid_dpop_proof",
        ),
        (
            "ath",
            vec![key.proof("GET", API, Some(&other_token), None)],
            "invalid_dpop_proof",
        ),
        (
            "no ath",
            vec![key.proof("GET", API, None, None)],
            "invalid_dpop_proof",
        ),
        (
            "another key (jkt)",
            vec![DpopTestKey::new().proof("GET", API, Some(&token), None)],
            "invalid_token",
        ),
        ("HMAC-signed", vec![hmac], "invalid_dpop_proof"),
        (
            "from the future",
            vec![key.proof_at("GET", API, Some(&token), None, now + 300)],
            "invalid_dpop_proof",
        ),
        (
            "from the past",
            vec![key.proof_at("GET", API, Some(&token), None, now - 600)],
            "invalid_dpop_proof",
        ),
        ("no proof", vec![], "invalid_dpop_proof"),
        (
            "two proofs",
            vec![
                key.proof("GET", API, Some(&token), None),
                key.proof("GET", API, Some(&token), None),
            ],
            "invalid_dpop_proof",
        ),
        (
            "not a JWS",
            vec!["not.a-proof".into()],
            "invalid_dpop_proof",
        ),
    ];
    for (row, proofs, error) in rows {
        let answer = call(&client, "DPoP", &token, &proofs).await;
        let mut secrets = vec![token.as_str()];
        secrets.extend(proofs.iter().map(String::as_str));
        refused(&answer, error, &secrets, row);
    }
    // The bound token as a Bearer token: refused (RFC 9449 7.2), in a Bearer challenge.
    let bearer = call(&client, "Bearer", &token, &[]).await;
    assert_eq!(bearer.status, Status::Unauthorized);
    assert!(
        bearer.challenge.contains("invalid_token"),
        "{}",
        bearer.challenge
    );
    // An unbound token with the DPoP scheme and a valid proof: refused.
    let unbound = provider.issue_access_token("svc-1", "api");
    let proof = key.proof("GET", API, Some(&unbound), None);
    let answer = call(&client, "DPoP", &unbound, &[proof]).await;
    refused(&answer, "invalid_token", &[&unbound], "unbound token");
}

#[rocket::async_test]
async fn introspected_tokens_are_bound_by_the_providers_answer() {
    let provider = TestProvider::start().await;
    let client = client(&provider).await;
    let key = DpopTestKey::new();
    let token = provider.issue_dpop_bound_access_token("svc-2", "api", &key.thumbprint());
    let ok = call(
        &client,
        "DPoP",
        &token,
        &[key.proof("GET", API, Some(&token), None)],
    )
    .await;
    assert_eq!(ok.status, Status::Ok, "{}", ok.body);
    let stolen = DpopTestKey::new().proof("GET", API, Some(&token), None);
    let answer = call(&client, "DPoP", &token, &[stolen]).await;
    refused(
        &answer,
        "invalid_token",
        &[&token],
        "introspected, another key",
    );
    let bearer = call(&client, "Bearer", &token, &[]).await;
    assert_eq!(bearer.status, Status::Unauthorized);
}

#[rocket::async_test]
async fn the_api_asks_for_its_nonce_and_takes_only_its_own_recent_ones() {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.jwt_access_tokens = true);
    let figment = provider
        .app_figment()
        .merge(("oidc.require_dpop_nonce", true));
    let client = client_with(figment.clone()).await;
    let key = DpopTestKey::new();
    let token = provider.issue_dpop_bound_access_token("svc-3", "api", &key.thumbprint());
    let first = call(
        &client,
        "DPoP",
        &token,
        &[key.proof("GET", API, Some(&token), None)],
    )
    .await;
    refused(&first, "use_dpop_nonce", &[&token], "no nonce");
    let nonce = first.nonce.expect("a DPoP-Nonce header");
    let with = key.proof("GET", API, Some(&token), Some(&nonce));
    assert_eq!(
        call(&client, "DPoP", &token, &[with]).await.status,
        Status::Ok
    );
    // A made-up nonce, or one of an application with another secret key: asked again.
    for foreign in ["made-up".to_owned(), {
        let other = client_with(
            provider
                .app_figment()
                .merge(("oidc.require_dpop_nonce", true)),
        )
        .await;
        let answer = call(
            &other,
            "DPoP",
            &token,
            &[key.proof("GET", API, Some(&token), None)],
        )
        .await;
        answer.nonce.unwrap()
    }] {
        let proof = key.proof("GET", API, Some(&token), Some(&foreign));
        let answer = call(&client, "DPoP", &token, &[proof]).await;
        refused(&answer, "use_dpop_nonce", &[&token], "foreign nonce");
    }
    // Bearer requests are not asked for nonces.
    let bearer = provider.issue_access_token("svc-3", "api");
    assert_eq!(
        call(&client, "Bearer", &bearer, &[]).await.status,
        Status::Ok
    );
}

/// The app with `dpop = true` for `provider`.
async fn dpop_app(provider: &TestProvider) -> Client {
    client_with(
        provider
            .app_figment()
            .merge(("oidc.providers.default.dpop", true)),
    )
    .await
}

#[rocket::async_test]
async fn the_client_answers_nonce_challenges_at_the_token_and_userinfo_endpoints() {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.dpop_nonce = Some("op-nonce-1".into()));
    let client = dpop_app(&provider).await;
    let attempt = provider.login(&client, "/").await;
    assert_eq!(attempt.status, Status::SeeOther, "{}", attempt.body);
    let (status, page) = json_page(&client, "/", Accept::JSON).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(page["token_type"], "DPoP");
    assert_eq!(page["userinfo"]["sub"], page["id_token"]["sub"], "{page}");
    // One challenge at the token endpoint; userinfo was then sent the remembered nonce.
    let hits = provider.hits();
    assert_eq!(hits.dpop_challenges, 1, "{hits:?}");
    assert_eq!((hits.token, hits.userinfo), (2, 1), "{hits:?}");
    // A new nonce: the refresh is challenged once more and succeeds.
    provider.configure(|b| b.dpop_nonce = Some("op-nonce-2".into()));
    let refreshed = client
        .get("/token?force=true")
        .header(Accept::JSON)
        .dispatch()
        .await;
    assert_eq!(refreshed.status(), Status::Ok);
    assert_eq!(provider.hits().dpop_challenges, 2);
    // A provider that keeps asking (a new nonce at every challenge): one retry only, then
    // the error view, and no session.
    provider.configure(|b| b.dpop_nonce_rotates = true);
    let fresh = dpop_app(&provider).await;
    let before = provider.hits();
    let attempt = provider.login(&fresh, "/").await;
    assert_ne!(attempt.status, Status::SeeOther, "{}", attempt.body);
    assert!(!attempt.session_created);
    assert!(attempt.body.contains("use_dpop_nonce"), "{}", attempt.body);
    let after = provider.hits();
    assert_eq!(after.token - before.token, 2, "one retry");
    assert_eq!(after.dpop_challenges - before.dpop_challenges, 2);
}

#[rocket::async_test]
async fn token_types_that_do_not_fit_the_request() {
    // DPoP tokens for a client that sent no proof: refused.
    let provider = TestProvider::start().await;
    provider.configure(|b| b.token_type = "DPoP".into());
    let client = client(&provider).await;
    let attempt = provider.login(&client, "/").await;
    assert_eq!(attempt.status, Status::BadGateway, "{}", attempt.body);
    assert!(!attempt.session_created);
    assert!(
        attempt.body.contains("no DPoP proof was sent"),
        "{}",
        attempt.body
    );
    // A provider that ignores proofs: Bearer tokens, and the session says so.
    let provider = TestProvider::start().await;
    provider.configure(|b| b.dpop_binding = false);
    let client = dpop_app(&provider).await;
    let attempt = provider.login(&client, "/").await;
    assert_eq!(attempt.status, Status::SeeOther, "{}", attempt.body);
    let (_, page) = json_page(&client, "/", Accept::JSON).await;
    assert_eq!(page["token_type"], "Bearer");
    // Any other token type: refused.
    let provider = TestProvider::start().await;
    provider.configure(|b| b.token_type = "MAC".into());
    let client = support::client(&provider).await;
    let attempt = provider.login(&client, "/").await;
    assert_eq!(attempt.status, Status::BadGateway, "{}", attempt.body);
    assert!(!attempt.session_created);
}

#[rocket::async_test]
async fn a_session_calls_an_api_with_its_bound_token() {
    // The handler API: `/call-api` sends the session's token to the app's own `/api` with a
    // proof, answering its nonce challenge. The app is served for real (it calls itself).
    let provider = TestProvider::start().await;
    let port = support::free_port();
    let figment = provider
        .app_figment()
        .merge(("oidc.base_url", format!("http://127.0.0.1:{port}")))
        .merge(("oidc.require_dpop_nonce", true))
        .merge(("oidc.providers.default.dpop", true))
        .merge(("oidc.providers.default.scope", ["openid", "profile", "api"]));
    provider.allow_redirect_uri(&format!("http://127.0.0.1:{port}/redirect_uri"));
    support::serve_on(figment, port).await;
    let (browser, claims) = support::browser_logged_in(&provider, port).await;
    let page = support::browser_page_at(&browser, port, "/call-api")
        .await
        .unwrap();
    assert_eq!(page["status"], 200, "{page}");
    assert_eq!(page["body"]["sub"], claims["sub"]);
}

#[rocket::async_test]
async fn a_proof_is_recorded_only_with_a_token_bound_to_its_key() {
    // A proof whose token cannot be checked (the provider is down) or is not bound to its key
    // leaves no record: the records cannot be flooded by whoever can sign, and the same proof
    // works once the token can be checked.
    let provider = TestProvider::start().await;
    let client = client(&provider).await;
    let key = DpopTestKey::new();
    let token = provider.issue_dpop_bound_access_token("svc-4", "api", &key.thumbprint());
    let proof = key.proof("GET", API, Some(&token), None);
    provider.configure(|b| b.introspection_down = true);
    let down = call(&client, "DPoP", &token, std::slice::from_ref(&proof)).await;
    assert_eq!(down.status, Status::ServiceUnavailable, "{}", down.body);
    provider.configure(|b| b.introspection_down = false);
    // (A failed introspection is reported for 5 s without a new call: the same proof is sent
    // until the token is checked.)
    support::eventually_async(
        "the same proof taken once the token can be checked",
        std::time::Duration::from_secs(20),
        || async {
            let later = call(&client, "DPoP", &token, std::slice::from_ref(&proof)).await;
            assert!(
                !later.challenge.contains("invalid_dpop_proof"),
                "{}",
                later.body
            );
            (later.status == Status::Ok).then_some(())
        },
    )
    .await;
    let again = call(&client, "DPoP", &token, std::slice::from_ref(&proof)).await;
    refused(
        &again,
        "invalid_dpop_proof",
        &[&token],
        "replayed after success",
    );
}
