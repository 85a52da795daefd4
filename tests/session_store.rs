//! Sessions kept on the server (`session_store = "memory"`, and Redis for one test): the cookie holds only a random id,
//! a login always gets a new one, a logout deletes the session, and the application can list
//! and end a user's sessions (`OidcSessions`).

mod support;

use rocket::http::{Accept, Cookie, Status};
use rocket::serde::json::{json, Value};
use rocket_openidconnect::testing::TestProvider;
use rocket_openidconnect::OpenIdConnect;
use support::client_with;

fn figment(provider: &TestProvider, store: &str) -> rocket::figment::Figment {
    provider.app_figment().merge(("oidc.session_store", store))
}

async fn served(provider: &TestProvider, store: &str) -> u16 {
    let rocket = rocket::custom(figment(provider, store))
        .attach(OpenIdConnect::fairing())
        .mount("/", support::session_routes::routes());
    support::serve_rocket(rocket, 0).await
}

async fn sessions_of(browser: &reqwest::Client, port: u16) -> Value {
    let page = browser
        .get(format!("http://127.0.0.1:{port}/sessions"))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    serde_json::from_str(&page.text().await.unwrap()).unwrap()
}

async fn post(browser: &reqwest::Client, port: u16, path: &str) -> (u16, String) {
    let response = browser
        .post(format!("http://127.0.0.1:{port}{path}"))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[rocket::async_test]
async fn the_cookie_holds_only_a_new_random_id_and_logout_deletes_the_session() {
    let provider = TestProvider::start().await;
    let client = client_with(figment(&provider, "memory")).await;
    let login = provider.login(&client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    assert!(
        login.cookies.iter().any(|c| c == "oidc_session.id"),
        "{:?}",
        login.cookies
    );
    assert!(
        !client
            .cookies()
            .iter()
            .any(|c| c.name() == "oidc_session.0"),
        "session chunks in a server-side setup"
    );
    let id = client.cookies().get_private("oidc_session.id").unwrap();
    assert_eq!(id.value().len(), 43, "256 random bits");
    let raw = client
        .cookies()
        .get("oidc_session.id")
        .unwrap()
        .value()
        .to_owned();
    assert!(raw.len() < 120, "the cookie is small: {} bytes", raw.len());
    assert_eq!(
        support::json_page(&client, "/", Accept::JSON).await.0,
        Status::Ok
    );

    // After a logout, a copy of the cookie is nothing: the session is gone from the store.
    let copy = raw;
    client.get("/logout").dispatch().await;
    let replay = client
        .get("/")
        .header(Accept::JSON)
        .cookie(Cookie::new("oidc_session.id", copy.clone()))
        .dispatch()
        .await;
    assert_eq!(replay.status(), Status::Unauthorized);

    // A login with that old id cookie still present gets a new id (no session fixation).
    let start = client
        .get("/")
        .header(Accept::HTML)
        .cookie(Cookie::new("oidc_session.id", copy))
        .dispatch()
        .await;
    let authorize = start.headers().get_one("Location").unwrap().to_owned();
    let callback = provider.authorize(&authorize).await;
    assert_eq!(
        provider.deliver(&client, &callback).await.status,
        Status::SeeOther
    );
    let second = client.cookies().get_private("oidc_session.id").unwrap();
    assert_ne!(second.value(), id.value());
    assert_eq!(
        support::json_page(&client, "/", Accept::JSON).await.0,
        Status::Ok
    );
}

#[rocket::async_test]
async fn an_application_lists_and_ends_a_users_sessions() {
    let provider = TestProvider::start().await;
    provider.set_user("alice", json!({}));
    let port = served(&provider, "memory").await;
    let (first, _) = support::browser_logged_in(&provider, port).await;
    let only_first = sessions_of(&first, port).await;
    let (second, _) = support::browser_logged_in(&provider, port).await;
    provider.set_user("bob", json!({}));
    let (bob, _) = support::browser_logged_in(&provider, port).await;

    let listed = sessions_of(&first, port).await;
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{listed}");
    assert_eq!(sessions_of(&bob, port).await.as_array().unwrap().len(), 1);

    // End alice's second session (the one listed now and not before it) from her first one.
    let second_id = *ids
        .iter()
        .find(|id| !only_first.to_string().contains(*id))
        .expect("the second session is listed");
    assert_eq!(
        post(&first, port, &format!("/sessions/{second_id}/end")).await,
        (200, "true".into())
    );
    assert!(support::browser_page(&second, port).await.is_none());
    assert!(support::browser_page(&first, port).await.is_some());
    assert_eq!(sessions_of(&first, port).await.as_array().unwrap().len(), 1);
    // An unknown (or another user's) id ends nothing.
    assert_eq!(
        post(&first, port, "/sessions/nope/end").await,
        (200, "false".into())
    );

    // Log out everywhere: alice's sessions end, bob's stays.
    assert_eq!(post(&first, port, "/sessions/end-all").await.0, 200);
    assert!(support::browser_page(&first, port).await.is_none());
    assert!(support::browser_page(&bob, port).await.is_some());
}

#[rocket::async_test]
async fn with_sessions_in_cookies_listing_says_so_and_ending_still_works() {
    let provider = TestProvider::start().await;
    let port = served(&provider, "cookie").await;
    let (browser, _) = support::browser_logged_in(&provider, port).await;
    assert_eq!(sessions_of(&browser, port).await, Value::Null);
    assert_eq!(post(&browser, port, "/sessions/end-all").await.0, 200);
    assert!(support::browser_page(&browser, port).await.is_none());
}

#[rocket::async_test]
async fn a_redis_session_store_without_redis_url_is_a_configuration_error() {
    let provider = TestProvider::start().await;
    let error = rocket_openidconnect::OidcConfig::from_figment(&figment(&provider, "redis"))
        .expect_err("refused")
        .to_string();
    assert!(error.contains("oidc.session_store"), "{error}");
}

#[rocket::async_test]
async fn a_session_kept_in_memory_rolls_with_use_and_ends_when_idle() {
    let provider = TestProvider::start().await;
    let figment = figment(&provider, "memory").merge(("oidc.session_inactivity_timeout", 3));
    let client = client_with(figment).await;
    let login = provider.login(&client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    assert!(login.cookies.iter().any(|c| c == "oidc_session.id"));
    support::assert_inactivity_rolls_then_ends(&client, 3).await;
}

/// A back-channel logout of one provider session deletes that session's entry in Redis (the
/// user's other sessions stay), and with `revoke_tokens_on_logout` revokes its tokens at the
/// provider, after the provider got its answer.
#[rocket::async_test]
async fn a_back_channel_logout_deletes_the_stored_session_and_revokes_its_tokens() {
    let redis_port = support::free_port();
    let redis = support::redis::Redis::start(redis_port).await;
    let provider = TestProvider::start().await;
    provider.set_user("alice", json!({}));
    let figment = figment(&provider, "redis")
        .merge(("oidc.redis_url", redis.url()))
        .merge(("oidc.providers.default.revoke_tokens_on_logout", true));
    let rocket = rocket::custom(figment)
        .attach(OpenIdConnect::fairing())
        .mount("/", support::session_routes::routes());
    let port = support::serve_rocket(rocket, 0).await;
    let (first, _) = support::browser_logged_in(&provider, port).await;
    let (second, claims) = support::browser_logged_in(&provider, port).await;
    assert_eq!(sessions_of(&first, port).await.as_array().unwrap().len(), 2);
    let sid = claims["sid"]
        .as_str()
        .expect("a provider session id")
        .to_owned();
    let stored = || support::redis::cli(redis_port, &["--scan", "--pattern", "*session:*"]);
    assert_eq!(stored().await.lines().count(), 2);

    let revocations = provider.hits().revocation;
    let token = provider.logout_token(serde_json::Map::new(), |c| {
        c.insert("sub".into(), "alice".into());
        c.insert("sid".into(), sid.into());
    });
    let answer = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/backchannel_logout"))
        .form(&[("logout_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(support::browser_page(&second, port).await.is_none());
    assert!(support::browser_page(&first, port).await.is_some());
    // The ended session's entry is gone from the store (not only refused and unlisted).
    assert_eq!(sessions_of(&first, port).await.as_array().unwrap().len(), 1);
    let entries = stored().await;
    assert_eq!(entries.lines().count(), 1, "{entries}");
    support::eventually(
        "the ended session's tokens revoked at the provider",
        support::PATIENCE,
        || (provider.hits().revocation > revocations).then_some(()),
    )
    .await;
}
