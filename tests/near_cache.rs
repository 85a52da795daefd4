//! The near cache in front of Redis (`near_cache = true`), with two instances sharing a Redis
//! server the test starts: a busy session is answered on instance B without a Redis round
//! trip per request; a logout on A is refused on B within the cache's one second (announced
//! through Redis pub/sub: in milliseconds); while Redis does not answer, B answers 503, and the
//! session works again once Redis is back; without the announcements the cache is not used.
//! Every way a session ends on A reaches B's cache: RP-initiated logout, back-channel logout,
//! and `OidcSessions` (one session, or all of a user's).

mod support;

use std::time::{Duration, Instant};

use rocket::figment::Figment;
use rocket::http::{Accept, ContentType, Cookie, Status};
use rocket::local::asynchronous::Client;
use rocket_openidconnect::testing::TestProvider;
use rocket_openidconnect::OpenIdConnect;
use serde_json::json;
use support::redis::Redis;

const SECRET_KEY: &str =
    "GIlLiBWeDA0JCRqy4gbyD+4fjB5Eq9ajakg69W7Op5/2/vFVwVadLP/2h4L3CNxAHNqv1Qs6+QL2lWQakz/jQw==";

fn instance(provider: &TestProvider, redis: &Redis) -> Figment {
    provider
        .app_figment()
        .merge(("secret_key", SECRET_KEY))
        .merge(("oidc.redis_url", redis.url()))
        .merge(("oidc.session_store", "redis"))
        .merge(("oidc.near_cache", true))
        .merge(("oidc.http_timeout", 1))
}

/// How many `MGET`s Redis has served.
async fn mgets(redis: &Redis) -> usize {
    support::redis::mget_calls(&[redis.port]).await
}

async fn two_instances(
    provider: &TestProvider,
    redis: &Redis,
) -> (Client, Client, Vec<Cookie<'static>>) {
    let a = Client::tracked(support::example_app(instance(provider, redis)))
        .await
        .unwrap();
    let b = Client::untracked(support::example_app(instance(provider, redis)))
        .await
        .unwrap();
    let login = provider.login(&a, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    let cookies = a.cookies().iter().cloned().collect();
    (a, b, cookies)
}

#[rocket::async_test]
async fn a_busy_session_is_not_a_redis_round_trip_per_request_and_a_logout_reaches_b_within_a_second(
) {
    let redis = Redis::start(support::free_port()).await;
    let provider = TestProvider::start().await;
    provider.set_user("nina", json!({}));
    let (a, b, cookies) = two_instances(&provider, &redis).await;
    assert_eq!(support::page_with(&b, &cookies).await, Status::Ok);
    // Twenty requests: without the near cache, two MGETs each (the session, its records).
    // (B follows the announcements from its start on; until it does, it reads from Redis.)
    support::eventually_async("B's near cache serves", Duration::from_secs(10), || async {
        let before = mgets(&redis).await;
        let started = Instant::now();
        for _ in 0..20 {
            assert_eq!(support::page_with(&b, &cookies).await, Status::Ok);
        }
        let seconds = started.elapsed().as_secs() as usize + 1;
        let used = mgets(&redis).await - before;
        (used <= 2 * seconds).then_some(())
    })
    .await;
    // A logout on A: B refuses the session once its cached records are older than a second.
    let logout = a.get("/logout").header(Accept::HTML).dispatch().await;
    assert!(logout.status() == Status::SeeOther || logout.status() == Status::Ok);
    support::refused_soon(&b, &cookies, Instant::now()).await;
}

#[rocket::async_test]
async fn while_redis_does_not_answer_nothing_cached_is_trusted_and_then_it_works_again() {
    let redis = Redis::start(support::free_port()).await;
    let provider = TestProvider::start().await;
    provider.set_user("omar", json!({}));
    let (_a, b, cookies) = two_instances(&provider, &redis).await;
    assert_eq!(
        support::page_with(&b, &cookies).await,
        Status::Ok,
        "cached on B"
    );
    // Redis stops answering (its clients paused) for four seconds.
    let paused = tokio::process::Command::new("redis-cli")
        .args([
            "-p",
            &redis.port.to_string(),
            "client",
            "pause",
            "4000",
            "all",
        ])
        .output()
        .await
        .unwrap();
    assert!(paused.status.success());
    support::eventually_async("B answers 503", Duration::from_secs(3), || async {
        (support::page_with(&b, &cookies).await == Status::ServiceUnavailable).then_some(())
    })
    .await;
    support::eventually_async(
        "B serves the session again",
        Duration::from_secs(15),
        || async { (support::page_with(&b, &cookies).await == Status::Ok).then_some(()) },
    )
    .await;
}

#[rocket::async_test]
async fn redis_restarted_empties_the_near_cache_and_the_sessions_work_again_once_it_is_back() {
    let dir = std::env::temp_dir().join(format!("roidc-near-{}", support::free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut redis = Redis::start_persistent(support::free_port(), &dir).await;
    let provider = TestProvider::start().await;
    provider.set_user("sami", json!({}));
    let (_a, b, cookies) = two_instances(&provider, &redis).await;
    assert_eq!(
        support::page_with(&b, &cookies).await,
        Status::Ok,
        "cached on B"
    );
    // A second session, logged out on a third instance while Redis is up: never accepted
    // again on B.
    let a = Client::tracked(support::example_app(instance(&provider, &redis)))
        .await
        .unwrap();
    let login = provider.login(&a, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    let other: Vec<_> = a.cookies().iter().cloned().collect();
    assert_eq!(support::page_with(&b, &other).await, Status::Ok);
    a.get("/logout").header(Accept::HTML).dispatch().await;
    redis.restart(&dir).await;
    // The subscription broke: B's cache was emptied, so B asks Redis (back, with its data).
    support::eventually_async(
        "B serves the session again",
        Duration::from_secs(15),
        || async {
            let status = support::page_with(&b, &cookies).await;
            assert!(
                [Status::Ok, Status::ServiceUnavailable].contains(&status),
                "{status}"
            );
            (status == Status::Ok).then_some(())
        },
    )
    .await;
    assert_eq!(support::page_with(&b, &other).await, Status::Unauthorized);
    // And B's cache serves again (subscribed again).
    support::eventually_async("B's near cache serves", Duration::from_secs(10), || async {
        let before = mgets(&redis).await;
        for _ in 0..5 {
            assert_eq!(support::page_with(&b, &cookies).await, Status::Ok);
        }
        (mgets(&redis).await == before).then_some(())
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[rocket::async_test]
async fn without_the_announcements_the_cache_is_not_used_until_they_are_back() {
    let redis = Redis::start(support::free_port()).await;
    let provider = TestProvider::start().await;
    provider.set_user("quin", json!({}));
    let (_a, b, cookies) = two_instances(&provider, &redis).await;
    assert_eq!(support::page_with(&b, &cookies).await, Status::Ok);
    // The instances' subscriptions killed: B reads from Redis at every request meanwhile.
    let killed = tokio::process::Command::new("redis-cli")
        .args([
            "-p",
            &redis.port.to_string(),
            "client",
            "kill",
            "type",
            "pubsub",
        ])
        .output()
        .await
        .unwrap();
    assert!(killed.status.success());
    let before = mgets(&redis).await;
    assert_eq!(support::page_with(&b, &cookies).await, Status::Ok);
    assert_eq!(support::page_with(&b, &cookies).await, Status::Ok);
    let used = mgets(&redis).await - before;
    // (Unless B subscribed again in between: then at least the first request went to Redis.)
    assert!(
        used >= 2,
        "{used} MGETs for two requests without announcements"
    );
    // Subscribed again within a few seconds: the cache serves again.
    support::eventually_async(
        "B's cache serves again",
        Duration::from_secs(10),
        || async {
            let before = mgets(&redis).await;
            for _ in 0..5 {
                assert_eq!(support::page_with(&b, &cookies).await, Status::Ok);
            }
            (mgets(&redis).await - before <= 2).then_some(())
        },
    )
    .await;
}

fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[rocket::async_test]
async fn back_channel_logout_and_oidc_sessions_ends_reach_b_s_near_cache() {
    let redis = Redis::start(support::free_port()).await;
    let provider = TestProvider::start().await;
    provider.set_user("rosa", json!({}));
    // A: the fairing and routes that end sessions; B: the example app; both near-cached.
    let a = Client::tracked(
        rocket::custom(instance(&provider, &redis))
            .attach(OpenIdConnect::fairing())
            .mount("/", support::session_routes::routes()),
    )
    .await
    .unwrap();
    let b = Client::untracked(support::example_app(instance(&provider, &redis)))
        .await
        .unwrap();
    let ways = [
        "OidcSessions::end",
        "OidcSessions::end_user",
        "back-channel logout",
    ];
    for way in ways {
        // Ending all of a user's sessions ends those that started up to its second (Unix time
        // in seconds): the next login waits for the next second.
        let second = now_millis() / 1_000;
        let rest = 1_000 - now_millis() % 1_000;
        tokio::time::sleep(Duration::from_millis(rest + 20)).await;
        assert!(now_millis() / 1_000 > second);
        a.get("/logout").dispatch().await;
        let login = provider.login(&a, "/").await;
        assert_eq!(login.status, Status::SeeOther, "{}", login.body);
        let cookies: Vec<_> = a.cookies().iter().cloned().collect();
        // B serves this session from its cache.
        support::eventually_async("B's near cache serves", Duration::from_secs(10), || async {
            assert_eq!(support::page_with(&b, &cookies).await, Status::Ok, "{way}");
            let before = mgets(&redis).await;
            for _ in 0..5 {
                assert_eq!(support::page_with(&b, &cookies).await, Status::Ok, "{way}");
            }
            (mgets(&redis).await == before).then_some(())
        })
        .await;
        let ended = match way {
            "back-channel logout" => {
                let token = provider.logout_token(serde_json::Map::new(), |c| {
                    c.insert("sub".into(), "rosa".into());
                });
                a.post("/backchannel_logout")
                    .header(ContentType::Form)
                    .body(format!("logout_token={token}"))
                    .dispatch()
                    .await
                    .status()
            }
            "OidcSessions::end" => {
                let listed = a.get("/sessions").header(Accept::JSON).dispatch().await;
                let listed: serde_json::Value =
                    serde_json::from_str(&listed.into_string().await.unwrap()).unwrap();
                assert_eq!(listed.as_array().map(Vec::len), Some(1), "{way}: {listed}");
                let id = listed[0]["id"].as_str().unwrap().to_owned();
                let answer = a.post(format!("/sessions/{id}/end")).dispatch().await;
                let status = answer.status();
                assert_eq!(answer.into_string().await.unwrap(), "true", "{way}");
                status
            }
            _ => a.post("/sessions/end-all").dispatch().await.status(),
        };
        assert_eq!(ended, Status::Ok, "{way}");
        let at = Instant::now();
        support::eventually_async(
            "B refuses the ended session",
            Duration::from_secs(5),
            || async {
                (support::page_with(&b, &cookies).await == Status::Unauthorized).then_some(())
            },
        )
        .await;
        eprintln!("{way} on A reached B after {:?}", at.elapsed());
    }
}

/// Measures how long a logout on A takes to reach B, over many trials (a figure for
/// docs/benchmarks.md; `bash benches/propagation.sh`, or `TRIALS=n cargo test --release
/// --all-features --test near_cache -- --ignored --nocapture`). One pair of instances; B is
/// first made to serve from its near cache (subscribed), then in every trial: a new login on
/// A, the session read on B (now in B's cache), a logout on A, and B asked every 0.2 ms until
/// it refuses.
#[rocket::async_test]
#[ignore = "a measurement"]
async fn measure_logout_propagation() {
    let trials: usize = std::env::var("TRIALS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(200);
    let redis = Redis::start(support::free_port()).await;
    let provider = TestProvider::start().await;
    provider.set_user("pia", json!({}));
    let (a, b, cookies) = two_instances(&provider, &redis).await;
    support::eventually_async("B's near cache serves", Duration::from_secs(10), || async {
        assert_eq!(support::page_with(&b, &cookies).await, Status::Ok);
        let before = mgets(&redis).await;
        for _ in 0..5 {
            assert_eq!(support::page_with(&b, &cookies).await, Status::Ok);
        }
        (mgets(&redis).await == before).then_some(())
    })
    .await;
    let mut times = Vec::new();
    for _ in 0..trials {
        a.get("/logout").dispatch().await;
        let login = provider.login(&a, "/").await;
        assert_eq!(login.status, Status::SeeOther, "{}", login.body);
        let cookies: Vec<_> = a.cookies().iter().cloned().collect();
        assert_eq!(support::page_with(&b, &cookies).await, Status::Ok);
        a.get("/logout").header(Accept::HTML).dispatch().await;
        let ended = Instant::now();
        while support::page_with(&b, &cookies).await != Status::Unauthorized {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        times.push(ended.elapsed());
    }
    times.sort();
    let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
    eprintln!(
        "logout propagation over {} trials: median {:?}, p99 {:?}, max {:?}",
        times.len(),
        times[times.len() / 2],
        p99,
        times[times.len() - 1]
    );
}
