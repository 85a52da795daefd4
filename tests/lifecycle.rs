//! Session lifecycle: access-token refresh, silent re-authentication (`prompt=none`), the
//! absolute and inactivity timeouts.

mod support;

use std::sync::Arc;
use std::time::Duration;

use rocket::http::{Accept, Status};
use rocket::local::asynchronous::Client;
use rocket_openidconnect::testing::TestProvider;
use serde_json::{Map, Value};
use support::{assert_logged_out, client, client_with};

async fn json(client: &Client, path: &str) -> (Status, Value) {
    support::json_page(client, path, Accept::JSON).await
}

async fn logged_in(provider: &TestProvider, client: &Client) {
    let login = provider.login(client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
}

async fn sleep(seconds: f64) {
    rocket::tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Whether the provider's userinfo endpoint accepts `token`.
async fn provider_accepts(provider: &TestProvider, token: &str) -> bool {
    reqwest::Client::new()
        .get(format!("{}/userinfo", provider.issuer()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        == 200
}

#[rocket::async_test]
async fn an_expiring_access_token_is_refreshed_once_and_written_back() {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.expires_in = Some(10)); // inside the 30 s leeway
    let client = client(&provider).await;
    logged_in(&provider, &client).await;
    let (_, page) = json(&client, "/").await;
    let first = page["access_token"].as_str().unwrap().to_owned();

    provider.configure(|b| b.expires_in = Some(3600));
    let (status, token) = json(&client, "/token").await;
    assert_eq!(status, Status::Ok, "{token}");
    let refreshed = token["access_token"].as_str().unwrap().to_owned();
    assert_ne!(refreshed, first);
    assert!(token["expires_at"].as_i64().unwrap() > now() + 3000);
    assert!(provider_accepts(&provider, &refreshed).await);
    assert_eq!(provider.hits().refresh, 1);

    // Written back: the next request has the new token and needs no refresh.
    let (_, again) = json(&client, "/token").await;
    assert_eq!(again["access_token"], refreshed.as_str());
    let (_, page) = json(&client, "/").await;
    assert_eq!(page["access_token"], refreshed.as_str());
    assert_eq!(provider.hits().refresh, 1);
}

#[rocket::async_test]
async fn a_token_without_expiry_is_used_until_a_forced_refresh() {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.expires_in = None);
    let client = client(&provider).await;
    logged_in(&provider, &client).await;
    let (_, token) = json(&client, "/token").await;
    assert_eq!(token["expires_at"], Value::Null);
    assert_eq!(provider.hits().refresh, 0);
    let (status, forced) = json(&client, "/token?force=true").await;
    assert_eq!(status, Status::Ok);
    assert_ne!(forced["access_token"], token["access_token"]);
    assert_eq!(provider.hits().refresh, 1);
}

#[rocket::async_test]
async fn rotated_and_unrotated_refresh_tokens_both_keep_working() {
    for rotate in [true, false] {
        let provider = TestProvider::start().await;
        provider.configure(|b| b.rotate_refresh_token = rotate);
        let client = client(&provider).await;
        logged_in(&provider, &client).await;
        for round in 1..=3 {
            let (status, body) = json(&client, "/token?force=true").await;
            assert_eq!(status, Status::Ok, "rotate={rotate} round={round}: {body}");
        }
        assert_eq!(provider.hits().refresh, 3);
    }
}

/// A forced refresh that the provider answers with `behaviour` ends the session with `status`
/// and the error code `code`.
async fn refresh_ends_session(
    behaviour: impl FnOnce(&mut rocket_openidconnect::testing::Behaviour),
    status: Status,
    code: &str,
) {
    let provider = TestProvider::start().await;
    provider.configure(behaviour);
    let client = client(&provider).await;
    logged_in(&provider, &client).await;
    let response = client.get("/token?force=true").dispatch().await;
    assert_eq!(response.status(), status);
    let body = response.into_string().await.unwrap();
    assert!(body.contains(code), "{body}");
    assert_logged_out(&client, &provider).await;
}

#[rocket::async_test]
async fn a_refresh_for_another_subject_ends_the_session() {
    refresh_ends_session(
        |b| b.refresh_sub = Some("mallory".into()),
        Status::BadRequest,
        "subject_changed",
    )
    .await;
}

#[rocket::async_test]
async fn invalid_grant_ends_the_session_cleanly() {
    refresh_ends_session(
        |b| b.refresh_error = Some("invalid_grant".into()),
        Status::Unauthorized,
        "session_ended",
    )
    .await;
}

#[rocket::async_test]
async fn concurrent_requests_that_need_a_refresh_make_exactly_one() {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.expires_in = Some(5));
    let client = client(&provider).await;
    logged_in(&provider, &client).await;
    let requests = (0..10).map(|_| client.get("/token").dispatch());
    let responses = rocket::futures::future::join_all(requests).await;
    let mut tokens = Vec::new();
    for response in responses {
        assert_eq!(response.status(), Status::Ok);
        let body: Value = serde_json::from_str(&response.into_string().await.unwrap()).unwrap();
        tokens.push(body["access_token"].as_str().unwrap().to_owned());
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "all share the one refresh");
    assert_eq!(provider.hits().refresh, 1);
}

async fn refreshing_client(provider: &TestProvider, extra: &[(&str, Value)]) -> Client {
    let mut figment = provider
        .app_figment()
        .merge(("oidc.providers.default.session_refresh_interval", 1));
    for (key, value) in extra {
        figment = figment.merge((*key, value.clone()));
    }
    client_with(figment).await
}

#[rocket::async_test]
async fn a_due_navigation_is_silently_reauthenticated() {
    let provider = TestProvider::start().await;
    let client = refreshing_client(&provider, &[]).await;
    logged_in(&provider, &client).await;
    let (_, before) = json(&client, "/").await;
    sleep(3.2).await; // past the interval (1 s) and the minimum gap between refreshes (3 s)

    // An API request keeps working without any redirect, with or without Fetch Metadata.
    let fetch = client
        .get("/")
        .header(rocket::http::Header::new("Accept", "*/*"))
        .dispatch()
        .await;
    assert_eq!(fetch.status(), Status::Ok);
    let api = client
        .get("/")
        .header(Accept::JSON)
        .header(rocket::http::Header::new("Sec-Fetch-Mode", "cors"))
        .dispatch()
        .await;
    assert_eq!(api.status(), Status::Ok);

    // A navigation goes through prompt=none and comes back with fresh tokens.
    let navigation = client.get("/?page=2").header(Accept::HTML).dispatch().await;
    assert_eq!(navigation.status(), Status::SeeOther);
    let authorize_url = navigation.headers().get_one("Location").unwrap().to_owned();
    assert!(authorize_url.contains("prompt=none"), "{authorize_url}");
    let callback = provider.authorize(&authorize_url).await;
    let done = provider.deliver(&client, &callback).await;
    assert_eq!(done.status, Status::SeeOther, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/?page=2"));
    let (status, after) = json(&client, "/").await;
    assert_eq!(status, Status::Ok);
    assert_ne!(after["access_token"], before["access_token"]);
    assert_eq!(after["id_token"]["sub"], before["id_token"]["sub"]);
    assert_eq!(provider.hits().authorize, 2);
}

#[rocket::async_test]
async fn a_silent_refresh_that_needs_the_user_falls_back_to_an_interactive_login() {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.prompt_none_error = Some("login_required".into()));
    let client = refreshing_client(&provider, &[]).await;
    logged_in(&provider, &client).await;
    sleep(3.2).await; // past the interval (1 s) and the minimum gap between refreshes (3 s)
    let navigation = client.get("/").header(Accept::HTML).dispatch().await;
    let silent = navigation.headers().get_one("Location").unwrap().to_owned();
    let callback = provider.authorize(&silent).await;
    assert!(callback.contains("error=login_required"));
    let back = provider.deliver(&client, &callback).await;
    // Not an error page: straight on to an interactive login, with the session gone.
    assert_eq!(back.status, Status::SeeOther, "{}", back.body);
    let interactive = back.location.unwrap();
    assert!(interactive.starts_with(provider.issuer()));
    assert!(!interactive.contains("prompt=none"));
    assert!(back.cookies.iter().any(|c| c == "oidc_session.0"));
    let done = provider
        .deliver(&client, &provider.authorize(&interactive).await)
        .await;
    assert_eq!(done.status, Status::SeeOther, "{}", done.body);
    assert_eq!(json(&client, "/public").await.0, Status::Ok);
}

#[rocket::async_test]
async fn a_failed_silent_refresh_can_show_the_error_view_instead() {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.prompt_none_error = Some("interaction_required".into()));
    let extra = [(
        "oidc.providers.default.silent_refresh_failure",
        Value::from("error"),
    )];
    let client = refreshing_client(&provider, &extra).await;
    logged_in(&provider, &client).await;
    sleep(3.2).await; // past the interval (1 s) and the minimum gap between refreshes (3 s)
    let navigation = client.get("/").header(Accept::HTML).dispatch().await;
    let silent = navigation.headers().get_one("Location").unwrap().to_owned();
    let back = provider
        .deliver(&client, &provider.authorize(&silent).await)
        .await;
    assert_eq!(back.status, Status::BadRequest);
    assert!(back.body.contains("interaction_required"));
    assert_logged_out(&client, &provider).await;
}

#[rocket::async_test]
async fn a_silent_refresh_returning_another_user_drops_the_session() {
    let provider = TestProvider::start().await;
    let client = refreshing_client(&provider, &[]).await;
    logged_in(&provider, &client).await;
    sleep(3.2).await; // past the interval (1 s) and the minimum gap between refreshes (3 s)
    provider.set_user("mallory", serde_json::json!({}));
    let navigation = client.get("/").header(Accept::HTML).dispatch().await;
    let silent = navigation.headers().get_one("Location").unwrap().to_owned();
    let back = provider
        .deliver(&client, &provider.authorize(&silent).await)
        .await;
    assert_eq!(back.status, Status::BadRequest);
    assert!(back.body.contains("subject_changed"));
    assert!(!back.session_created);
    assert_logged_out(&client, &provider).await;
}

#[rocket::async_test]
async fn the_absolute_lifetime_ends_the_session() {
    let provider = TestProvider::start().await;
    let client = client_with(provider.app_figment().merge(("oidc.session_lifetime", 2))).await;
    logged_in(&provider, &client).await;
    assert_eq!(json(&client, "/").await.0, Status::Ok);
    sleep(2.2).await;
    assert_logged_out(&client, &provider).await;
}

#[rocket::async_test]
async fn the_inactivity_timeout_rolls_with_use() {
    let provider = TestProvider::start().await;
    let figment = provider
        .app_figment()
        .merge(("oidc.session_inactivity_timeout", 3));
    let client = client_with(figment).await;
    logged_in(&provider, &client).await;
    for _ in 0..3 {
        sleep(1.3).await;
        assert_eq!(
            json(&client, "/").await.0,
            Status::Ok,
            "used within the timeout"
        );
    }
    sleep(4.2).await;
    assert_logged_out(&client, &provider).await;
}

#[rocket::async_test]
async fn the_session_can_end_with_the_id_token() {
    let provider = TestProvider::start().await;
    provider.configure(|b| {
        b.id_token_claims = Some(Arc::new(|c: &mut Map<String, Value>| {
            c.insert("exp".into(), (now() + 2).into());
        }))
    });
    let figment = provider
        .app_figment()
        .merge(("oidc.session_expires_with_id_token", true));
    let client = client_with(figment).await;
    logged_in(&provider, &client).await;
    assert_eq!(json(&client, "/").await.0, Status::Ok);
    sleep(3.2).await;
    assert_logged_out(&client, &provider).await;
}

#[rocket::async_test]
async fn a_forced_refresh_without_refresh_token_keeps_the_session() {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.refresh_token = false);
    let client = client(&provider).await;
    logged_in(&provider, &client).await;
    let response = client.get("/token?force=true").dispatch().await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert!(response
        .into_string()
        .await
        .unwrap()
        .contains("no_refresh_token"));
    assert_eq!(json(&client, "/").await.0, Status::Ok);
}

#[rocket::async_test]
async fn access_token_leeway_decides_which_token_is_refreshed() {
    // Access tokens valid for 100 s: inside a leeway of 120 s (refreshed by `/token`), outside
    // one of 60 s (used as it is).
    let provider = TestProvider::start().await;
    provider.configure(|b| b.expires_in = Some(100));
    for (leeway, refreshes) in [(120, 1), (60, 0)] {
        let figment = provider
            .app_figment()
            .merge(("oidc.providers.default.access_token_leeway", leeway));
        let client = client_with(figment).await;
        logged_in(&provider, &client).await;
        let before = provider.hits().refresh;
        let (_, page) = json(&client, "/").await;
        let (status, token) = json(&client, "/token").await;
        assert_eq!(status, Status::Ok, "{token}");
        assert_eq!(
            provider.hits().refresh - before,
            refreshes,
            "a token valid for 100 s with a leeway of {leeway} s"
        );
        assert_eq!(
            token["access_token"] == page["access_token"],
            refreshes == 0,
            "leeway {leeway} s: {token}"
        );
    }
}

/// Navigates `client` to `path` (a document navigation) until the answer is a silent
/// re-authentication, a redirect with `prompt=none` (the page until then); returns its URL.
async fn due_silent_reauthentication(client: &Client, path: &str) -> String {
    support::eventually_async(
        "a due silent re-authentication",
        support::PATIENCE,
        move || async move {
            let page = client.get(path).header(Accept::HTML).dispatch().await;
            if page.status() != Status::SeeOther {
                assert_eq!(page.status(), Status::Ok);
                return None;
            }
            let location = page
                .headers()
                .get_one("Location")
                .unwrap_or_default()
                .to_owned();
            assert!(location.contains("prompt=none"), "{location}");
            Some(location)
        },
    )
    .await
}

#[rocket::async_test]
async fn navigations_right_after_a_silent_reauthentication_start_no_other() {
    // `session_refresh_interval = 1`: due every second, but never more often than the 3 s
    // minimum gap, so that a browser coming back from one cannot be sent straight to another.
    let provider = TestProvider::start().await;
    let client = refreshing_client(&provider, &[]).await;
    logged_in(&provider, &client).await;
    let silent = due_silent_reauthentication(&client, "/?page=1").await;
    let refreshed_from = support::unix_now();
    let done = provider
        .deliver(&client, &provider.authorize(&silent).await)
        .await;
    assert_eq!(done.status, Status::SeeOther, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/?page=1"));
    let refreshed_by = support::unix_now();
    assert_eq!(provider.hits().authorize, 2, "the login and one silent one");

    // The browser follows the redirect back at once: the page.
    let back = client.get("/?page=1").header(Accept::HTML).dispatch().await;
    assert_eq!(
        back.status(),
        Status::Ok,
        "sent to the provider again: {:?}",
        back.headers().get_one("Location")
    );
    // Another navigation a second later: past the configured interval (1 s), within the gap.
    support::until_unix(refreshed_by + 1).await;
    let next = client.get("/?page=2").header(Accept::HTML).dispatch().await;
    let at = support::unix_now();
    let location = next.headers().get_one("Location").map(str::to_owned);
    // The session was refreshed at `refreshed_from` or later: up to 2 s later is in the gap.
    if at <= refreshed_from + 2 {
        assert_eq!(
            next.status(),
            Status::Ok,
            "a silent re-authentication {} s after the last one: {location:?}",
            at - refreshed_from
        );
    } else {
        eprintln!(
            "inconclusive: the second navigation came {} s after the silent re-authentication \
             started (a slow machine); the gap needs it within 2 s",
            at - refreshed_from
        );
    }

    // Only once the gap has passed is the next one due.
    let again = due_silent_reauthentication(&client, "/?page=3").await;
    assert!(support::unix_now() >= refreshed_from + 3);
    assert!(again.contains("prompt=none"));
    assert_eq!(provider.hits().authorize, 2);
}
