//! Several instances of the application sharing a real Redis (`redis-server`, started on a free
//! loopback port): a login completes on any instance, a session is used on any instance, a
//! provider's logout reaches one instance and ends the session on all, a replayed callback is
//! refused by every instance; and Redis going down gives 503 on protected routes (public ones
//! keep working) until it is back.

#[path = "support/real_op.rs"]
mod real_op;
mod support;

use support::redis::Redis;

use std::time::Duration;

use reqwest::cookie::CookieStore;
use reqwest::header::{ACCEPT, COOKIE, LOCATION, SET_COOKIE};
use rocket::figment::Figment;
use rocket_openidconnect::testing::TestProvider;
use rocket_openidconnect::OpenIdConnect;
use serde_json::{json, Map, Value};

/// The example app's configuration for one instance: the provider's, a shared secret key (the
/// cookies of one instance are read by the others) and the shared Redis.
fn instance(provider: &TestProvider, secret_key: &str, redis_url: &str) -> Figment {
    provider
        .app_figment()
        .merge(("secret_key", secret_key))
        .merge(("oidc.redis_url", redis_url))
        .merge(("oidc.http_timeout", 1))
}

const SECRET_KEY: &str =
    "GIlLiBWeDA0JCRqy4gbyD+4fjB5Eq9ajakg69W7Op5/2/vFVwVadLP/2h4L3CNxAHNqv1Qs6+QL2lWQakz/jQw==";

#[rocket::async_test]
async fn two_instances_share_logins_sessions_logouts_and_replay_records() {
    let redis = Redis::start(support::free_port()).await;
    let provider = TestProvider::start().await;
    provider.set_user("alice", json!({}));
    // A broken provider that redeems a code twice: a replayed callback can only be refused by
    // the state, recorded as used in Redis, never by the provider.
    provider.configure(|b| b.reusable_codes = true);
    let a = support::serve(instance(&provider, SECRET_KEY, &redis.url())).await;
    let b = support::serve(instance(&provider, SECRET_KEY, &redis.url())).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // The login starts on A, and the provider's answer lands on B.
    let start = http
        .get(format!("http://127.0.0.1:{a}/"))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    let pending: Vec<String> = start
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect();
    let authorize = start.headers()[LOCATION].to_str().unwrap().to_owned();
    let callback = url::Url::parse(&provider.authorize(&authorize).await).unwrap();
    let callback_on = |port: u16| {
        format!(
            "http://127.0.0.1:{port}{}?{}",
            callback.path(),
            callback.query().unwrap()
        )
    };
    let done = http
        .get(callback_on(b))
        .header(COOKIE, pending.join("; "))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    let session: Vec<String> = done
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .filter(|c| c.starts_with("oidc_session.") && !c.ends_with('='))
        .collect();
    assert!(!session.is_empty());
    assert_eq!(provider.hits().token, 1);

    // The same callback with the same pending-login cookie, replayed on A: refused by its state,
    // which B recorded as used in Redis (A never saw it); the code is not sent again.
    let replay = http
        .get(callback_on(a))
        .header(COOKIE, pending.join("; "))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    let replay_status = replay.status();
    assert!(replay
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .all(|c| !c.to_str().unwrap().starts_with("oidc_session.0=")));
    let replay_body = replay.text().await.unwrap();
    assert_eq!(replay_status, 400, "{replay_body}");
    assert!(replay_body.contains("invalid_state"), "{replay_body}");
    assert!(replay_body.contains("already used"), "{replay_body}");
    assert_eq!(
        provider.hits().token,
        1,
        "the replayed code reached the token endpoint"
    );

    // The session works on both instances.
    let page = |port: u16| {
        let http = http.clone();
        let cookies = session.join("; ");
        async move {
            http.get(format!("http://127.0.0.1:{port}/"))
                .header(ACCEPT, "application/json")
                .header(COOKIE, cookies)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!((page(a).await, page(b).await), (200, 200));

    // The provider ends the user's sessions through B: gone on A too.
    let token = provider.logout_token(Map::new(), |c| drop(c.insert("sub".into(), "alice".into())));

    let logout = http
        .post(format!("http://127.0.0.1:{b}/backchannel_logout"))
        .form(&[("logout_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 200);
    assert_eq!((page(a).await, page(b).await), (401, 401));
    // The same logout token, replayed on A: refused (its `jti` is recorded in Redis).
    let replayed = http
        .post(format!("http://127.0.0.1:{a}/backchannel_logout"))
        .form(&[("logout_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), 400);
}

#[rocket::async_test]
async fn redis_down_means_503_on_protected_routes_public_ones_work_and_it_recovers() {
    let port = support::free_port();
    let redis = Redis::start(port).await;
    let provider = TestProvider::start().await;
    let app = support::serve(instance(&provider, SECRET_KEY, &redis.url())).await;
    let (browser, _) = support::browser_logged_in(&provider, app).await;
    let get = |path: &'static str| {
        let browser = browser.clone();
        async move {
            browser
                .get(format!("http://127.0.0.1:{app}{path}"))
                .header(ACCEPT, "application/json")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(get("/").await, 200);

    drop(redis);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Never a silent login or logout: the session cannot be checked, so 503, by the error
    // view.
    assert_eq!(get("/").await, 503);
    let page = browser
        .get(format!("http://127.0.0.1:{app}/"))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 503);
    assert!(page.headers().get(LOCATION).is_none(), "no login started");
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("temporarily_unavailable"));
    assert_eq!(get("/public").await, 200);

    let _redis = Redis::start(port).await;
    let mut status = 0;
    for _ in 0..50 {
        status = get("/").await;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "no recovery after Redis came back");
}

#[rocket::async_test]
async fn a_logout_at_the_real_provider_reaches_one_instance_and_ends_the_session_on_both() {
    let redis = Redis::start(support::free_port()).await;
    let (a, b) = (support::free_port(), support::free_port());
    let callback = format!("http://127.0.0.1:{a}/redirect_uri");
    let backchannel = format!("http://127.0.0.1:{b}/backchannel_logout");
    let op = real_op::RealOp::start_with_env(
        "rocket-redis",
        "redis-secret-5b1c",
        &[&callback],
        &[],
        "client_secret_basic",
        &[("BACKCHANNEL_LOGOUT_URI", &backchannel)],
    )
    .await;
    let figment = |port: u16| {
        Figment::from(rocket::Config::debug_default())
            .merge(("secret_key", SECRET_KEY))
            .merge(("oidc.base_url", format!("http://127.0.0.1:{a}")))
            .merge(("oidc.redis_url", redis.url()))
            .merge((
                "oidc.providers.default",
                json!({
                    "issuer": op.issuer,
                    "client_id": "rocket-redis",
                    "client_secret": "redis-secret-5b1c",
                }),
            ))
            .merge(("port", port))
    };
    support::serve_on(figment(a), a).await;
    support::serve_on(figment(b), b).await;

    // Log in on A through the provider's pages.
    let browser = || {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    };
    let (app_browser, op_browser) = (browser(), browser());
    let start = app_browser
        .get(format!("http://127.0.0.1:{a}/"))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    let authorize = start.headers()[LOCATION].to_str().unwrap().to_owned();
    let back = real_op::dev_login(&op_browser, &authorize, "alice", &callback).await;
    let done = app_browser
        .get(&back)
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    assert!(support::browser_page(&app_browser, a).await.is_some());
    assert!(support::browser_page(&app_browser, b).await.is_some());

    // The user logs out at the provider; its logout token goes to B; A ends the session too.
    // (The provider logs the delivery once B has answered; the line reaches this process a
    // little later.)
    real_op::end_provider_session(&op_browser, &op.issuer).await;
    support::eventually(
        "the provider's log line `OP backchannel.success` (a back-channel logout delivered)",
        support::PATIENCE,
        || op.stderr().contains("OP backchannel.success").then_some(()),
    )
    .await;
    assert!(
        !op.stderr().contains("OP backchannel.error"),
        "{}",
        op.stderr()
    );
    assert!(support::browser_page(&app_browser, a).await.is_none());
    assert!(support::browser_page(&app_browser, b).await.is_none());
}

#[rocket::async_test]
async fn sessions_kept_in_redis_are_used_on_every_instance() {
    let port = support::free_port();
    let redis = Redis::start(port).await;
    let provider = TestProvider::start().await;
    let figment =
        || instance(&provider, SECRET_KEY, &redis.url()).merge(("oidc.session_store", "redis"));
    let a = support::serve(figment()).await;
    let b = support::serve(figment()).await;
    let (browser, jar, claims) = support::browser_logged_in_with_jar(&provider, a).await;
    let on_b = support::browser_page(&browser, b)
        .await
        .expect("the session on B");
    assert_eq!(on_b["id_token"]["sub"], claims["sub"]);
    // A copy of the browser's cookies (the logout below removes them from its jar, so the
    // browser itself would prove nothing on A): a working session on A.
    let app_a = url::Url::parse(&format!("http://127.0.0.1:{a}/")).unwrap();
    let saved = jar
        .cookies(&app_a)
        .expect("the browser's cookies")
        .to_str()
        .unwrap()
        .to_owned();
    let page_with_saved = |port: u16| {
        let saved = saved.clone();
        async move {
            reqwest::Client::new()
                .get(format!("http://127.0.0.1:{port}/"))
                .header(ACCEPT, "application/json")
                .header(COOKIE, saved)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(page_with_saved(a).await, 200, "the saved copy is a session");
    // Logout on B: gone on A as well (the session was deleted from Redis), even for the copy.
    let logout = browser
        .get(format!("http://127.0.0.1:{b}/logout"))
        .send()
        .await
        .unwrap();
    assert!(logout.status().is_redirection() || logout.status().is_success());
    assert!(support::browser_page(&browser, a).await.is_none());
    assert_eq!(
        page_with_saved(a).await,
        401,
        "the session still works on A with a copy of its cookies"
    );

    // Redis down: 503, never a session or an anonymous answer.
    let (browser, _) = support::browser_logged_in(&provider, a).await;
    drop(redis);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = browser
        .get(format!("http://127.0.0.1:{b}/"))
        .header(ACCEPT, "application/json")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 503);
    // A logout now cannot be complete: it says so (503), it does not claim success.
    let logout = browser
        .get(format!("http://127.0.0.1:{b}/logout"))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 503);
}

#[rocket::async_test]
async fn a_session_kept_in_redis_rolls_with_use_and_ends_when_idle() {
    let redis = Redis::start(support::free_port()).await;
    let provider = TestProvider::start().await;
    let figment = instance(&provider, SECRET_KEY, &redis.url())
        .merge(("oidc.session_store", "redis"))
        .merge(("oidc.session_inactivity_timeout", 3));
    let client = support::client_with(figment).await;
    let login = provider.login(&client, "/").await;
    assert_eq!(login.status.code, 303, "{}", login.body);
    assert!(login.cookies.iter().any(|c| c == "oidc_session.id"));
    support::assert_inactivity_rolls_then_ends(&client, 3).await;
}

/// An instance with sessions in the shared Redis and the session routes, served on a free port.
async fn instance_with_session_routes(provider: &TestProvider, redis_url: &str) -> u16 {
    let figment = instance(provider, SECRET_KEY, redis_url).merge(("oidc.session_store", "redis"));
    let rocket = rocket::custom(figment)
        .attach(OpenIdConnect::fairing())
        .mount("/", support::session_routes::routes());
    support::serve_rocket(rocket, 0).await
}

/// The handles of the sessions of `browser`'s user, as the instance on `port` lists them.
async fn session_ids(browser: &reqwest::Client, port: u16) -> Vec<String> {
    let page = browser
        .get(format!("http://127.0.0.1:{port}/sessions"))
        .header(ACCEPT, "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let listed: Value = serde_json::from_str(&page.text().await.unwrap()).unwrap();
    let mut ids: Vec<String> = listed
        .as_array()
        .unwrap_or_else(|| panic!("sessions on the server are listed: {listed}"))
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// A POST by `browser` to `path` on the instance on `port`: the status and the body.
async fn post_as(browser: &reqwest::Client, port: u16, path: &str) -> (u16, String) {
    let response = browser
        .post(format!("http://127.0.0.1:{port}{path}"))
        .header(ACCEPT, "application/json")
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[rocket::async_test]
async fn sessions_in_redis_are_listed_and_ended_from_any_instance() {
    let redis = Redis::start(support::free_port()).await;
    let provider = TestProvider::start().await;
    provider.set_user("alice", json!({}));
    let a = instance_with_session_routes(&provider, &redis.url()).await;
    let b = instance_with_session_routes(&provider, &redis.url()).await;
    // Alice logs in on A, then (another browser) on B; Bob on B.
    let (alice_on_a, _) = support::browser_logged_in(&provider, a).await;
    let first = session_ids(&alice_on_a, a).await;
    assert_eq!(first.len(), 1, "{first:?}");
    let (alice_on_b, _) = support::browser_logged_in(&provider, b).await;
    provider.set_user("bob", json!({}));
    let (bob, _) = support::browser_logged_in(&provider, b).await;

    // Both of Alice's sessions, listed alike by either instance (the index is in Redis).
    let listed = session_ids(&alice_on_a, a).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(session_ids(&alice_on_b, b).await, listed);
    assert_eq!(session_ids(&alice_on_a, b).await, listed);
    assert_eq!(session_ids(&bob, a).await.len(), 1);
    let made_on_b = listed
        .iter()
        .find(|id| **id != first[0])
        .expect("the session made on B")
        .clone();

    // A ends the session made on B: gone on both instances; the other one stays.
    assert_eq!(
        post_as(&alice_on_a, a, &format!("/sessions/{made_on_b}/end")).await,
        (200, "true".into())
    );
    assert!(support::browser_page(&alice_on_b, b).await.is_none());
    assert!(support::browser_page(&alice_on_b, a).await.is_none());
    assert!(support::browser_page(&alice_on_a, b).await.is_some());
    assert_eq!(session_ids(&alice_on_a, b).await, first);

    // B ends all of Alice's sessions: her session on A is gone; Bob's stays.
    assert_eq!(post_as(&alice_on_a, b, "/sessions/end-all").await.0, 200);
    assert!(support::browser_page(&alice_on_a, a).await.is_none());
    assert!(support::browser_page(&alice_on_a, b).await.is_none());
    assert!(support::browser_page(&bob, a).await.is_some());
    assert_eq!(session_ids(&bob, b).await.len(), 1);
}

/// A key rotation with sessions kept in Redis (`previous_secret_keys`): the stored session and
/// its id cookie, sealed under the old key, are read by an instance with the new key and
/// sealed again under it on that use, so that an instance without the old key reads them; a
/// session not used meanwhile is not readable there.
#[rocket::async_test]
async fn sessions_kept_in_redis_are_sealed_again_under_a_new_secret_key() {
    let redis = Redis::start(support::free_port()).await;
    let provider = TestProvider::start().await;
    const NEW_KEY: &str = "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk=";
    let figment = |key: &str, previous: &[&str]| {
        instance(&provider, key, &redis.url())
            .merge(("oidc.session_store", "redis"))
            .merge(("oidc.previous_secret_keys", previous))
    };
    let before = support::serve(figment(SECRET_KEY, &[])).await;
    let rotated = support::serve(figment(NEW_KEY, &[SECRET_KEY])).await;
    let new_only = support::serve(figment(NEW_KEY, &[])).await;
    let (used, claims) = support::browser_logged_in(&provider, before).await;
    let (idle, _) = support::browser_logged_in(&provider, before).await;

    let on_rotated = support::browser_page(&used, rotated).await;
    assert_eq!(
        on_rotated.expect("read under the old key")["id_token"]["sub"],
        claims["sub"]
    );
    let on_new = support::browser_page(&used, new_only).await;
    assert_eq!(
        on_new.expect("sealed again under the new key")["id_token"]["sub"],
        claims["sub"]
    );
    assert!(support::browser_page(&idle, new_only).await.is_none());
    assert!(support::browser_page(&idle, rotated).await.is_some());
}
