//! The metrics (feature `metrics`), read back from a real recorder (the Prometheus exporter's,
//! installed for this test binary): logins started, completed and failed by reason, pending
//! logins, refreshes, logouts by channel, provider calls by endpoint (as many as the provider
//! served) with their durations, cache hits and misses; no label holds a token, a user name
//! or a value made up by a provider or a browser.
//!
//! One test: the recorder is global to the binary, so the steps run one after the other.

mod support;

use std::collections::BTreeMap;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rocket::http::{Accept, Status};
use rocket::local::asynchronous::Client;
use rocket_openidconnect::testing::TestProvider;
use serde_json::{json, Map, Value};

/// The series of the rendered text: name and labels, and value.
fn series(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a value");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let (k, v) = l.split_once('=').expect("label=value");
                    (k.to_owned(), v.trim_matches('"').to_owned())
                })
                .collect();
            (name.to_owned(), labels, value.parse().expect("a number"))
        })
        .collect()
}

/// The value of the series `name` with (at least) `labels`; 0 when there is none.
fn value(handle: &PrometheusHandle, name: &str, labels: &[(&str, &str)]) -> f64 {
    series(&handle.render())
        .into_iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

const P: (&str, &str) = ("provider", "default");

fn calls(handle: &PrometheusHandle, endpoint: &str) -> f64 {
    value(
        handle,
        "oidc_provider_requests_total",
        &[P, ("endpoint", endpoint)],
    )
}

/// Starts a login at `/` and returns its `state`.
async fn start_login(client: &Client) -> String {
    let start = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(start.status(), Status::SeeOther);
    let location = start.headers().get_one("Location").unwrap();
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("a state")
}

#[rocket::async_test]
async fn every_metric_is_recorded_with_bounded_labels() {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .expect("the only recorder of this binary");
    let provider = TestProvider::start().await;
    provider.set_user("metrics-user-ann", json!({"email": "ann@example.com"}));
    let client = support::client(&provider).await;

    // A login: started, completed, nothing pending afterwards; every provider call counted
    // once, as the provider saw it, and timed.
    let login = provider.login(&client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    assert_eq!(value(&handle, "oidc_logins_started_total", &[P]), 1.0);
    assert_eq!(value(&handle, "oidc_logins_completed_total", &[P]), 1.0);
    assert_eq!(value(&handle, "oidc_pending_logins", &[P]), 0.0);
    let hits = provider.hits();
    assert_eq!(calls(&handle, "discovery"), hits.discovery as f64);
    assert_eq!(calls(&handle, "jwks"), hits.jwks as f64);
    assert_eq!(calls(&handle, "token"), 1.0);
    assert_eq!(calls(&handle, "userinfo"), 1.0);
    let success = ("outcome", "success");
    assert_eq!(
        value(&handle, "oidc_provider_requests_total", &[P, success]),
        (hits.discovery + hits.jwks + 2) as f64
    );
    assert_eq!(
        value(
            &handle,
            "oidc_provider_request_duration_seconds_count",
            &[P, ("endpoint", "token")]
        ),
        1.0
    );

    // The session cache: the first request after the login decodes the cookies (a miss),
    // the next ones find them (hits).
    let session = [("cache", "session")];
    let misses = value(&handle, "oidc_cache_misses_total", &session);
    let hits_before = value(&handle, "oidc_cache_hits_total", &session);
    for _ in 0..3 {
        assert_eq!(
            support::json_page(&client, "/", Accept::JSON).await.0,
            Status::Ok
        );
    }
    assert_eq!(
        value(&handle, "oidc_cache_misses_total", &session),
        misses + 1.0
    );
    assert_eq!(
        value(&handle, "oidc_cache_hits_total", &session),
        hits_before + 2.0
    );

    // A refresh.
    let refreshed = client
        .get("/token?force=true")
        .header(Accept::JSON)
        .dispatch()
        .await;
    assert_eq!(refreshed.status(), Status::Ok);
    assert_eq!(
        value(
            &handle,
            "oidc_refreshes_total",
            &[P, ("outcome", "success")]
        ),
        1.0
    );
    assert_eq!(provider.hits().refresh, 1);

    // A logout through the logout route.
    client.get("/logout").header(Accept::HTML).dispatch().await;
    assert_eq!(
        value(
            &handle,
            "oidc_logouts_total",
            &[P, ("channel", "rp_initiated")]
        ),
        1.0
    );

    // Failed logins, by reason: the provider refuses (a standard error), the provider sends
    // a made-up error (counted as `other`: labels never hold outside text), an ID token for
    // another audience. Logins started and not finished are pending.
    let state = start_login(&client).await;
    assert_eq!(value(&handle, "oidc_pending_logins", &[P]), 1.0);
    let refused = client
        .get(format!(
            "/redirect_uri?error=access_denied&state={state}&iss={}",
            provider.issuer()
        ))
        .dispatch()
        .await;
    assert_eq!(refused.status(), Status::BadRequest);
    assert_eq!(
        value(
            &handle,
            "oidc_logins_failed_total",
            &[P, ("reason", "access_denied")]
        ),
        1.0
    );
    let state = start_login(&client).await;
    client
        .get(format!(
            "/redirect_uri?error=evil%22%7Dinjected&error_description=x&state={state}&iss={}",
            provider.issuer()
        ))
        .dispatch()
        .await;
    assert_eq!(
        value(
            &handle,
            "oidc_logins_failed_total",
            &[P, ("reason", "other")]
        ),
        1.0
    );
    provider.configure(|b| {
        b.id_token_claims = Some(std::sync::Arc::new(|c: &mut Map<String, Value>| {
            c.insert("aud".into(), "someone-else".into());
        }))
    });
    let bad = provider.login(&client, "/").await;
    assert_ne!(bad.status, Status::SeeOther);
    assert_eq!(
        value(
            &handle,
            "oidc_logins_failed_total",
            &[P, ("reason", "invalid_id_token")]
        ),
        1.0
    );
    assert_eq!(value(&handle, "oidc_pending_logins", &[P]), 0.0);
    let _unfinished = start_login(&client).await;
    assert_eq!(value(&handle, "oidc_pending_logins", &[P]), 1.0);
    assert_eq!(value(&handle, "oidc_logins_started_total", &[P]), 5.0);
    assert_eq!(value(&handle, "oidc_logins_completed_total", &[P]), 1.0);

    // No label holds a user, a claim, a token or outside text.
    let text = handle.render();
    for secret in provider.issued_tokens() {
        assert!(!text.contains(&secret), "a token in the metrics");
    }
    for forbidden in ["metrics-user-ann", "ann@example.com", "evil", "injected"] {
        assert!(
            !text.contains(forbidden),
            "{forbidden} in the metrics:\n{text}"
        );
    }
    let labels: Vec<String> = series(&text)
        .into_iter()
        .flat_map(|(_, labels, _)| labels.into_keys())
        .collect();
    for label in labels {
        assert!(
            ["provider", "reason", "outcome", "channel", "endpoint", "cache", "quantile"]
                .contains(&label.as_str()),
            "unexpected label {label}"
        );
    }
}
