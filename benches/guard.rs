//! Criterion benches: the guard on an authenticated request (against the same route without
//! it), the login callback, a full login round trip, and ID-token validation (RS256, ES256).
//!
//! `cargo bench --bench guard` (release). `cargo test --benches` runs each once (CI smoke).

use criterion::{criterion_group, criterion_main, Criterion};
use rocket::figment::Figment;
use rocket::http::{Accept, Cookie, CookieJar};
use rocket::local::asynchronous::Client;
use rocket::{get, routes};
use rocket_openidconnect::testing::{Alg, TestProvider};
use rocket_openidconnect::{OidcUser, OpenIdConnect};
use serde_json::json;

#[get("/guarded")]
fn guarded(user: OidcUser) -> &'static str {
    let _ = user.claims().subject();
    "ok"
}

#[get("/open")]
fn open() -> &'static str {
    "ok"
}

/// Writes the session anew (a forced refresh): new cookie values for the same user.
#[get("/rewrite")]
async fn rewrite(mut user: OidcUser, jar: &CookieJar<'_>) -> &'static str {
    user.valid_access_token(jar, true).await.expect("a refresh");
    "ok"
}

/// A realistic session: JWT access token (~1 KB), ID token (~1 KB), refresh token, userinfo.
fn realistic(provider: &TestProvider) {
    let groups: Vec<String> = (0..20)
        .map(|i| format!("group-{i:02}-of-the-organisation"))
        .collect();
    provider.set_user(
        "user-0123456789",
        json!({
            "name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace",
            "email": "ada@example.com", "email_verified": true, "groups": groups,
            "locale": "en-GB", "preferred_username": "ada",
        }),
    );
    provider.configure(|b| b.jwt_access_tokens = true);
}

fn app(figment: Figment) -> rocket::Rocket<rocket::Build> {
    rocket::custom(figment)
        .attach(OpenIdConnect::fairing())
        .mount("/", routes![guarded, open, rewrite])
}

fn benches(c: &mut Criterion) {
    let runtime = rocket::tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    // A real run rotates over 10,000 sessions; the CI smoke run (`cargo test --benches`, no
    // `--bench` argument) over a few.
    let sessions = if std::env::args().any(|a| a == "--bench") {
        10_000
    } else {
        20
    };
    let (provider, client, figment, cookie_sets) = runtime.block_on(async {
        // ES256: the provider's signatures are cheap, so that 10,000 sessions are quick to make.
        let provider = TestProvider::start_with(Alg::Es256).await;
        realistic(&provider);
        let figment = provider.app_figment();
        let client = Client::tracked(app(figment.clone()))
            .await
            .expect("the app");
        let login = provider.login(&client, "/guarded").await;
        assert_eq!(login.status.code, 303, "{}", login.body);
        // Session cookies: the same user's session written anew (a forced refresh) each time.
        let mut cookie_sets = Vec::new();
        for _ in 0..sessions {
            assert_eq!(client.get("/rewrite").dispatch().await.status().code, 200);
            cookie_sets.push(session_cookies(&client));
        }
        (provider, client, figment, cookie_sets)
    });
    let cookie_bytes: usize = client
        .cookies()
        .iter()
        .filter(|c| c.name().starts_with("oidc_session."))
        .map(|c| c.name().len() + c.value().len())
        .sum();
    eprintln!("session cookies: {cookie_bytes} bytes; {sessions} sessions");

    let mut group = c.benchmark_group("request");
    group.bench_function("guarded (OidcUser, session cookie)", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = client.get("/guarded").dispatch().await;
            assert_eq!(response.status().code, 200);
        })
    });
    // The worst case of the decoded-session cache: more sessions rotating than it holds
    // (about 6,500 of this size), each seen before by this instance (another instance with
    // the same secret key, which has seen each once before the measurement).
    let rotator = runtime.block_on(async {
        let rotator = Client::untracked(app(figment.clone())).await.expect("app");
        for cookies in &cookie_sets {
            let response = guarded_with(&rotator, cookies).dispatch().await;
            assert_eq!(response.status().code, 200);
        }
        rotator
    });
    group.bench_function(format!("guarded, {sessions} sessions rotating"), |b| {
        let mut next = 0;
        b.to_async(&runtime).iter(|| {
            next = (next + 1) % cookie_sets.len();
            let request = guarded_with(&rotator, &cookie_sets[next]);
            async move { assert_eq!(request.dispatch().await.status().code, 200) }
        })
    });
    // Never cached: each session's cookies go once to an instance (with the same secret key)
    // that has not seen them; a new instance for each pass over the sessions (not timed).
    group.bench_function(
        "guarded, session cookie not seen before (base64, AES-GCM, JSON, checks)",
        |b| {
            b.to_async(&runtime).iter_custom(|iterations| {
                let (figment, cookie_sets) = (figment.clone(), &cookie_sets);
                async move {
                    let mut total = std::time::Duration::ZERO;
                    let mut stranger = None;
                    let mut next = cookie_sets.len();
                    for _ in 0..iterations {
                        if next == cookie_sets.len() {
                            stranger =
                                Some(Client::untracked(app(figment.clone())).await.expect("app"));
                            next = 0;
                        }
                        let request = guarded_with(stranger.as_ref().unwrap(), &cookie_sets[next]);
                        next += 1;
                        let began = std::time::Instant::now();
                        assert_eq!(request.dispatch().await.status().code, 200);
                        total += began.elapsed();
                    }
                    total
                }
            })
        },
    );
    group.bench_function("open (same route, no guard)", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = client.get("/open").dispatch().await;
            assert_eq!(response.status().code, 200);
        })
    });
    // Once a logout has happened, every request checks the record of ended sessions (in this
    // process: three hashed keys looked up).
    runtime.block_on(async {
        let token = provider.logout_token(serde_json::Map::new(), |claims| {
            claims.insert("sub".into(), "someone-else".into());
        });
        let body = format!("logout_token={token}");
        let ended = client
            .post("/backchannel_logout")
            .header(rocket::http::ContentType::Form)
            .body(body)
            .dispatch()
            .await;
        assert_eq!(ended.status().code, 200);
    });
    group.bench_function("guarded, ended-session records present", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = client.get("/guarded").dispatch().await;
            assert_eq!(response.status().code, 200);
        })
    });
    group.finish();

    let mut group = c.benchmark_group("login");
    group.sample_size(20);
    group.bench_function(
        "callback (code exchange, ID token, userinfo, session)",
        |b| time_callbacks(b, &runtime, &provider, &client),
    );
    // The same with a provider whose own work is small (ES256 signatures, opaque access
    // tokens): closer to the application's share of a callback.
    let (es_provider, es_client) = runtime.block_on(async {
        let provider = TestProvider::start_with(Alg::Es256).await;
        let client = Client::tracked(app(provider.app_figment()))
            .await
            .expect("the app");
        (provider, client)
    });
    group.bench_function("callback, ES256 provider, opaque access token", |b| {
        time_callbacks(b, &runtime, &es_provider, &es_client)
    });
    group.bench_function("round trip (protected page to protected page)", |b| {
        b.to_async(&runtime).iter(|| async {
            client.get("/logout").dispatch().await;
            let login = provider.login(&client, "/guarded").await;
            assert_eq!(login.status.code, 303);
        })
    });
    group.finish();

    let mut group = c.benchmark_group("id_token");
    for (name, alg) in [("RS256", Alg::Rs256), ("ES256", Alg::Es256)] {
        let signer = runtime.block_on(TestProvider::start_with(alg));
        realistic(&signer);
        let token = signer.mint_id_token("user-0123456789", "nonce-1");
        assert!(signer.bench_validate_id_token(&token, "nonce-1"));
        group.bench_function(format!("validate {name}"), |b| {
            b.iter(|| signer.bench_validate_id_token(&token, "nonce-1"))
        });
    }
    group.finish();
}

/// A request for the guarded route with these session cookies.
fn guarded_with<'c>(
    client: &'c Client,
    cookies: &[(String, String)],
) -> rocket::local::asynchronous::LocalRequest<'c> {
    let mut request = client.get("/guarded");
    for (name, value) in cookies {
        request = request.cookie(Cookie::new(name.clone(), value.clone()));
    }
    request
}

/// The session cookies of `client` (raw, encrypted values).
fn session_cookies(client: &Client) -> Vec<(String, String)> {
    client
        .cookies()
        .iter()
        .filter(|c| c.name().starts_with("oidc_session."))
        .map(|c| (c.name().to_owned(), c.value().to_owned()))
        .collect()
}

/// Times the callbacks of logins (the provider's redirect back, handled by the application:
/// state, code exchange, ID token, userinfo, session cookie), not the rest of the login.
fn time_callbacks(
    b: &mut criterion::Bencher<'_>,
    runtime: &rocket::tokio::runtime::Runtime,
    provider: &TestProvider,
    client: &Client,
) {
    b.to_async(runtime).iter_custom(|iterations| async move {
        let mut total = std::time::Duration::ZERO;
        for _ in 0..iterations {
            client.get("/logout").dispatch().await;
            let start = client.get("/guarded").header(Accept::HTML).dispatch().await;
            let url = start.headers().get_one("Location").unwrap().to_owned();
            let callback = provider.authorize(&url).await;
            let began = std::time::Instant::now();
            let done = provider.deliver(client, &callback).await;
            total += began.elapsed();
            assert_eq!(done.status.code, 303);
        }
        total
    })
}

criterion_group!(guard, benches);
criterion_main!(guard);
