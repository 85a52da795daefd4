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
    let (provider, client, stranger, cookie_sets) = runtime.block_on(async {
        let provider = TestProvider::start().await;
        realistic(&provider);
        let figment = provider.app_figment();
        let client = Client::tracked(app(figment.clone()))
            .await
            .expect("the app");
        let login = provider.login(&client, "/guarded").await;
        assert_eq!(login.status.code, 303, "{}", login.body);
        // Cookie values the process has not decoded yet: more sessions than its cache keeps
        // (1,024), each the same user's session written anew.
        let mut cookie_sets = Vec::new();
        for _ in 0..1100 {
            assert_eq!(client.get("/rewrite").dispatch().await.status().code, 200);
            cookie_sets.push(session_cookies(&client));
        }
        // Another instance with the same secret key: it has seen none of them.
        let stranger = Client::untracked(app(figment)).await.expect("the app");
        (provider, client, stranger, cookie_sets)
    });
    let cookie_bytes: usize = client
        .cookies()
        .iter()
        .filter(|c| c.name().starts_with("oidc_session."))
        .map(|c| c.name().len() + c.value().len())
        .sum();
    eprintln!("session cookies: {cookie_bytes} bytes");

    let mut group = c.benchmark_group("request");
    group.bench_function("guarded (OidcUser, session cookie)", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = client.get("/guarded").dispatch().await;
            assert_eq!(response.status().code, 200);
        })
    });
    group.bench_function(
        "guarded, session cookie not seen before (base64, AES-GCM, JSON, checks)",
        |b| {
            let mut next = 0;
            b.to_async(&runtime).iter(|| {
                next = (next + 1) % cookie_sets.len();
                let cookies = &cookie_sets[next];
                let stranger = &stranger;
                async move {
                    let mut request = stranger.get("/guarded");
                    for (name, value) in cookies {
                        request = request.cookie(Cookie::new(name.clone(), value.clone()));
                    }
                    assert_eq!(request.dispatch().await.status().code, 200);
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
