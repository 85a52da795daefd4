//! A benchmark helper for `benches/million.sh` (not a usage example): writes `SESSIONS`
//! server-side sessions (default 1,000,000; ten per user) into the Redis at `REDIS_URL`
//! through the library's session store ([`SessionSeeder`]), writes the `Cookie` headers of the
//! first `HOT` of them (default 100,000) to the file `COOKIES`, times the listing of one user's
//! sessions, then serves `GET /ping/user` (guarded by `OidcUser`) on `PORT` with those
//! sessions, until killed. Prints `READY` when it serves.
//!
//! ```sh
//! REDIS_URL=redis://127.0.0.1:6391/ COOKIES=/tmp/cookies PORT=8093 \
//!   cargo run --release --example million_sessions --features testing,redis
//! ```

use std::time::Instant;

use futures_util::StreamExt;
use rocket::{get, routes};
use rocket_openidconnect::testing::{Alg, SessionSeeder, TestProvider};
use rocket_openidconnect::{OidcUser, OpenIdConnect};
use serde_json::json;

const SESSIONS_PER_USER: usize = 10;

#[get("/ping/user")]
fn ping(_user: OidcUser) -> &'static str {
    "pong"
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The median time of `runs` listings of `user`'s sessions, and how many it found.
async fn listing(
    seeder: &SessionSeeder,
    provider: &TestProvider,
    user: &str,
    runs: usize,
) -> (std::time::Duration, usize) {
    let mut times = Vec::with_capacity(runs);
    let mut found = 0;
    for _ in 0..runs {
        let started = Instant::now();
        found = seeder
            .count_of_user(provider.issuer(), provider.client_id(), user)
            .await
            .expect("listing");
        times.push(started.elapsed());
    }
    times.sort();
    (times[runs / 2], found)
}

#[rocket::main]
async fn main() {
    let redis_url = std::env::var("REDIS_URL").unwrap_or("redis://127.0.0.1:6391/".into());
    let cookies_path = std::env::var("COOKIES").unwrap_or("/tmp/million-cookies".into());
    let sessions = env_number("SESSIONS", 1_000_000);
    let hot = env_number("HOT", 100_000).min(sessions);
    let port = env_number("PORT", 8093);
    let secret_key = std::env::var("SECRET_KEY").unwrap_or(
        "GIlLiBWeDA0JCRqy4gbyD+4fjB5Eq9ajakg69W7Op5/2/vFVwVadLP/2h4L3CNxAHNqv1Qs6+QL2lWQakz/jQw=="
            .into(),
    );

    let provider = TestProvider::start_with(Alg::Es256).await;
    provider.set_user(
        "template",
        json!({"name": "A User", "email": "user@example.com"}),
    );
    let seeder = SessionSeeder::redis(&redis_url, &secret_key).expect("redis url");

    let started = Instant::now();
    let users = sessions.div_ceil(SESSIONS_PER_USER);
    let mut hot_cookies = Vec::with_capacity(hot);
    let mut written = 0;
    let mut listed_small = None;
    let mut batches = futures_util::stream::iter(0..users)
        .map(|user| {
            let session = provider.session_for("default", &format!("user{user}"));
            let seeder = &seeder;
            async move {
                let mut cookies = Vec::with_capacity(SESSIONS_PER_USER);
                for _ in 0..SESSIONS_PER_USER {
                    cookies.push(seeder.insert(&session).await.expect("insert"));
                }
                cookies
            }
        })
        .buffered(64);
    while let Some(cookies) = batches.next().await {
        for cookie in cookies {
            written += 1;
            if hot_cookies.len() < hot {
                hot_cookies.push(cookie);
            }
        }
        if written == 1_000 {
            listed_small = Some(listing(&seeder, &provider, "user7", 1_000).await);
        }
        if written % 100_000 == 0 {
            eprintln!("{written} sessions after {:?}", started.elapsed());
        }
    }
    drop(batches);
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "seeded {written} sessions ({users} users x {SESSIONS_PER_USER}) in {seconds:.1} s ({:.0}/s)",
        written as f64 / seconds
    );
    if let Some((median, found)) = listed_small {
        println!("listing one user's {found} sessions with 1,000 in Redis: median {median:?}");
    }
    let (median, found) = listing(&seeder, &provider, "user7", 1_000).await;
    println!("listing one user's {found} sessions with {written} in Redis: median {median:?}");
    std::fs::write(&cookies_path, hot_cookies.join("\n") + "\n").expect("cookie file");

    let figment = provider
        .app_figment()
        .merge(("port", port))
        .merge(("log_level", "critical"))
        .merge(("secret_key", secret_key.as_str()))
        .merge(("oidc.session_store", "redis"))
        .merge(("oidc.redis_url", redis_url.as_str()))
        .merge((
            "oidc.near_cache",
            std::env::var("NEAR_CACHE").is_ok_and(|v| v == "true"),
        ));
    let rocket = rocket::custom(figment)
        .attach(OpenIdConnect::fairing())
        .mount("/", routes![ping])
        .attach(rocket::fairing::AdHoc::on_liftoff("ready", |_| {
            Box::pin(async { println!("READY") })
        }));
    let _ = rocket.launch().await;
}
