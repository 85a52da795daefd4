//! Load with real HTTP: 1,000 logins against the in-process provider, 100 at a time (0 errors,
//! bounded memory), then 10,000 authenticated requests with tampered session cookies mixed in
//! (none accepted, no server error). Correctness under load, not speed: nothing is timed here
//! (speed is in `benches/` and docs/benchmarks.md), and the timeouts leave room for a busy
//! machine (the application, the provider and the clients share one runtime thread).

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use reqwest::header::{ACCEPT, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use rocket_openidconnect::testing::TestProvider;
use serde_json::{json, Value};

/// Logins in all.
const LOGINS: usize = 1000;
/// Logins in flight at once.
const LOGINS_AT_ONCE: usize = 100;

/// The resident set size of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The `name=value` pairs a response sets (removals dropped).
fn set_cookies(response: &reqwest::Response) -> Vec<(String, String)> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .filter(|(_, value)| !value.is_empty())
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

fn cookie_header(cookies: &[(String, String)]) -> String {
    cookies
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One browser's login, with its own cookies: returns the session cookies.
async fn login(
    http: &reqwest::Client,
    app: &str,
    user: usize,
) -> Result<Vec<(String, String)>, String> {
    let start = http
        .get(format!("{app}/?user={user}"))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .map_err(|e| format!("start: {e}"))?;
    let pending = set_cookies(&start);
    let authorize = start
        .headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .ok_or(format!("start: {} without a Location", start.status()))?
        .to_owned();
    let back = http
        .get(&authorize)
        .send()
        .await
        .map_err(|e| format!("authorize: {e}"))?;
    let callback = back
        .headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .ok_or(format!("authorize: {}", back.status()))?;
    let callback = url::Url::parse(callback).map_err(|e| e.to_string())?;
    let done = http
        .get(format!(
            "{app}{}?{}",
            callback.path(),
            callback.query().unwrap_or_default()
        ))
        .header(COOKIE, cookie_header(&pending))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .map_err(|e| format!("callback: {e}"))?;
    if done.status() != 303 {
        return Err(format!("callback: {}", done.status()));
    }
    let session: Vec<_> = set_cookies(&done)
        .into_iter()
        .filter(|(n, _)| n.starts_with("oidc_session."))
        .collect();
    if session.is_empty() {
        return Err("callback: no session cookie".into());
    }
    Ok(session)
}

/// The protected page as an API request: 200 with the user's claims, or 401.
async fn whoami(http: &reqwest::Client, app: &str, cookies: &[(String, String)]) -> (u16, Value) {
    match http
        .get(format!("{app}/"))
        .header(ACCEPT, "application/json")
        .header(COOKIE, cookie_header(cookies))
        .send()
        .await
    {
        Ok(response) => {
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            let body = serde_json::from_str(&text).unwrap_or(Value::Null);
            (status, body)
        }
        Err(_) => (0, Value::Null),
    }
}

/// A copy of `cookies` (a session of two or more chunks) damaged in one of several ways (by
/// `kind`).
fn tampered(
    cookies: &[(String, String)],
    other: &[(String, String)],
    kind: usize,
) -> Vec<(String, String)> {
    let mut copy = cookies.to_vec();
    match kind % 5 {
        // One flipped character in a chunk.
        0 => {
            let value = &mut copy[0].1;
            let index = value.len() / 2;
            let flipped = if &value[index..=index] == "A" {
                "B"
            } else {
                "A"
            };
            value.replace_range(index..=index, flipped);
        }
        // Truncated.
        1 => {
            let value = &mut copy[0].1;
            value.truncate(value.len() - 5);
        }
        // A chunk of another user's session.
        2 => copy[0].1.clone_from(&other[0].1),
        // The chunks under each other's names.
        3 => {
            let first = copy[0].1.clone();
            copy[0].1 = copy[1].1.clone();
            copy[1].1 = first;
        }
        // The last chunk missing.
        _ => {
            copy.pop();
        }
    }
    copy
}

#[rocket::async_test]
async fn a_thousand_logins_100_at_a_time_then_10_000_requests_with_tampered_cookies() {
    let provider = TestProvider::start().await;
    // A user with large claims (in the ID token and in userinfo): sessions of several cookie
    // chunks, so that chunks of two sessions can be mixed and swapped below.
    provider.set_user("load-user", json!({ "note": "x".repeat(1500) }));
    // The provider shares this process's one runtime thread with the application and the
    // clients: under load its answers take long, which is no failure here.
    let figment = provider.app_figment().merge(("oidc.http_timeout", 120));
    let port = support::serve(figment).await;
    let app = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let rss_before = rss_kib();

    // 1,000 logins, 100 at a time, each with its own cookies.
    let next_login = Arc::new(AtomicUsize::new(0));
    let login_workers: Vec<_> = (0..LOGINS_AT_ONCE)
        .map(|_| {
            let (http, app, next) = (http.clone(), app.clone(), next_login.clone());
            rocket::tokio::spawn(async move {
                let mut results = Vec::new();
                loop {
                    let user = next.fetch_add(1, Ordering::Relaxed);
                    if user >= LOGINS {
                        break;
                    }
                    results.push(login(&http, &app, user).await);
                }
                results
            })
        })
        .collect();
    let mut sessions = Vec::new();
    let mut errors = Vec::new();
    for worker in login_workers {
        for result in worker.await.expect("a login worker") {
            match result {
                Ok(cookies) => sessions.push(cookies),
                Err(why) => errors.push(why),
            }
        }
    }
    assert!(
        errors.is_empty(),
        "{} failed logins, e.g. {:?}",
        errors.len(),
        &errors[..errors.len().min(3)]
    );
    assert_eq!(sessions.len(), LOGINS);
    assert_eq!(provider.hits().token, LOGINS);
    // Every session is in two or more chunks: the tampering below mixes chunks of two sessions
    // and swaps the chunks of one (which needs a second chunk), besides flipping, truncating
    // and dropping.
    let chunks: Vec<usize> = sessions.iter().map(Vec::len).collect();
    assert!(
        chunks.iter().all(|&n| (2..=10).contains(&n)),
        "sessions of 2 to 10 chunks expected, got chunk counts {:?}",
        &chunks[..chunks.len().min(10)]
    );
    let rss_after_logins = rss_kib();

    // 10,000 requests, every fifth with a damaged cookie; 32 at a time.
    let sessions = Arc::new(sessions);
    let accepted_tampered = Arc::new(AtomicUsize::new(0));
    let server_errors = Arc::new(AtomicUsize::new(0));
    let wrong_answers = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..32)
        .map(|_| {
            let (http, app, sessions) = (http.clone(), app.clone(), sessions.clone());
            let (accepted, errors, wrong, next) = (
                accepted_tampered.clone(),
                server_errors.clone(),
                wrong_answers.clone(),
                next.clone(),
            );
            rocket::tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= 10_000 {
                        break;
                    }
                    let session = &sessions[i % sessions.len()];
                    let bad = i % 5 == 0;
                    let cookies = if bad {
                        let other = &sessions[(i + 1) % sessions.len()];
                        tampered(session, other, i / 5)
                    } else {
                        session.clone()
                    };
                    let (status, body) = whoami(&http, &app, &cookies).await;
                    match (bad, status) {
                        (_, 0) | (_, 500..) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        (true, 200) => {
                            accepted.fetch_add(1, Ordering::Relaxed);
                        }
                        (true, 401) => {}
                        (false, 200) if body["id_token"]["sub"].is_string() => {}
                        _ => {
                            wrong.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("a request worker");
    }
    assert_eq!(
        accepted_tampered.load(Ordering::Relaxed),
        0,
        "tampered cookies accepted"
    );
    assert_eq!(server_errors.load(Ordering::Relaxed), 0, "server errors");
    assert_eq!(
        wrong_answers.load(Ordering::Relaxed),
        0,
        "valid sessions refused"
    );
    // Authenticated requests never reach the provider.
    assert_eq!(provider.hits().token, LOGINS);
    assert_eq!(provider.hits().userinfo, LOGINS);

    // Bounded memory: the whole test process (client, server, provider, 1,000 sessions) grows
    // by tens of MiB, not by a copy of every request.
    let rss_end = rss_kib();
    eprintln!("RSS KiB: before {rss_before}, after 1000 logins {rss_after_logins}, after 10000 requests {rss_end}");
    assert!(
        rss_end < rss_before + 200 * 1024,
        "RSS grew from {rss_before} to {rss_end} KiB"
    );
    assert!(
        rss_end < rss_after_logins + 64 * 1024,
        "RSS grew from {rss_after_logins} to {rss_end} KiB under load"
    );
}
