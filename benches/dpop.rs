//! Criterion benches of DPoP (RFC 9449): a login round trip with DPoP against one without
//! (the provider checks and binds; the key generation, `dpop_jkt` and the proofs are the
//! application's share), an API request with a DPoP-bound JWT access token and its proof
//! against the same request with a Bearer token, and a proof made by a client.
//!
//! `cargo bench --bench dpop` (release). `cargo test --benches` runs each once (CI smoke).

use criterion::{criterion_group, criterion_main, Criterion};
use rocket::figment::Figment;
use rocket::http::Header;
use rocket::local::asynchronous::Client;
use rocket::{get, routes};
use rocket_openidconnect::testing::{Alg, DpopTestKey, TestProvider};
use rocket_openidconnect::{BearerToken, OidcUser, OpenIdConnect};

/// The API's URL as its clients see it (`base_url` of `app_figment`).
const API: &str = "http://127.0.0.1:8000/api";

#[get("/guarded")]
fn guarded(user: OidcUser) -> &'static str {
    let _ = user.claims().subject();
    "ok"
}

#[get("/api")]
fn api(token: BearerToken) -> &'static str {
    let _ = token.subject();
    "ok"
}

fn app(figment: Figment) -> rocket::Rocket<rocket::Build> {
    rocket::custom(figment)
        .attach(OpenIdConnect::fairing())
        .mount("/", routes![guarded, api])
}

fn benches(c: &mut Criterion) {
    let runtime = rocket::tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (provider, bearer, dpop) = runtime.block_on(async {
        // ES256 and JWT access tokens: the provider's own work is small and local.
        let provider = TestProvider::start_with(Alg::Es256).await;
        provider.configure(|b| b.jwt_access_tokens = true);
        let bearer = Client::tracked(app(provider.app_figment()))
            .await
            .expect("the app");
        let figment = provider
            .app_figment()
            .merge(("oidc.providers.default.dpop", true));
        let dpop = Client::tracked(app(figment)).await.expect("the app");
        (provider, bearer, dpop)
    });

    let mut group = c.benchmark_group("dpop login");
    group.sample_size(20);
    for (name, client) in [("Bearer", &bearer), ("DPoP", &dpop)] {
        group.bench_function(format!("round trip, {name}"), |b| {
            b.to_async(&runtime).iter(|| async {
                client.get("/logout").dispatch().await;
                let login = provider.login(client, "/guarded").await;
                assert_eq!(login.status.code, 303, "{}", login.body);
            })
        });
    }
    group.finish();

    let key = DpopTestKey::new();
    let bound = provider.issue_dpop_bound_access_token("svc", "api", &key.thumbprint());
    let plain = provider.issue_access_token("svc", "api");
    let mut group = c.benchmark_group("dpop api");
    group.bench_function("Bearer JWT access token", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = bearer
                .get("/api")
                .header(Header::new("Authorization", format!("Bearer {plain}")))
                .dispatch()
                .await;
            assert_eq!(response.status().code, 200);
        })
    });
    // The proofs are made before the clock runs: the client's work is not the API's.
    group.bench_function("DPoP-bound JWT access token and its proof", |b| {
        b.to_async(&runtime).iter_custom(|iterations| {
            let proofs: Vec<String> = (0..iterations)
                .map(|_| key.proof("GET", API, Some(&bound), None))
                .collect();
            let bound = &bound;
            let bearer = &bearer;
            async move {
                let began = std::time::Instant::now();
                for proof in proofs {
                    let response = bearer
                        .get("/api")
                        .header(Header::new("Authorization", format!("DPoP {bound}")))
                        .header(Header::new("DPoP", proof))
                        .dispatch()
                        .await;
                    assert_eq!(response.status().code, 200);
                }
                began.elapsed()
            }
        })
    });
    group.bench_function("a proof made (client side, ES256)", |b| {
        b.iter(|| key.proof("GET", API, Some(&bound), None))
    });
    group.finish();
}

criterion_group!(dpop, benches);
criterion_main!(dpop);
