//! Sessions and records in a Redis Cluster (`redis_cluster_nodes`), on a three-node cluster the
//! test starts itself: a login on instance A is used on instance B, the session's entry and
//! the one-time values are spread over the cluster's slots, and a logout on A ends the
//! session on B; listing and ending a user's sessions work across slots. With replicas, a
//! primary killed mid-run gives 503s (never a wrong answer), the cluster recovers by itself
//! and a session logged out before the kill stays logged out. Near caches on a cluster follow
//! the other instances' announcements (pub/sub, which a cluster forwards to every node).

mod support;

use rocket::figment::Figment;
use rocket::http::{Accept, Status};
use rocket::local::asynchronous::Client;
use rocket_openidconnect::testing::TestProvider;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rocket::http::Cookie;
use support::redis::{cli, RedisCluster};

const SECRET_KEY: &str =
    "GIlLiBWeDA0JCRqy4gbyD+4fjB5Eq9ajakg69W7Op5/2/vFVwVadLP/2h4L3CNxAHNqv1Qs6+QL2lWQakz/jQw==";

fn instance(provider: &TestProvider, cluster: &RedisCluster) -> Figment {
    provider
        .app_figment()
        .merge(("secret_key", SECRET_KEY))
        .merge(("oidc.session_store", "redis"))
        .merge(("oidc.redis_cluster_nodes", cluster.urls()))
        .merge(("oidc.http_timeout", 2))
}

#[rocket::async_test]
async fn sessions_in_a_redis_cluster_are_shared_and_a_logout_ends_them_everywhere() {
    let cluster = RedisCluster::start().await;
    let provider = TestProvider::start().await;
    provider.set_user("carla", json!({}));
    let a = Client::tracked(support::example_app(instance(&provider, &cluster)))
        .await
        .unwrap();
    let b = Client::untracked(support::example_app(instance(&provider, &cluster)))
        .await
        .unwrap();
    // Several logins: their keys land on different slots, hence nodes.
    for _ in 0..3 {
        a.get("/logout").dispatch().await;
        let login = provider.login(&a, "/").await;
        assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    }
    let cookies: Vec<_> = a.cookies().iter().cloned().collect();
    let session_cookie_bytes: usize = cookies
        .iter()
        .filter(|c| c.name().starts_with("oidc_session"))
        .map(|c| c.value().len())
        .sum();
    assert!(
        session_cookie_bytes < 200,
        "only an id in the cookie: {session_cookie_bytes}"
    );
    assert_eq!(
        support::page_with(&b, &cookies).await,
        Status::Ok,
        "the session on B"
    );
    // The keys are spread over the nodes.
    let mut nodes_with_keys = 0;
    for port in &cluster.ports {
        let out = tokio::process::Command::new("redis-cli")
            .args(["-p", &port.to_string(), "dbsize"])
            .output()
            .await
            .unwrap();
        let count: usize = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        nodes_with_keys += usize::from(count > 0);
    }
    assert!(nodes_with_keys >= 2, "keys on {nodes_with_keys} node(s)");
    // Logout on A: B refuses the same cookies.
    let logout = a.get("/logout").header(Accept::HTML).dispatch().await;
    assert!(logout.status() == Status::SeeOther || logout.status() == Status::Ok);
    assert_eq!(support::page_with(&b, &cookies).await, Status::Unauthorized);
}

/// A tracked client of a new instance with `figment`, logged in once: its cookies.
async fn logged_in(provider: &TestProvider, figment: Figment) -> (Client, Vec<Cookie<'static>>) {
    let client = Client::tracked(support::example_app(figment))
        .await
        .unwrap();
    let login = provider.login(&client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    let cookies = client.cookies().iter().cloned().collect();
    (client, cookies)
}

/// The session entries on each primary.
async fn entries(cluster: &RedisCluster) -> BTreeMap<u16, Vec<String>> {
    let mut found = BTreeMap::new();
    for port in cluster.primaries().await {
        found.insert(
            port,
            cluster.keys(port, "rocket_openidconnect:session:*").await,
        );
    }
    found
}

#[rocket::async_test]
async fn a_primary_killed_mid_run_gives_503s_then_recovers_and_a_logged_out_session_stays_out() {
    failover(false).await;
}

#[rocket::async_test]
async fn with_near_caches_a_primary_killed_mid_run_is_recovered_from_as_well() {
    failover(true).await;
}

/// A login on one instance, another logged in and out; the primary that held the logged-out
/// session's entry killed; B (with a near cache if `near`) asked until it serves again.
async fn failover(near: bool) {
    let mut cluster = RedisCluster::start_with(1).await;
    let provider = TestProvider::start().await;
    provider.set_user("carla", json!({}));
    let figment = instance(&provider, &cluster).merge(("oidc.near_cache", near));
    let config = || figment.clone();
    let b = Client::untracked(support::example_app(config()))
        .await
        .unwrap();
    let (_a1, live) = logged_in(&provider, config()).await;
    let (a2, ended) = logged_in(&provider, config()).await;
    assert_eq!(support::page_with(&b, &live).await, Status::Ok);
    assert_eq!(support::page_with(&b, &ended).await, Status::Ok);
    // A logout: the node whose entry went is the one to kill, once its replica has the
    // deletion (a deletion the replica never received is lost at a failover: documented).
    let before = entries(&cluster).await;
    let logout = a2.get("/logout").header(Accept::HTML).dispatch().await;
    assert!(logout.status() == Status::SeeOther || logout.status() == Status::Ok);
    let after = entries(&cluster).await;
    let victim = *before
        .iter()
        .find(|(port, keys)| keys.len() > after[*port].len())
        .expect("the ended session's entry left a primary")
        .0;
    cluster.replicated(victim).await;
    // (With near caches, the logout reaches B's cache as an announcement.)
    support::eventually_async(
        "B refuses the ended session",
        Duration::from_secs(5),
        || async { (support::page_with(&b, &ended).await == Status::Unauthorized).then_some(()) },
    )
    .await;

    cluster.kill(victim).await;
    let killed = Instant::now();
    // Until the live session is served again: every answer is right or 503.
    let mut seen: BTreeMap<(&str, u16), usize> = BTreeMap::new();
    let recovered = loop {
        let live_status = support::page_with(&b, &live).await;
        let ended_status = support::page_with(&b, &ended).await;
        *seen.entry(("live", live_status.code)).or_default() += 1;
        *seen.entry(("ended", ended_status.code)).or_default() += 1;
        assert!(
            [Status::Ok, Status::ServiceUnavailable].contains(&live_status),
            "the live session got {live_status} during the failover"
        );
        assert!(
            [Status::Unauthorized, Status::ServiceUnavailable].contains(&ended_status),
            "the logged-out session got {ended_status} during the failover"
        );
        // (After a second: until then a near cache may answer from what it read before.)
        let settled = killed.elapsed() > Duration::from_millis(1_100);
        if settled && live_status == Status::Ok && ended_status == Status::Unauthorized {
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "no recovery within 60 s: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("recovered {recovered:?} after the kill; answers meanwhile: {seen:?}");
    cluster.healthy(victim).await;
    assert!(!cluster.primaries().await.contains(&victim));
    // Recovered for good: both sessions as they should be, and a new login and logout work.
    for _ in 0..5 {
        assert_eq!(support::page_with(&b, &live).await, Status::Ok);
        assert_eq!(support::page_with(&b, &ended).await, Status::Unauthorized);
    }
    let (a3, fresh) = logged_in(&provider, config()).await;
    assert_eq!(support::page_with(&b, &fresh).await, Status::Ok);
    a3.get("/logout").header(Accept::HTML).dispatch().await;
    // (With near caches within a second: the announcement may not get through while the
    // instances' views of the cluster settle; the one-second bound holds regardless.)
    support::eventually_async(
        "B refuses the session logged out after the failover",
        Duration::from_secs(5),
        || async { (support::page_with(&b, &fresh).await == Status::Unauthorized).then_some(()) },
    )
    .await;
}

/// How many `MGET`s the cluster's nodes have served.
async fn mgets(cluster: &RedisCluster) -> usize {
    support::redis::mget_calls(&cluster.ports).await
}

#[rocket::async_test]
async fn near_caches_on_a_cluster_follow_the_announcements_and_a_logout_reaches_the_other_instance()
{
    let cluster = RedisCluster::start().await;
    let provider = TestProvider::start().await;
    provider.set_user("dora", json!({}));
    let near =
        |provider: &TestProvider| instance(provider, &cluster).merge(("oidc.near_cache", true));
    let a = Client::tracked(support::example_app(near(&provider)))
        .await
        .unwrap();
    let b = Client::untracked(support::example_app(near(&provider)))
        .await
        .unwrap();
    let login = provider.login(&a, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    let cookies: Vec<_> = a.cookies().iter().cloned().collect();
    // Each instance subscribed on one of the nodes.
    support::eventually_async(
        "both instances subscribed",
        Duration::from_secs(10),
        || async {
            let mut subscribers = 0;
            for port in &cluster.ports {
                let out = cli(*port, &["pubsub", "numsub", "rocket_openidconnect:changed"]).await;
                subscribers += out
                    .lines()
                    .nth(1)
                    .and_then(|n| n.trim().parse::<usize>().ok())
                    .unwrap_or(0);
            }
            (subscribers >= 2).then_some(())
        },
    )
    .await;
    // B's near cache serves (it is used only while subscribed).
    support::eventually_async("B's near cache serves", Duration::from_secs(10), || async {
        let before = mgets(&cluster).await;
        let started = Instant::now();
        for _ in 0..20 {
            assert_eq!(support::page_with(&b, &cookies).await, Status::Ok);
        }
        let seconds = started.elapsed().as_secs() as usize + 1;
        // A session's records may lie on several slots: at most three MGETs a read.
        ((mgets(&cluster).await - before) <= 6 * seconds).then_some(())
    })
    .await;
    let logout = a.get("/logout").header(Accept::HTML).dispatch().await;
    assert!(logout.status() == Status::SeeOther || logout.status() == Status::Ok);
    support::refused_soon(&b, &cookies, Instant::now()).await;
}
