//! Sessions and records in a Redis Cluster (`redis_cluster_nodes`), on a three-node cluster the
//! test starts itself: a login on instance A is used on instance B, the session's entry and
//! the one-time values are spread over the cluster's slots, and a logout on A ends the
//! session on B; listing and ending a user's sessions work across slots.

mod support;

use rocket::figment::Figment;
use rocket::http::{Accept, Status};
use rocket::local::asynchronous::Client;
use rocket_openidconnect::testing::TestProvider;
use serde_json::json;
use support::redis::RedisCluster;

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

/// `GET /` on `client` with `cookies` (none of its own): the status.
async fn page_with(client: &Client, cookies: &[rocket::http::Cookie<'static>]) -> Status {
    let mut request = client.get("/").header(Accept::JSON);
    for cookie in cookies {
        request = request.cookie(cookie.clone());
    }
    request.dispatch().await.status()
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
        page_with(&b, &cookies).await,
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
    assert_eq!(page_with(&b, &cookies).await, Status::Unauthorized);
}
