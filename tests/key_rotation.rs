//! Rotating Rocket's `secret_key` without logging anyone out (`oidc.previous_secret_keys`):
//! cookies sealed under an older key are still read and are sealed again under the current
//! key on their next use; a login started under the old key completes under the new one; a
//! rolling rotation across instances under load logs no one out; bad keys stop the launch
//! naming the key. (Sessions kept in Redis: tests/redis_store.rs.)

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rocket::figment::Figment;
use rocket_openidconnect::testing::TestProvider;
use rocket_openidconnect::OidcConfig;
use serde_json::{json, Value};

/// The test provider, with this binary's log capture installed first (before any Rocket
/// would install its own logger).
async fn start() -> TestProvider {
    support::logs::capture();
    TestProvider::start().await
}

/// A fresh key in Rocket's format (32 random bytes, base64: 44 characters).
fn new_key() -> String {
    STANDARD.encode(rand::random::<[u8; 32]>())
}

/// The example app's configuration with `secret_key` and `previous` keys.
fn keyed(provider: &TestProvider, secret_key: &str, previous: &[&str]) -> Figment {
    provider
        .app_figment()
        .merge(("secret_key", secret_key))
        .merge(("oidc.previous_secret_keys", previous))
}

/// The status of `/` (JSON) for `browser` at the app on `port`, and whether the answer set a
/// session cookie.
async fn visit(browser: &reqwest::Client, port: u16) -> (u16, bool) {
    let page = browser
        .get(format!("http://127.0.0.1:{port}/"))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    let sets_session = page.headers().get_all("set-cookie").iter().any(|c| {
        c.to_str()
            .unwrap_or_default()
            .starts_with("oidc_session.0=")
    });
    (page.status().as_u16(), sets_session)
}

#[rocket::async_test]
async fn a_session_sealed_under_a_previous_key_is_read_and_sealed_again_under_the_new_one() {
    let provider = start().await;
    let (old, new) = (new_key(), new_key());
    let before = support::serve(keyed(&provider, &old, &[])).await;
    let rotated = support::serve(keyed(&provider, &new, &[&old])).await;
    let new_only = support::serve(keyed(&provider, &new, &[])).await;

    // Two users log in before the rotation.
    let (used, claims) = support::browser_logged_in(&provider, before).await;
    let (idle, _) = support::browser_logged_in(&provider, before).await;
    assert_eq!(visit(&used, before).await, (200, false));

    // After it: the old cookies still work, and the answer seals them under the new key.
    let (status, resealed) = visit(&used, rotated).await;
    assert_eq!((status, resealed), (200, true));
    let page = support::browser_page(&used, rotated).await.unwrap();
    assert_eq!(page["id_token"]["sub"], claims["sub"]);
    assert_eq!(
        visit(&used, rotated).await,
        (200, false),
        "sealed once, under the current key"
    );
    // The used session no longer needs the old key; the idle one still does.
    assert_eq!(visit(&used, new_only).await.0, 200);
    assert_eq!(visit(&idle, new_only).await.0, 401);
    // The old instance cannot read cookies sealed under a key it does not know.
    assert_eq!(visit(&used, before).await.0, 401);
}

#[rocket::async_test]
async fn a_login_started_under_the_old_key_completes_under_the_new_one() {
    let provider = start().await;
    let (old, new) = (new_key(), new_key());
    let before = support::serve(keyed(&provider, &old, &[])).await;
    let rotated = support::serve(keyed(&provider, &new, &[&old])).await;
    let (browser, _) = support::browser_with_jar();
    let start = browser
        .get(format!("http://127.0.0.1:{before}/"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 303);
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    let callback = url::Url::parse(&provider.authorize(&authorize).await).unwrap();
    // The provider sends the browser back to an instance that runs the new key.
    let done = browser
        .get(format!(
            "http://127.0.0.1:{rotated}{}?{}",
            callback.path(),
            callback.query().unwrap()
        ))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303, "{}", done.text().await.unwrap());
    assert_eq!(visit(&browser, rotated).await.0, 200);
}

/// One request per browser, each to the instance `pick` chooses for it; every answer must
/// be 200 (no one is logged out). Returns how many requests were made.
async fn round(
    browsers: &Arc<Vec<reqwest::Client>>,
    rounds: usize,
    pick: impl Fn(usize, usize) -> u16 + Send + Sync + Clone + 'static,
    phase: &'static str,
) -> usize {
    let made = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for index in 0..browsers.len() {
        let browsers = browsers.clone();
        let pick = pick.clone();
        let made = made.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..rounds {
                let port = pick(index, n);
                let (status, _) = visit(&browsers[index], port).await;
                assert_eq!(
                    status, 200,
                    "{phase}: browser {index}, request {n} at {port}"
                );
                made.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.expect("a browser's requests");
    }
    made.load(Ordering::Relaxed)
}

/// The documented procedure (docs/deployment.md), with 24 users sending requests all along:
/// (1) every instance learns the new key as a previous one, (2) every instance switches to it
/// and keeps the old one as previous, (3) once the sessions have been used (or the longest
/// session lifetime has passed), the old key goes. At every moment instances of two
/// neighbouring steps serve the same users side by side.
#[rocket::async_test]
async fn a_rolling_rotation_under_load_logs_no_one_out() {
    let provider = start().await;
    let (old, new) = (new_key(), new_key());
    let step0 = support::serve(keyed(&provider, &old, &[])).await;
    let mut browsers = Vec::new();
    for _ in 0..24 {
        browsers.push(support::browser_logged_in(&provider, step0).await.0);
    }
    let browsers = Arc::new(browsers);
    let step1 = support::serve(keyed(&provider, &old, &[&new])).await;
    let step2 = support::serve(keyed(&provider, &new, &[&old])).await;
    let step3 = support::serve(keyed(&provider, &new, &[])).await;
    let either =
        |a: u16, b: u16| move |i: usize, n: usize| if (i + n).is_multiple_of(2) { a } else { b };

    let mut made = 0;
    made += round(&browsers, 8, either(step0, step1), "steps 0 and 1").await;
    made += round(&browsers, 8, either(step1, step2), "steps 1 and 2").await;
    // Step 1 is gone: every session is used on step 2 at least once.
    made += round(&browsers, 4, either(step2, step2), "step 2").await;
    made += round(&browsers, 8, either(step2, step3), "steps 2 and 3").await;
    assert_eq!(made, 24 * 28);
}

#[rocket::async_test]
async fn bad_previous_keys_stop_the_launch_naming_the_key() {
    let provider = start().await;
    let key = new_key();
    let cases: [(Value, &str); 4] = [
        (
            json!([key.clone(), "not-a-key"]),
            "oidc.previous_secret_keys[1]: must be 44 or 88 base64 characters",
        ),
        (
            json!(["!".repeat(44)]),
            "oidc.previous_secret_keys[0]: is not valid base64",
        ),
        (
            json!([key.clone(), key.clone()]),
            "oidc.previous_secret_keys[1]: is listed twice",
        ),
        (
            json!([new_key(), new_key(), new_key(), new_key(), new_key()]),
            "oidc.previous_secret_keys: holds more than four keys",
        ),
    ];
    for (keys, message) in cases {
        let figment = provider
            .app_figment()
            .merge(("oidc.previous_secret_keys", keys));
        let error = OidcConfig::from_figment(&figment).unwrap_err();
        assert!(error.to_string().contains(message), "{error}");
        assert!(!error.to_string().contains(&key), "the key is not shown");
    }
    // The current key as a previous one, and previous keys without a current one.
    support::launch_fails(
        keyed(&provider, &key, &[&new_key(), &key]),
        "oidc.previous_secret_keys[1]: is the current secret_key",
    )
    .await;
    let without_current = Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "off"))
        .merge(("oidc.providers.default", provider.provider_table()))
        .merge(("oidc.previous_secret_keys", [&key]));
    support::launch_fails(
        without_current,
        "oidc.previous_secret_keys: needs Rocket's `secret_key`",
    )
    .await;
}
