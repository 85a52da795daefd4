//! Provider outages: down at launch, down in the middle of a login, flapping, slower than
//! `http_timeout`, its key set down, and a storm of tokens with unknown key ids. Each ends in
//! a clear status (never a 500, never a session), and the application recovers by itself.

mod support;

use std::time::Duration;

use rocket::http::{Accept, Status};
use rocket::local::asynchronous::Client;
use rocket_openidconnect::testing::{Signing, TestProvider, TokenEndpoint};
use support::{assert_rejected, client_with};

/// The example app with a 1 s HTTP timeout.
async fn app(provider: &TestProvider) -> Client {
    client_with(provider.app_figment().merge(("oidc.http_timeout", 1))).await
}

/// A failed discovery is remembered for 2 s (so that an outage is not hammered): wait it out.
async fn past_the_failure_memory() {
    rocket::tokio::time::sleep(Duration::from_millis(2100)).await;
}

async fn status_of(client: &Client, path: &str) -> Status {
    client
        .get(path.to_owned())
        .header(Accept::HTML)
        .dispatch()
        .await
        .status()
}

#[rocket::async_test]
async fn down_at_launch_the_app_starts_and_answers_503_until_the_provider_is_back() {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.down = true);
    // Discovery is lazy: the application launches anyway.
    let client = app(&provider).await;
    assert_eq!(status_of(&client, "/public").await, Status::Ok);
    let page = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(page.status(), Status::ServiceUnavailable);
    assert!(page.headers().get_one("Location").is_none());
    assert!(page
        .into_string()
        .await
        .unwrap()
        .contains("temporarily_unavailable"));
    provider.configure(|b| b.down = false);
    past_the_failure_memory().await;
    let login = provider.login(&client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
}

#[rocket::async_test]
async fn down_in_the_middle_of_a_login_fails_cleanly_and_a_new_login_works() {
    let provider = TestProvider::start().await;
    let client = app(&provider).await;
    let start = client.get("/").header(Accept::HTML).dispatch().await;
    let authorize = start.headers().get_one("Location").unwrap().to_owned();
    let callback = provider.authorize(&authorize).await;
    // The provider goes down between the redirect back and the code exchange.
    provider.configure(|b| b.down = true);
    let attempt = provider.deliver(&client, &callback).await;
    assert_rejected(&attempt, 503, &provider);
    provider.configure(|b| b.down = false);
    // That response was used: it cannot be replayed...
    assert_rejected(&provider.deliver(&client, &callback).await, 400, &provider);
    // ...but a new login works.
    let login = provider.login(&client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
}

#[rocket::async_test]
async fn a_flapping_provider_never_breaks_a_session_or_the_app() {
    let provider = TestProvider::start().await;
    let client = app(&provider).await;
    assert_eq!(provider.login(&client, "/").await.status, Status::SeeOther);
    // A second application that has not met the provider yet: it starts while the provider is
    // down (so its background discovery at launch fails too), and its first login attempt
    // finds the provider down.
    provider.configure(|b| b.down = true);
    let other = app(&provider).await;
    let (mut unavailable, mut sent_while_down, mut completed) = (0, 0, 0);
    for round in 0..8 {
        let down = round % 2 == 0;
        provider.configure(|b| b.down = down);
        if round == 1 {
            // The failed discovery of round 0 is remembered for 2 s: wait it out, so that this
            // round discovers the provider and every later one knows its metadata.
            past_the_failure_memory().await;
        }
        // The logged-in user never notices: sessions do not call the provider.
        assert_eq!(status_of(&client, "/").await, Status::Ok, "round {round}");
        // A new login says "unavailable" at once, or (with the provider's metadata known from
        // an earlier round) goes to the provider...
        let start = other.get("/").header(Accept::HTML).dispatch().await;
        let status = start.status();
        let location = start.headers().get_one("Location").map(str::to_owned);
        assert!(matches!(status.code, 303 | 503), "round {round}: {status}");
        let Some(authorize) = location.filter(|_| status.code == 303) else {
            unavailable += 1;
            continue;
        };
        assert!(authorize.starts_with(provider.issuer()), "{authorize}");
        // ...where, if it is down, the browser sees the provider's own error page.
        if down {
            sent_while_down += 1;
            continue;
        }
        // Up: the login completes, or the provider failed in between (503); nothing else.
        let callback = provider.authorize(&authorize).await;
        let login = provider.deliver(&other, &callback).await;
        assert!(
            matches!(login.status.code, 303 | 503),
            "round {round}: {} {}",
            login.status,
            login.body
        );
        assert!(login.status.code == 303 || !login.session_created);
        if login.status.code == 303 {
            assert!(login.session_created, "round {round}");
            completed += 1;
            other.get("/logout").dispatch().await;
        }
    }
    // Every branch ran: "unavailable" at once (round 0, before any discovery), the redirect to
    // a provider that is down, and new logins completing between outages.
    assert!(unavailable >= 1, "no login was ever refused as unavailable");
    assert!(
        sent_while_down >= 1,
        "no login went to the provider while it was down"
    );
    assert!(
        completed >= 1,
        "no new login completed while the provider was up"
    );
    provider.configure(|b| b.down = false);
    past_the_failure_memory().await;
    assert_eq!(provider.login(&other, "/").await.status, Status::SeeOther);
}

#[rocket::async_test]
async fn a_provider_slower_than_http_timeout_gives_503_then_recovers() {
    let provider = TestProvider::start().await;
    let client = app(&provider).await;
    provider.configure(|b| b.token_endpoint = TokenEndpoint::Delay(Duration::from_secs(3)));
    let attempt = provider.login(&client, "/").await;
    assert_rejected(&attempt, 503, &provider);
    assert!(
        attempt.body.contains("temporarily_unavailable"),
        "{}",
        attempt.body
    );
    provider.configure(|b| b.token_endpoint = TokenEndpoint::Normal);
    assert_eq!(provider.login(&client, "/").await.status, Status::SeeOther);
}

#[rocket::async_test]
async fn with_the_key_set_down_cached_keys_keep_logins_working_and_without_them_503() {
    let provider = TestProvider::start().await;
    let client = app(&provider).await;
    assert_eq!(provider.login(&client, "/").await.status, Status::SeeOther);
    client.get("/logout").dispatch().await;
    provider.configure(|b| b.jwks_status = 503);
    // The keys fetched at discovery are still used.
    assert_eq!(provider.login(&client, "/").await.status, Status::SeeOther);
    // A fresh application has no keys yet: it cannot check signatures, so it lets nobody in. Its
    // discovery needs the key set, so it says "unavailable" before any login starts (no
    // redirect to the provider, no callback).
    let fresh = app(&provider).await;
    let start = fresh.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(start.status(), Status::ServiceUnavailable);
    assert!(start.headers().get_one("Location").is_none());
    assert!(start
        .into_string()
        .await
        .unwrap_or_default()
        .contains("temporarily_unavailable"));
    provider.configure(|b| b.jwks_status = 200);
    past_the_failure_memory().await;
    assert_eq!(provider.login(&fresh, "/").await.status, Status::SeeOther);
}

#[rocket::async_test]
async fn tokens_with_random_key_ids_cause_at_most_one_key_set_fetch_per_interval() {
    let provider = TestProvider::start().await;
    let client = app(&provider).await;
    assert_eq!(provider.login(&client, "/").await.status, Status::SeeOther);
    client.get("/logout").dispatch().await;
    let before = provider.hits().jwks;
    for i in 0..30 {
        provider.configure(|b| b.signing = Signing::Kid(format!("random-kid-{i}")));
        assert_rejected(&provider.login(&client, "/").await, 400, &provider);
    }
    let fetches = provider.hits().jwks - before;
    assert!(
        fetches <= 1,
        "{fetches} key-set fetches for 30 unknown key ids"
    );
    // The storm over, valid tokens are accepted as before.
    provider.configure(|b| b.signing = Signing::Valid);
    assert_eq!(provider.login(&client, "/").await.status, Status::SeeOther);
}
