//! Shared by the integration tests: the example application wired to a test provider.
#![allow(dead_code)]

#[path = "../../examples/app.rs"]
mod example_app;
pub mod logs;
pub mod pki;
pub mod redis;
pub mod session_routes;
pub mod two_providers;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocket::figment::Figment;
use rocket::http::{Accept, Status};
use rocket::local::asynchronous::Client;
use rocket_openidconnect::testing::{LoginAttempt, TestProvider};
use serde_json::Value;

/// How long a test waits for something that happens asynchronously (a provider's log line, a
/// count at the provider, a cache entry's expiry) before it fails: generous, because a busy CI
/// machine may be slow, and a wait that succeeds ends at once anyway.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Polls `probe` every 50 ms until it returns `Some`, and returns that; panics naming `what`
/// once `deadline` has passed (the last probe runs at or after the deadline).
pub async fn eventually<T>(
    what: &str,
    deadline: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    eventually_async(what, deadline, move || std::future::ready(probe())).await
}

/// [`eventually`] with an asynchronous probe (an HTTP request, say).
pub async fn eventually_async<T, F, Fut>(what: &str, deadline: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if start.elapsed() >= deadline {
            panic!("waited {deadline:?} for {what}, in vain");
        }
        rocket::tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Unix time, in seconds (what the library's expiries are counted in).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs() as i64
}

/// Waits until the clock reads `second` (Unix time) or later: for what expires at whole
/// seconds, without touching what is being timed. Bounded: fails 2 s after `second`.
pub async fn until_unix(second: i64) {
    let left = u64::try_from(second.saturating_sub(unix_now())).unwrap_or(0);
    eventually(
        &format!("the clock to reach {second}"),
        Duration::from_secs(left + 2),
        || (unix_now() >= second).then_some(()),
    )
    .await;
}

/// With `session_inactivity_timeout = timeout` seconds (3 or more, so that a busy machine's
/// pauses between two uses stay well inside it): the session of `client`, logged in just now
/// and checked with JSON requests to `/`, lives on for more than twice the timeout while it is
/// used every 250 ms (each use rolls it), and has ended once it has been idle for longer than
/// the timeout (in whole seconds: `timeout + 1` after the last use at the latest).
pub async fn assert_inactivity_rolls_then_ends(client: &Client, timeout: i64) {
    let used_until = unix_now() + 2 * timeout + 1;
    let mut uses = 0;
    loop {
        let (status, _) = json_page(client, "/", Accept::JSON).await;
        assert_eq!(
            status,
            Status::Ok,
            "a session used every 250 ms ended after {uses} uses (timeout {timeout} s)"
        );
        uses += 1;
        if unix_now() >= used_until {
            break;
        }
        rocket::tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Its last use was recorded at `last_use` at the latest; idle for longer than the timeout
    // from `last_use + timeout + 1` on.
    let last_use = unix_now();
    until_unix(last_use + timeout + 1).await;
    let (status, _) = json_page(client, "/", Accept::JSON).await;
    assert_eq!(
        status,
        Status::Unauthorized,
        "idle for more than {timeout} s, yet the session lives"
    );
}

/// Every code and token `provider` issued, and its client secret: none of them may be in an
/// answer or a log line of the application (where the protocol does not put it).
pub fn secrets_of_provider(provider: &TestProvider) -> Vec<String> {
    let mut secrets = provider.issued_tokens();
    secrets.push(provider.client_secret().to_owned());
    secrets
}

/// Panics if `text` (a page, a header, a log line: `what`) holds a JWT or one of `secrets`.
pub fn assert_no_secret_in(what: &str, text: &str, secrets: &[String]) {
    assert!(!text.contains("eyJ"), "a JWT in {what}: {text}");
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        assert!(
            !text.contains(secret.as_str()),
            "a code, token or secret ({}...) in {what}: {text}",
            secret.chars().take(6).collect::<String>()
        );
    }
}

/// The example app, configured for `provider`, as a cookie-keeping client.
pub async fn client(provider: &TestProvider) -> Client {
    client_with(provider.app_figment()).await
}

/// The example app with `figment`, not launched.
#[allow(dead_code)]
pub fn example_app(figment: Figment) -> rocket::Rocket<rocket::Build> {
    example_app::app(figment)
}

/// The example app with a custom figment.
pub async fn client_with(figment: Figment) -> Client {
    Client::tracked(example_app::app(figment))
        .await
        .expect("the example app launches")
}

/// GETs `path` with `accept`: the status and the JSON body (`Null` if it is not JSON).
pub async fn json_page(client: &Client, path: &str, accept: Accept) -> (Status, Value) {
    let response = client.get(path.to_owned()).header(accept).dispatch().await;
    let status = response.status();
    let body = response.into_string().await.unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// `/` answers like a logged-out browser would see it: a redirect to the provider.
pub async fn assert_logged_out(client: &Client, provider: &TestProvider) {
    let response = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(response.status(), Status::SeeOther);
    let location = response.headers().get_one("Location").unwrap_or_default();
    assert!(location.starts_with(provider.issuer()), "{location}");
}

/// A login that must fail with `status`, create no session, and show no secret: neither the
/// client secret nor any code or token the provider issued (refresh tokens and opaque access
/// tokens of the token response included) is in the body or the `Location`.
pub fn assert_rejected(attempt: &LoginAttempt, status: u16, provider: &TestProvider) {
    assert_eq!(attempt.status.code, status, "body: {}", attempt.body);
    assert!(!attempt.session_created, "a session was created");
    let secrets = secrets_of_provider(provider);
    assert_no_secret_in("the page", &attempt.body, &secrets);
    let location = attempt.location.as_deref().unwrap_or_default();
    assert_no_secret_in("the Location", location, &secrets);
}

/// Serves the example app on a free loopback port (a real server, for real HTTP clients and
/// browsers) and returns the port.
pub async fn serve(figment: Figment) -> u16 {
    serve_on(figment, 0).await
}

/// A port no one listens on now (for a server that needs its own URL before it starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Serves any `rocket` on loopback `port` (0: a free one) and returns the port.
pub async fn serve_rocket(rocket: rocket::Rocket<rocket::Build>, port: u16) -> u16 {
    let (tx, rx) = rocket::tokio::sync::oneshot::channel::<u16>();
    let tx = std::sync::Mutex::new(Some(tx));
    let figment = rocket
        .figment()
        .clone()
        .merge(("address", "127.0.0.1"))
        .merge(("port", port))
        .merge(("log_level", "off"))
        .merge(("shutdown.ctrlc", false));
    let rocket = rocket
        .configure(figment)
        .attach(rocket::fairing::AdHoc::on_liftoff("port", move |rocket| {
            let port = rocket.config().port;
            if let Some(tx) = tx.lock().unwrap().take() {
                let _ = tx.send(port);
            }
            Box::pin(async {})
        }))
        .ignite()
        .await
        .expect("the app ignites");
    rocket::tokio::spawn(rocket.launch());
    rx.await.expect("the app lifts off")
}

/// [`serve`] on `port` (0: a free one).
pub async fn serve_on(figment: Figment, port: u16) -> u16 {
    serve_rocket(example_app::app(figment), port).await
}

/// A browser of its own (cookie store, no automatic redirects) logged in through `provider`
/// at the app served on `port` (see [`serve`]); returns it with the ID token's claims.
pub async fn browser_logged_in(provider: &TestProvider, port: u16) -> (reqwest::Client, Value) {
    browser_logged_in_at(provider, port, "/").await
}

/// A browser of its own (no automatic redirects) and its cookie jar, whose cookies a test can
/// read (`reqwest::cookie::CookieStore::cookies`) to send a copy elsewhere.
pub fn browser_with_jar() -> (reqwest::Client, Arc<reqwest::cookie::Jar>) {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let browser = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (browser, jar)
}

/// [`browser_logged_in`], with the browser's cookie jar (see [`browser_with_jar`]).
pub async fn browser_logged_in_with_jar(
    provider: &TestProvider,
    port: u16,
) -> (reqwest::Client, Arc<reqwest::cookie::Jar>, Value) {
    let (browser, jar) = browser_with_jar();
    let claims = log_in_browser(&browser, provider, port, "/").await;
    (browser, jar, claims)
}

/// [`browser_logged_in`] through the protected page `path` (which answers with JSON holding
/// the ID token's claims under `id_token`).
pub async fn browser_logged_in_at(
    provider: &TestProvider,
    port: u16,
    path: &str,
) -> (reqwest::Client, Value) {
    let (browser, _) = browser_with_jar();
    let claims = log_in_browser(&browser, provider, port, path).await;
    (browser, claims)
}

/// Logs `browser` (with a cookie store, no automatic redirects) in through `provider` at the
/// protected page `path` of the app served on `port`; returns the ID token's claims.
async fn log_in_browser(
    browser: &reqwest::Client,
    provider: &TestProvider,
    port: u16,
    path: &str,
) -> Value {
    let app = format!("http://127.0.0.1:{port}");
    let start = browser
        .get(format!("{app}{path}"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    let callback = provider.authorize(&authorize).await;
    let callback = url::Url::parse(&callback).unwrap();
    let done = browser
        .get(format!(
            "{app}{}?{}",
            callback.path(),
            callback.query().unwrap_or_default()
        ))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(
        done.status(),
        303,
        "{}",
        done.text().await.unwrap_or_default()
    );
    browser_page_at(browser, port, path)
        .await
        .expect("logged in")["id_token"]
        .clone()
}

/// The example app's protected page as `browser` sees it: its JSON, or `None` for a 401.
pub async fn browser_page(browser: &reqwest::Client, port: u16) -> Option<Value> {
    browser_page_at(browser, port, "/").await
}

/// The protected page `path` as `browser` sees it: its JSON, or `None` for a 401.
pub async fn browser_page_at(browser: &reqwest::Client, port: u16, path: &str) -> Option<Value> {
    let page = browser
        .get(format!("http://127.0.0.1:{port}{path}"))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    match page.status().as_u16() {
        200 => Some(serde_json::from_str(&page.text().await.unwrap()).unwrap()),
        401 => None,
        other => panic!("unexpected {other}"),
    }
}

/// A PEM file holding `pem`, in a directory of this test process (`tag` tells tests apart).
#[allow(dead_code)] // not every test binary uses every helper
pub fn key_file(tag: &str, name: &str, pem: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("roidc-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path
}

/// The key set an app with `signing_keys = keys` serves at `jwks_path` (asked of an instance
/// whose provider does not matter: nothing is discovered to answer it), to register at a
/// provider.
#[allow(dead_code)]
pub async fn served_key_set(keys: &[std::path::PathBuf]) -> Value {
    served_keys(keys, &[]).await
}

/// The key set an app with `signing_keys = keys` and `encryption_keys = encryption` serves
/// at `jwks_path`.
#[allow(dead_code)]
pub async fn served_keys(keys: &[std::path::PathBuf], encryption: &[std::path::PathBuf]) -> Value {
    let figment = Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "off"))
        .merge(("oidc.signing_keys", keys))
        .merge(("oidc.encryption_keys", encryption))
        .merge(("oidc.jwks_path", "/jwks.json"))
        .merge((
            "oidc.providers.default",
            serde_json::json!({
                "issuer": "http://127.0.0.1:9",
                "client_id": "any",
                "client_secret": "any",
            }),
        ));
    let client = client_with(figment).await;
    let response = client.get("/jwks.json").dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(
        response.headers().get_one("Content-Type"),
        Some("application/json")
    );
    serde_json::from_str(&response.into_string().await.unwrap()).unwrap()
}

/// `GET /` on `client` as JSON with `cookies` (none of its own): the status.
pub async fn page_with(client: &Client, cookies: &[rocket::http::Cookie<'static>]) -> Status {
    let mut request = client.get("/").header(Accept::JSON);
    for cookie in cookies {
        request = request.cookie(cookie.clone());
    }
    request.dispatch().await.status()
}

/// Waits (at most 5 s) until `client` refuses the session of `cookies` (401); prints how long
/// it took from `since`.
pub async fn refused_soon(
    client: &Client,
    cookies: &[rocket::http::Cookie<'static>],
    since: Instant,
) {
    eventually_async(
        "the ended session refused",
        Duration::from_secs(5),
        || async { (page_with(client, cookies).await == Status::Unauthorized).then_some(()) },
    )
    .await;
    eprintln!("refused after {:?}", since.elapsed());
}

/// The launch of the example app's Rocket with `figment` fails, and a log line holds
/// `needle` (the key and what was wrong). Needs `logs::capture()`.
#[allow(dead_code)]
pub async fn launch_fails(figment: Figment, needle: &str) {
    let rocket = rocket::custom(figment).attach(rocket_openidconnect::OpenIdConnect::fairing());
    let Err(error) = rocket.ignite().await else {
        panic!("the launch succeeded");
    };
    // (Looking at the kind marks the error handled: Rocket panics on an unhandled one.)
    assert!(
        matches!(error.kind(), rocket::error::ErrorKind::FailedFairings(_)),
        "{error:?}"
    );
    assert!(
        logs::count(needle) >= 1,
        "no log line holds {needle:?}: {:#?}",
        logs::records()
    );
}
